"""Injected faults: settings in KV, a local cache kept fresh by a KV watch, the control endpoint, a client.

Control protocol on `checkout.control.faults` (request/reply, JSON):
  {"action": "get"}
  {"action": "set", "service": "<endpoint>", "settings": {"error_rate": 0.2, ...}}   (replaces them)
  {"action": "clear"}
Every answer is a ServiceReply; when ok, `data.faults` maps each endpoint to its settings.
An invalid request is answered `{"ok": false, "code": "bad_request", "message": <one line>}`.
A process with `faults.enabled` off answers every request `{"ok": false, "code":
"faults_disabled", ...}`, never reads the settings and never applies them.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue
from pydantic import ValidationError
from temporalio.common import MetricMeter

from engine.errors import AccessDenied, FaultsDisabled, InvalidInput, Unreachable, shown_key
from engine.metrics import ServiceMetrics
from engine.models import CODE_BAD_REQUEST, MAX_LATENCY_MS, FaultSettings, ServiceName, ServiceReply, parse_service
from engine.nats_client import request as nats_request

from . import replies
from .queries import collect_replies
from .store import FAULTS_BUCKET, KeyWatch, get_entry, jetstream_errors

FAULTS_SUBJECT = "checkout.control.faults"
CONTROL_SERVICE = "control"  # the micro service of the faults and stock controls
FAULTS_ENABLED_METADATA = "faults_enabled"  # of the control service in `$SRV.INFO`: "true" or "false"
NOT_ALLOWED = "this cluster does not allow fault injection"
FAULTS_DISABLED = f"{NOT_ALLOWED} (faults.enabled is off)"
_UNREACHABLE = f"no checkout service answers on {FAULTS_SUBJECT}: is a worker running?"
_FIELD_RULES = {
    "error_rate": "must be between 0 and 1",
    "decline_rate": "must be between 0 and 1",
    "latency_ms": f"must be a whole number of milliseconds between 0 and {MAX_LATENCY_MS}",
    "jitter_ms": f"must be a whole number of milliseconds between 0 and {MAX_LATENCY_MS}",
    "down": "must be true or false",
    "lost_reply_rate": "must be between 0 and 1",
}

log = logging.getLogger(__name__)


def validate_faults(service: object, raw: object, *, strict: bool = False) -> tuple[ServiceName, FaultSettings]:
    """Check one endpoint's settings; raise InvalidInput with one line naming the bad key.

    Text from a command line converts ("0.25", "false"); `strict` takes JSON types only, as the
    control endpoint does: there JSON true is not a rate of 1, nor "yes" a `down`."""
    name = parse_service(service)
    if not isinstance(raw, dict):
        raise InvalidInput(f"{name.value}: settings must be a JSON object")
    try:
        settings = FaultSettings.model_validate(raw, strict=strict)
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "settings"
        rule = _FIELD_RULES.get(key)
        if rule is None:
            rule = f"unknown setting (known: {', '.join(_FIELD_RULES)})"
            key = shown_key(key)
        raise InvalidInput(f"{name.value}.{key}: {rule}") from None
    if name.is_compensation and settings.decline_rate:
        raise InvalidInput(
            f"{name.value}.decline_rate: a compensation never declines; use error_rate, latency_ms or down"
        )
    return name, settings


async def read_faults(kv: KeyValue) -> dict[ServiceName, FaultSettings]:
    faults = {}
    for service in ServiceName:
        entry = await get_entry(kv, service.value)
        faults[service] = _decode(entry.value if entry else None)
    return faults


def _decode(value: bytes | None) -> FaultSettings:
    if not value:
        return FaultSettings()
    try:
        return FaultSettings.model_validate_json(value)
    except ValidationError:
        log.warning("ignoring invalid fault settings in KV: %r", value[:200])
        return FaultSettings()


def roll(rate: float) -> bool:
    """True with probability `rate`: whether an injected fault hits this request."""
    return rate > 0 and random.random() < rate


class FaultsCache:
    """This process's copy of the fault settings, updated by a KV watch as soon as anyone changes them.
    Disabled (`enabled=False`), it reads nothing and every endpoint has no faults."""

    def __init__(self, kv: KeyValue, *, enabled: bool = True, metrics: ServiceMetrics | None = None) -> None:
        self.enabled = enabled
        self._settings: dict[ServiceName, FaultSettings] = {}
        self._metrics = metrics or ServiceMetrics(MetricMeter.noop)
        self._watch = KeyWatch(kv, (service.value for service in ServiceName), self._apply, "faults-watch")

    def get(self, service: ServiceName) -> FaultSettings:
        return self._settings.get(service) or FaultSettings()

    async def start(self) -> None:
        self._metrics.faults_in_force(self._settings)  # every endpoint's gauges, at 0 until a fault is set
        if self.enabled:
            await self._watch.start()

    def _apply(self, key: str, value: bytes | None) -> None:
        try:
            service = ServiceName(key)
        except ValueError:
            return
        self._settings[service] = _decode(value)
        self._metrics.faults_in_force(self._settings)

    async def stop(self) -> None:
        await self._watch.stop()


class FaultsControl:
    """The handler of `checkout.control.faults`; any process serving it can answer."""

    def __init__(self, kv: KeyValue, *, enabled: bool = True) -> None:
        self._kv = kv
        self._enabled = enabled

    async def handle(self, data: bytes) -> ServiceReply:
        if not self._enabled:
            return replies.declined(replies.CODE_FAULTS_DISABLED, FAULTS_DISABLED)
        try:
            request = json.loads(data)
        except (ValueError, RecursionError):
            return replies.bad_request("request is not valid JSON")
        if not isinstance(request, dict):
            return replies.bad_request("request must be a JSON object")
        action = request.get("action")
        try:
            if action == "set":
                service, settings = validate_faults(request.get("service"), request.get("settings"), strict=True)
                await self._kv.put(service.value, settings.model_dump_json().encode())
            elif action == "clear":
                for service in ServiceName:
                    await self._kv.put(service.value, FaultSettings().model_dump_json().encode())
            elif action != "get":
                return replies.bad_request("action must be one of: get, set, clear")
        except InvalidInput as error:
            return replies.bad_request(error.message)
        return _faults_reply(await read_faults(self._kv))


def _faults_reply(faults: dict[ServiceName, FaultSettings]) -> ServiceReply:
    return replies.ok(faults={service.value: settings.model_dump() for service, settings in faults.items()})


class FaultsClient:
    """Reads and sets fault settings through `checkout.control.faults`, from any process."""

    def __init__(self, nc: Client, timeout: float = 2.0) -> None:
        self._nc = nc
        self._timeout = timeout
        self._may_ask = True  # False once NATS refused this identity the control subject

    async def get(self) -> dict[ServiceName, FaultSettings]:
        """The settings in force. Raises FaultsDisabled when a services process does not apply faults."""
        answering = await self._allowed()
        if self._may_ask:
            try:
                return await self._call({"action": "get"})
            except AccessDenied:
                self._may_ask = False
        # An identity that may only read (a viewer): the settings straight from the KV bucket.
        if not answering:
            raise Unreachable(_UNREACHABLE)
        with jetstream_errors():
            return await read_faults(await self._nc.jetstream().key_value(FAULTS_BUCKET))

    async def set(self, service: ServiceName | str, settings: FaultSettings) -> dict[ServiceName, FaultSettings]:
        name, checked = validate_faults(service, settings.model_dump())
        await self._allowed()
        return await self._call({"action": "set", "service": name.value, "settings": checked.model_dump()})

    async def clear(self) -> dict[ServiceName, FaultSettings]:
        await self._allowed()
        return await self._call({"action": "clear"})

    async def _allowed(self) -> int:
        """How many services processes answer, all allowing fault injection; raises FaultsDisabled
        when one does not (each says so in `$SRV.INFO`). A cluster allows faults only when every
        process does: one that is off would never apply them, and the control subject reaches
        just one of them. (A process of a version before faults.enabled applies them: allowed.)"""
        infos = await collect_replies(self._nc, f"$SRV.INFO.{CONTROL_SERVICE}", min(0.5, self._timeout))
        flags = [str((info.get("metadata") or {}).get(FAULTS_ENABLED_METADATA)) for info in infos]
        if off := flags.count("false"):
            on_some = f"{NOT_ALLOWED} (faults.enabled is off on {off} of {len(flags)} workers)"
            raise FaultsDisabled(FAULTS_DISABLED if off == len(flags) else on_some)
        return len(flags)

    async def _call(self, request: dict[str, Any]) -> dict[ServiceName, FaultSettings]:
        try:
            message = await nats_request(self._nc, FAULTS_SUBJECT, json.dumps(request).encode(), self._timeout)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.errors.ConnectionClosedError):
            raise Unreachable(_UNREACHABLE) from None
        try:
            reply = ServiceReply.model_validate_json(message.data)
            if not reply.ok:
                if reply.code == CODE_BAD_REQUEST:
                    raise InvalidInput(reply.message)
                if reply.code == replies.CODE_FAULTS_DISABLED:
                    raise FaultsDisabled(FAULTS_DISABLED)
                raise Unreachable(f"{FAULTS_SUBJECT}: {reply.code}: {reply.message}")
            raw = reply.data["faults"]
            return {ServiceName(name): FaultSettings.model_validate(value) for name, value in raw.items()}
        except (ValidationError, KeyError, ValueError, TypeError):
            raise Unreachable(f"{FAULTS_SUBJECT} answered with a malformed reply") from None
