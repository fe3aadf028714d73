"""The true outcome on the real embedded stack: the path an operator hit (ship timed out on every
attempt while the shipments landed, then the refund found the order shipped), as `checkout orders
--json`, `checkout orders --customer` and `checkout show` print it; and the search attributes an
embedded Temporal registers, also on a data directory an earlier version created."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from engine.binaries import find_binary
from engine.models import NOTE_FOUND_SHIPPED, FaultSettings, OrderInput, OrderStatus, ServiceName, Step
from engine.runtime import EmbeddedServers, free_port
from engine.stack import Stack
from engine.visibility import STATUS_ATTRIBUTE
from tests.integration.test_cli import checkout
from tests.support.stack import stack_settings

pytestmark = pytest.mark.integration


async def test_a_ship_that_timed_out_on_every_attempt_then_found_shipped_lists_completed_with_a_note(
    stack: Stack,
) -> None:
    facade, customer = stack.facade, f"frozen-{uuid.uuid4().hex[:6]}"
    order = OrderInput(
        order_id=f"frozen-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        items=[{"sku": "golang-book", "quantity": 1, "unit_price_cents": 3999}],
    )
    timeout_ms = int(stack.settings.saga.step_timeout_seconds * 1000)
    await facade.set_faults(ServiceName.SHIPPING, FaultSettings(latency_ms=timeout_ms + 500))
    try:
        await facade.submit(order)
        state = await asyncio.wait_for(facade.result(order.order_id), timeout=60)
    finally:
        await facade.clear_faults()
    assert state.step(Step.SHIP).attempts == stack.settings.retry.maximum_attempts
    assert (state.status, state.reason, state.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED)

    listed = await asyncio.to_thread(checkout, stack, "orders", "--customer", customer, "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""  # Temporal filtered by customer: no note that it could not
    (row,) = json.loads(listed.stdout)
    assert (row["order_id"], row["status"], row["reason"], row["note"]) == (
        order.order_id,
        "COMPLETED",
        None,
        NOTE_FOUND_SHIPPED,
    )
    shown = await asyncio.to_thread(checkout, stack, "show", order.order_id)
    assert shown.returncode == 0, shown.stderr
    assert f"status COMPLETED ({NOTE_FOUND_SHIPPED})" in shown.stdout
    assert "retries_exhausted" not in shown.stdout

    assert stack.client is not None
    description = await stack.client.get_workflow_handle(f"order-{order.order_id}").describe()
    assert description.typed_search_attributes.get(STATUS_ATTRIBUTE) == "COMPLETED"


async def custom_attributes(host: str) -> dict[str, int]:
    client = await Client.connect(host)
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    return dict(listed.custom_attributes)


async def test_an_embedded_temporal_on_an_earlier_data_directory_gets_the_search_attributes(tmp_path: Path) -> None:
    """`start-dev --search-attribute` registers them only when it creates its database."""
    settings = stack_settings(tmp_path)
    port = free_port()
    earlier = subprocess.Popen(
        [str(find_binary("temporal")), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        + ["--port", str(port), "--db-filename", str(tmp_path / "temporal.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                assert await custom_attributes(f"127.0.0.1:{port}") == {}  # as an earlier version left it
                break
            except RuntimeError:  # not answering yet
                await asyncio.sleep(0.2)
        else:
            pytest.fail("the earlier server never answered")
    finally:
        earlier.terminate()
        earlier.wait(timeout=30)
    async with EmbeddedServers(settings, nats=False):
        attributes = await custom_attributes(settings.temporal.host)
    assert attributes == {"CheckoutCustomer": 2, "CheckoutStatus": 2}  # INDEXED_VALUE_TYPE_KEYWORD
