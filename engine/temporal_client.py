"""The one place a Temporal Client is built (worker, CLI, dashboard, tests share it)."""

from __future__ import annotations

import logging
from functools import cache

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError

from engine.config import TemporalSettings
from engine.errors import Unreachable


@cache
def runtime() -> Runtime:
    """The SDK core's own warnings go to Python logging (`temporalio.core`), not straight to
    stderr, where they would write over the dashboard's screen."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    logs = LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding)
    return Runtime(telemetry=TelemetryConfig(logging=logs))


async def connect_temporal(settings: TemporalSettings) -> Client:
    """Connect with the pydantic data converter, or raise Unreachable with one line."""
    try:
        return await Client.connect(
            settings.host, namespace=settings.namespace, data_converter=pydantic_data_converter, runtime=runtime()
        )
    except (RuntimeError, RPCError, OSError) as error:
        why = "connection refused" if "refused" in str(error).lower() else type(error).__name__
        raise Unreachable(
            f"Temporal at {settings.host} is unreachable ({why}): start `checkout worker`, or set TEMPORAL_HOST"
        ) from None
