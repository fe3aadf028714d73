"""Named fault presets and how fault settings read in one line.

The presets are scenario files (configs/scenarios/*.yaml with a `preset_label`): one source of
truth for the dashboard's preset buttons and the scenarios' `preset` steps.
"""

from __future__ import annotations

from engine.models import FaultSettings, ServiceName
from engine.scenarios.model import load_presets

PRESETS: dict[str, dict[ServiceName, FaultSettings]] = load_presets()


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
    return ", ".join(parts)


def describe_preset(name: str) -> str:
    return "; ".join(f"{service.value}: {describe(settings)}" for service, settings in PRESETS[name].items())
