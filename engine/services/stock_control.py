"""Operators' stock changes over `checkout.control.stock` (request/reply, JSON):

  {"request_id": "<id>", "sku": "<sku>", "set": 120}   or   {..., "add": -5}

A `request_id` is applied once: repeating the request returns the first answer. When ok,
`data` holds `sku`, `delta` and `units` (the level after). Invalid: `bad_request`, nothing changes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import nats.errors
from nats.aio.client import Client
from pydantic import Field, ValidationError, model_validator

from engine.errors import InvalidInput, Unreachable, first_validation_error
from engine.models import CODE_BAD_REQUEST, Identifier, ServiceReply, StockChange, StrictModel
from engine.nats_client import request as nats_request

from . import replies
from .effects import Effects
from .inventory import MAX_STOCK_CHANGE, StockAdjustments, stock_of

STOCK_SUBJECT = "checkout.control.stock"


class StockRequest(StrictModel):
    request_id: Identifier
    sku: Identifier
    set: int | None = Field(None, ge=0, le=MAX_STOCK_CHANGE, strict=True)
    add: int | None = Field(None, ge=-MAX_STOCK_CHANGE, le=MAX_STOCK_CHANGE, strict=True)

    @model_validator(mode="after")
    def _one_of(self) -> StockRequest:
        if (self.set is None) == (self.add is None):
            raise ValueError("give exactly one of set and add")
        return self


class StockControl:
    def __init__(self, effects: Effects) -> None:
        self._effects = effects
        self._adjustments = StockAdjustments(effects)

    async def handle(self, data: bytes) -> ServiceReply:
        try:
            request = StockRequest.model_validate_json(data)
        except ValidationError as error:
            return replies.bad_request(first_validation_error(error))
        answer = await self._adjustments.adjust(request.request_id, request.sku, add=request.add, set_to=request.set)
        reply = answer.reply
        if reply.ok:
            account = await self._effects.account(stock_of(request.sku))
            reply = reply.model_copy(update={"data": {**reply.data, "units": account.value("units") if account else 0}})
        return reply


class StockClient:
    def __init__(self, nc: Client, timeout: float = 2.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def set(self, sku: str, units: int) -> StockChange:
        return await self._call({"sku": sku, "set": units})

    async def add(self, sku: str, delta: int) -> StockChange:
        return await self._call({"sku": sku, "add": delta})

    async def _call(self, request: dict[str, Any]) -> StockChange:
        payload = json.dumps({"request_id": uuid.uuid4().hex, **request}).encode()
        try:
            message = await nats_request(self._nc, STOCK_SUBJECT, payload, self._timeout)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.errors.ConnectionClosedError):
            raise Unreachable(f"no checkout service answers on {STOCK_SUBJECT}: is a worker running?") from None
        try:
            reply = ServiceReply.model_validate_json(message.data)
        except ValidationError:
            raise Unreachable(f"{STOCK_SUBJECT} answered with a malformed reply") from None
        if not reply.ok:
            if reply.code == CODE_BAD_REQUEST:
                raise InvalidInput(reply.message)
            raise Unreachable(f"{STOCK_SUBJECT}: {reply.code}: {reply.message}")
        return StockChange(sku=reply.data["sku"], units=reply.data["units"], delta=reply.data["delta"])
