"""Read-only views for the dashboard and the CLI: stock, ledger totals, `$SRV` discovery and stats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError

from engine.config import Settings
from engine.errors import Unreachable
from engine.models import SERVICE_ENDPOINTS, EndpointStats, LedgerTotals, ServiceName, ServicesSnapshot

from .store import LEDGER_BUCKET, STOCK_BUCKET, jetstream_errors, keys_of, read_account, read_ledger


async def collect_replies(nc: Client, subject: str, timeout: float = 0.5, quiet: float = 0.1) -> list[dict[str, Any]]:
    """Ask every instance listening on `subject`: gather replies for up to `timeout`,
    ending early once `quiet` seconds pass without a new one."""
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        try:
            await nc.publish(subject, b"", reply=inbox)
            answers: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await sub.next_msg(timeout=min(left, quiet) if answers else left)
                except nats.errors.TimeoutError:
                    break
                if not msg.data:  # a "no responders" status
                    break
                try:
                    answers.append(json.loads(msg.data))
                except ValueError:
                    continue
            return answers
        finally:
            # Closed meanwhile (the app quitting): what ends this call must not be replaced by this.
            with contextlib.suppress(nats.errors.ConnectionClosedError):
                await sub.unsubscribe()
    except nats.errors.ConnectionClosedError:
        raise Unreachable("the NATS connection is closed") from None


async def ping_services(nc: Client, timeout: float = 0.5) -> dict[str, bool]:
    """Which of inventory / payment / shipping / control answer `$SRV.PING` right now."""
    names = {answer.get("name") for answer in await collect_replies(nc, "$SRV.PING", timeout)}
    return {name: name in names for name in (*SERVICE_ENDPOINTS, "control")}


async def endpoint_stats(nc: Client, timeout: float = 0.5) -> list[EndpointStats]:
    """Requests, errors, declines and lost replies of each endpoint, summed over every instance that answers."""
    totals = {
        endpoint: EndpointStats(service=service, endpoint=endpoint.value, instances=0)
        for service, endpoints in SERVICE_ENDPOINTS.items()
        for endpoint in endpoints
    }
    answers = await asyncio.gather(*(collect_replies(nc, f"$SRV.STATS.{name}", timeout) for name in SERVICE_ENDPOINTS))
    for answer in (a for group in answers for a in group):
        for raw in answer.get("endpoints") or []:
            try:
                total = totals[ServiceName(raw.get("name"))]
            except ValueError:
                continue
            data = raw.get("data") or {}
            total.instances += 1
            total.requests += int(data.get("requests", raw.get("num_requests", 0)))
            total.errors += int(data.get("errors", raw.get("num_errors", 0)))
            total.declines += int(data.get("declines", 0))
            total.lost_replies += int(data.get("lost_replies", 0))
    return list(totals.values())


async def lost_replies_by_instance(nc: Client, timeout: float = 0.5) -> dict[str, int]:
    """Lost replies each service instance (inventory, payment, shipping of one process) has counted
    so far, by its id in `$SRV.STATS`: a count that must outlive a process sums every id ever seen."""
    answers = await asyncio.gather(*(collect_replies(nc, f"$SRV.STATS.{name}", timeout) for name in SERVICE_ENDPOINTS))
    counts: dict[str, int] = {}
    for answer in (a for group in answers for a in group):
        lost = sum(int((raw.get("data") or {}).get("lost_replies", 0)) for raw in answer.get("endpoints") or [])
        counts[str(answer.get("id"))] = lost
    return counts


async def read_stock(js: JetStreamContext) -> dict[str, int]:
    """Units in stock per SKU (empty before the services ever ran)."""
    try:
        kv = await js.key_value(STOCK_BUCKET)
    except BucketNotFoundError:
        return {}
    stock: dict[str, int] = {}
    for sku in await keys_of(js, STOCK_BUCKET):
        account = await read_account(kv, sku)
        if account is not None:
            stock[sku] = account.value("units")
    return stock


async def ledger_totals(js: JetStreamContext) -> LedgerTotals:
    try:
        return await read_ledger(await js.key_value(LEDGER_BUCKET))
    except BucketNotFoundError:
        return LedgerTotals()


async def services_snapshot(nc: Client, settings: Settings) -> ServicesSnapshot:
    """Stock per SKU, ledger totals and per-endpoint stats. Raises Unreachable."""
    js = nc.jetstream()
    with jetstream_errors():
        stock = await read_stock(js)
        ledger = await ledger_totals(js)
    window = min(0.5, settings.nats.request_timeout_seconds)
    return ServicesSnapshot(stock=stock, ledger=ledger, endpoints=await endpoint_stats(nc, window))
