"""The one place a Temporal Client is built (worker, CLI, dashboard, tests share it)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from engine.config import TemporalSettings
from engine.errors import Unreachable


async def connect_temporal(settings: TemporalSettings) -> Client:
    """Connect with the pydantic data converter, or raise Unreachable with one line."""
    try:
        return await Client.connect(
            settings.host, namespace=settings.namespace, data_converter=pydantic_data_converter
        )
    except (RuntimeError, RPCError, OSError) as error:
        why = "connection refused" if "refused" in str(error).lower() else type(error).__name__
        raise Unreachable(
            f"Temporal at {settings.host} is unreachable ({why}): start `checkout worker`, or set TEMPORAL_HOST"
        ) from None
