"""The baseline workflows. Imports pass through the sandbox, as the samples do: the sandbox
re-imports this module for every run, so it must stay light and do no I/O at import."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.bench.baselines.activities import BenchOrder, SharedConnectionActivities

STEP_TIMEOUT = timedelta(seconds=5)


@workflow.defn
class TwoStepSaga:
    """reserve, then charge; on failure the registered compensations run in reverse.

    `minimal` runs it; `naive` runs the same saga as ported (naive.py)."""

    @workflow.run
    async def run(self, order: BenchOrder) -> str:
        compensations = []
        try:
            compensations.append(SharedConnectionActivities.restock)
            await workflow.execute_activity_method(
                SharedConnectionActivities.reserve, order, start_to_close_timeout=STEP_TIMEOUT
            )
            compensations.append(SharedConnectionActivities.refund)
            await workflow.execute_activity_method(
                SharedConnectionActivities.charge, order, start_to_close_timeout=STEP_TIMEOUT
            )
        except BaseException:
            for compensation in reversed(compensations):
                await workflow.execute_activity_method(compensation, order, start_to_close_timeout=STEP_TIMEOUT)
            raise
        return "ok"


@workflow.defn
class EmptyWorkflow:
    """Returns at once: what the server and an SDK worker cost with no step at all."""

    @workflow.run
    async def run(self, order: BenchOrder) -> str:
        return "ok"
