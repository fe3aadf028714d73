"""What an order records of its outcome (patch `true-outcome`): its state, its events, its memo, its
search attributes, and the listing built from them, on the time-skipping server and on a dev server."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from engine.config import Settings
from engine.errors import InvalidInput
from engine.models import (
    NOTE_FOUND_SHIPPED,
    EventKind,
    OrderInput,
    OrderStatus,
    Reason,
    SagaState,
    Step,
    StepStatus,
    workflow_id_for,
)
from engine.operations import Operations, _summary_of
from engine.visibility import CUSTOMER_ATTRIBUTE, STATUS_ATTRIBUTE
from engine.workflows import OrderWorkflow
from tests.workflow.test_order_workflow import SETTINGS, FakeServices, compensations, failed_state, start

FOUR_ATTEMPTS = SETTINGS.model_copy(update={"maximum_attempts": 4, "step_timeout_seconds": 0.5})


def an_order(customer: str = "cust-1") -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": uuid.uuid4().hex[:12],
            "customer_id": customer,
            "items": [{"sku": "golang-book", "quantity": 2, "unit_price_cents": 3999}],
        }
    )


def worker(client: Client, task_queue: str, services: FakeServices) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities(task_queue))


async def replays(handle: WorkflowHandle) -> None:
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_ship_that_timed_out_four_times_then_a_refund_that_finds_it_shipped_completes_without_a_reason(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The path an operator hit in a NATS freeze: every ship request lands but its reply comes too
    late, four times; the saga gives up (retries_exhausted) and compensates; the refund finds the
    order shipped. It completed: no failure reason anywhere, a note saying what happened."""
    services = FakeServices(FOUR_ATTEMPTS)
    services.answer_late(Step.SHIP, seconds=2)
    async with worker(time_skipping_env.client, task_queue, services):
        handle = await start(time_skipping_env, task_queue, an_order())
        state: SagaState = await handle.result()
        description = await handle.describe()
        await replays(handle)
    assert services.attempts(Step.SHIP) == 4
    assert state.step(Step.SHIP).last_error == "no answer within the step timeout (0.5s)"
    assert compensations(state) == [Step.REFUND]
    assert Step.RESTOCK not in services.calls
    assert (state.status, state.reason, state.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED)
    assert all(step.status is StepStatus.SUCCEEDED for step in state.steps)

    memo = await description.memo()
    assert (memo.get("status"), memo.get("reason"), memo.get("note")) == ("COMPLETED", None, NOTE_FOUND_SHIPPED)
    summary = _summary_of(description, memo)  # a row of the table and of `checkout orders --json`
    assert (summary.status, summary.reason, summary.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED)

    compensating, end = (e for e in services.events if e.step == "order" and e.kind is not EventKind.STARTED)
    assert (compensating.status, compensating.reason) == (OrderStatus.COMPENSATING, Reason.RETRIES_EXHAUSTED)
    assert (end.kind, end.status, end.reason, end.note) == (
        EventKind.SUCCEEDED,
        OrderStatus.COMPLETED,
        None,
        NOTE_FOUND_SHIPPED,
    )


def test_an_earlier_order_that_found_itself_shipped_lists_completed_without_a_reason() -> None:
    """Orders started before the patch kept the compensation's reason in their memo."""
    execution = SimpleNamespace(
        id="order-A1",
        status=WorkflowExecutionStatus.COMPLETED,
        typed_search_attributes=TypedSearchAttributes.empty,
        start_time=None,
        close_time=None,
    )
    memo = {"customer_id": "alice", "total_cents": 3999, "status": "COMPENSATING", "reason": "retries_exhausted"}
    summary = _summary_of(execution, memo)  # type: ignore[arg-type]
    assert (summary.status, summary.reason, summary.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED)


async def test_the_memo_tells_the_outcome_at_the_end(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    declined = FakeServices()
    declined.decline(Step.CHARGE, "card_declined")
    async with worker(time_skipping_env.client, task_queue, services):
        completed = await start(time_skipping_env, task_queue, an_order())
        await completed.result()
        memo = await (await completed.describe()).memo()
    assert memo == {"customer_id": "cust-1", "total_cents": 7998, "status": "COMPLETED"}
    async with worker(time_skipping_env.client, task_queue, declined):
        compensated = await start(time_skipping_env, task_queue, an_order())
        await failed_state(compensated)
        memo = await (await compensated.describe()).memo()
    assert memo == {"customer_id": "cust-1", "total_cents": 7998, "status": "COMPENSATED", "reason": "card_declined"}


def operations_on(client: Client, task_queue: str) -> Operations:
    """The real Operations over a dev server; NATS is not used by submit and list_orders."""
    return Operations(Settings(temporal={"task_queue": task_queue}), client, None)  # type: ignore[arg-type]


def history_kinds(events: list) -> list[str]:
    return [EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in events]


async def test_orders_carry_their_customer_and_status_as_search_attributes(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client, services = dev_env.client, FakeServices(SETTINGS.model_copy(update={"hold_seconds": 0}))
    ops = operations_on(client, task_queue)
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    orders = [an_order(alice), an_order(bob)]
    async with worker(client, task_queue, services):
        for order in orders:
            await ops.submit(order)
        completed = client.get_workflow_handle(workflow_id_for(orders[0].order_id), result_type=SagaState)
        await completed.result()
        await ops.result(orders[1].order_id)
        services.decline(Step.SHIP, "undeliverable")
        services.shipped = False  # the fake ships for every order at once
        declined = an_order(alice)
        await ops.submit(declined)
        await ops.result(declined.order_id)
        services.behaviour.clear()
        # An order started as earlier versions did (memo only): listed for its customer all the same.
        earlier = an_order(alice)
        await client.start_workflow(
            OrderWorkflow.run,
            earlier,
            id=workflow_id_for(earlier.order_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={"customer_id": earlier.customer_id, "total_cents": earlier.total_cents, "status": "RUNNING"},
        )
        await ops.result(earlier.order_id)
        await replays(completed)

    description = await completed.describe()
    attributes = description.typed_search_attributes
    assert (attributes.get(CUSTOMER_ATTRIBUTE), attributes.get(STATUS_ATTRIBUTE)) == (alice, "COMPLETED")
    assert await description.static_summary() == f"order {orders[0].order_id} · $79.98 · 2 items · customer {alice}"
    assert "- 2 × golang-book @ $39.99" in (await description.static_details() or "")
    assert (await description.memo())["status"] == "COMPLETED"
    declined_attributes = (
        await client.get_workflow_handle(workflow_id_for(declined.order_id)).describe()
    ).typed_search_attributes
    assert declined_attributes.get(STATUS_ATTRIBUTE) == "COMPENSATED"
    earlier_attributes = (
        await client.get_workflow_handle(workflow_id_for(earlier.order_id)).describe()
    ).typed_search_attributes
    assert earlier_attributes.get(STATUS_ATTRIBUTE) is None  # started without it: never upserted

    # What recording the outcome costs a happy saga: its memo and its status, one event each, at the end.
    kinds = history_kinds((await completed.fetch_history()).events)
    assert kinds[-3:] == [
        "WORKFLOW_PROPERTIES_MODIFIED",
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert kinds.count("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES") == 2  # the other: the patch's TemporalChangeVersion

    # Temporal filters by customer: the count visibility answers is alice's alone.
    assert await ops.customer_filter_note() is None
    assert (await client.count_workflows(f"{CUSTOMER_ATTRIBUTE.name} = '{alice}'")).count == 2
    listed = await ops.list_orders(customer=alice, limit=10)
    assert sorted(s.order_id for s in listed) == sorted([orders[0].order_id, declined.order_id, earlier.order_id])
    assert {s.status for s in listed} == {OrderStatus.COMPLETED, OrderStatus.COMPENSATED}
    assert [s.order_id for s in await ops.list_orders(customer=bob, limit=10)] == [orders[1].order_id]


async def test_on_a_cluster_without_the_search_attributes_orders_run_and_list_as_before(
    old_cluster_env: WorkflowEnvironment, task_queue: str
) -> None:
    client, services = old_cluster_env.client, FakeServices(SETTINGS.model_copy(update={"hold_seconds": 0}))
    ops = operations_on(client, task_queue)
    customer = f"carol-{uuid.uuid4().hex[:6]}"
    order = an_order(customer)
    async with worker(client, task_queue, services):
        await ops.submit(order)
        state = await ops.result(order.order_id)
    assert state.status is OrderStatus.COMPLETED
    description = await client.get_workflow_handle(workflow_id_for(order.order_id)).describe()
    assert description.typed_search_attributes.get(STATUS_ATTRIBUTE) is None
    assert (await description.memo())["status"] == "COMPLETED"
    assert await description.static_summary() == f"order {order.order_id} · $79.98 · 2 items · customer {customer}"
    note = await ops.customer_filter_note()
    assert note is not None and "CheckoutCustomer, CheckoutStatus" in note
    assert [s.order_id for s in await ops.list_orders(customer=customer, limit=10)] == [order.order_id]
    # A customer id is never pasted into a visibility query unchecked.
    with pytest.raises(InvalidInput, match="a customer id is 1 to 64 of"):
        await ops.list_orders(customer="x' OR 1=1")
