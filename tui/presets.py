"""Named fault presets and how fault settings read in one line."""

from __future__ import annotations

from engine.models import FaultSettings, ServiceName

PRESETS: dict[str, dict[ServiceName, FaultSettings]] = {
    "flaky payments": {ServiceName.PAYMENT: FaultSettings(error_rate=0.3)},
    "inventory outage": {ServiceName.INVENTORY: FaultSettings(down=True)},
    "slow shipping": {ServiceName.SHIPPING: FaultSettings(latency_ms=1500, jitter_ms=500)},
}


def describe(settings: FaultSettings) -> str:
    if settings.is_clear:
        return "no faults"
    parts = []
    if settings.down:
        parts.append("down")
    if settings.error_rate:
        parts.append(f"errors {settings.error_rate:g}")
    if settings.decline_rate:
        parts.append(f"declines {settings.decline_rate:g}")
    if settings.latency_ms or settings.jitter_ms:
        parts.append(f"latency {settings.latency_ms}±{settings.jitter_ms} ms")
    if settings.lost_reply_rate:
        parts.append(f"lost replies {settings.lost_reply_rate:g}")
    return ", ".join(parts)


def describe_preset(name: str) -> str:
    return "; ".join(f"{service.value}: {describe(settings)}" for service, settings in PRESETS[name].items())
