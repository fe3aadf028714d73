"""Record the histories of real orders for the replay tests (run it before changing OrderWorkflow).

    .venv/bin/python -m tests.workflow.record_histories PREFIX

Starts private servers and the real stack (worker and services) on free ports in a
temporary directory, runs one order per scenario (completed, declined at each forward
step, cancelled in the hold, a transient error retried, a step timed out and retried,
paused before charge then released, cancelled while paused, a ship that timed out on every
attempt while it landed, then a refund that found the order shipped)
and writes each history to `tests/workflow/histories/<PREFIX>_<scenario>.json`, where
`test_replay.py` replays them with the current code. Orders an earlier version started
are replayed whenever a worker picks them up again: every version's histories stay.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.models import (
    NOTE_FOUND_SHIPPED,
    FaultSettings,
    OrderInput,
    OrderStatus,
    SagaState,
    ServiceName,
    Step,
    StepStatus,
    workflow_id_for,
)
from engine.stack import Stack
from tests.support.stack import stack_settings

HISTORIES = Path(__file__).parent / "histories"


def order(order_id: str) -> OrderInput:
    return OrderInput(
        order_id=order_id,
        customer_id="recorder",
        items=[{"sku": "golang-book", "quantity": 1, "unit_price_cents": 3999}],
    )


async def wait_for(stack: Stack, order_id: str, reached: Callable[[SagaState], bool], timeout: float = 20) -> None:
    """Until the order's state (its `state` query) has `reached` what a scenario waits for."""
    async with asyncio.timeout(timeout):
        while not reached(await stack.facade.state(order_id)):  # noqa: ASYNC110 (a query: nothing to wait on)
            await asyncio.sleep(0.05)


def retrying(state: SagaState) -> bool:
    return any(step.status is StepStatus.RETRYING for step in state.steps)


async def record(prefix: str) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = stack_settings(Path(data_dir), saga={"hold_seconds": 0, "step_timeout_seconds": 1})
        # As in production: four attempts (the found_shipped scenario times ship out four times).
        settings = settings.model_copy(update={"retry": settings.retry.model_copy(update={"maximum_attempts": 4})})
        held = settings.model_copy(update={"saga": settings.saga.model_copy(update={"hold_seconds": 30})})
        scenarios: dict[str, str] = {}
        async with Stack(settings) as stack:
            facade = stack.facade

            async def run(name: str, faults: dict[ServiceName, FaultSettings] | None = None) -> None:
                for service, fault in (faults or {}).items():
                    await facade.set_faults(service, fault)
                scenarios[name] = f"{prefix}-{name}"
                await facade.submit(order(scenarios[name]))
                try:
                    await facade.result(scenarios[name])
                except Exception:  # compensated: ended all the same
                    pass
                await facade.clear_faults()

            await run("completed")
            await run("declined_reserve", {ServiceName.INVENTORY: FaultSettings(decline_rate=1)})
            await run("declined_charge", {ServiceName.PAYMENT: FaultSettings(decline_rate=1)})
            await run("declined_ship", {ServiceName.SHIPPING: FaultSettings(decline_rate=1)})

            # A transient error, then success on the retry.
            await facade.set_faults(ServiceName.PAYMENT, FaultSettings(error_rate=1))
            scenarios["retried"] = f"{prefix}-retried"
            await facade.submit(order(scenarios["retried"]))
            await wait_for(stack, scenarios["retried"], retrying)
            await facade.clear_faults()
            await facade.result(scenarios["retried"])

            # A step that answers after the step timeout, then in time.
            await facade.set_faults(ServiceName.SHIPPING, FaultSettings(latency_ms=1500))
            scenarios["timed_out"] = f"{prefix}-timed_out"
            await facade.submit(order(scenarios["timed_out"]))
            await wait_for(stack, scenarios["timed_out"], retrying)
            await facade.clear_faults()
            await facade.result(scenarios["timed_out"])

            # Every ship request lands but answers after the step timeout: four timeouts, retries
            # exhausted, then the refund finds the order shipped and it completes.
            await run("found_shipped", {ServiceName.SHIPPING: FaultSettings(latency_ms=1500)})
            found = await facade.state(scenarios["found_shipped"])
            assert (found.status, found.reason, found.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED), found

            # Paused before charge: one order released by the resume, one cancelled while it waits.
            await facade.pause_step(Step.CHARGE, "recording a pause")
            for name in ("paused", "paused_cancelled"):
                scenarios[name] = f"{prefix}-{name}"
                await facade.submit(order(scenarios[name]))
                await wait_for(stack, scenarios[name], lambda state: state.paused_before is Step.CHARGE)
            assert (await facade.cancel(scenarios["paused_cancelled"])).accepted
            await facade.resume_step(Step.CHARGE, 50)
            for name in ("paused", "paused_cancelled"):
                try:
                    await facade.result(scenarios[name])
                except Exception:  # compensated: ended all the same
                    pass

        async with Stack(held) as stack:  # a hold long enough to cancel in
            scenarios["cancelled"] = f"{prefix}-cancelled"
            await stack.facade.submit(order(scenarios["cancelled"]))
            await wait_for(stack, scenarios["cancelled"], lambda state: state.current_step is Step.HOLD)
            result = await stack.facade.cancel(scenarios["cancelled"])
            assert result.accepted, result.reason
            try:
                await stack.facade.result(scenarios["cancelled"])
            except Exception:
                pass
            for name, order_id in scenarios.items():
                assert stack.client is not None
                history = await stack.client.get_workflow_handle(workflow_id_for(order_id)).fetch_history()
                path = HISTORIES / f"{prefix}_{name}.json"
                path.write_text(history.to_json())
                print(f"{path.relative_to(Path.cwd())}: {len(history.events)} events")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.workflow.record_histories PREFIX")
    asyncio.run(record(sys.argv[1]))
