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
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise Unreachable(f"Temporal at {settings.host} is unreachable ({detail[:120]})") from None
