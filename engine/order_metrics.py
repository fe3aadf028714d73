"""`checkout_orders_total{outcome, reason}`: how each order ended, counted where the run ends.

A worker interceptor around `OrderWorkflow.run`, so the saga's code is untouched: the run's
result is a completed order, an `OrderCompensated` failure carries the saga state (its
reason), a Temporal cancellation compensated the order with reason `cancelled`. It counts
with the workflow's metric meter, which records nothing while replaying, so a history that
replays (a worker restart, a query on an evicted order) does not count an order again; the
SDK adds the `namespace`, `task_queue` and `workflow_type` labels. A workflow task that
fails after the count (a worker dying at that moment) and runs again counts the order twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from engine.models import Reason, SagaState

ORDERS = "checkout_orders"
COMPLETED, COMPENSATED, FAILED = "completed", "compensated", "failed"
NO_REASON = "none"
COMPENSATED_TYPE = "OrderCompensated"  # the ApplicationError type of a compensated order (engine.workflows)


class OrderMetricsInterceptor(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _CountOrders


class _CountOrders(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        try:
            result = await super().execute_workflow(input)
        except (FailureError, asyncio.CancelledError) as error:  # what ends a run; anything else retries its task
            _count(*outcome_of_failure(error))
            raise
        _count(COMPLETED, NO_REASON)
        return result


def outcome_of_failure(error: BaseException) -> tuple[str, str]:
    """The outcome and reason of a run that ended with `error`."""
    if is_cancelled_exception(error):
        return COMPENSATED, Reason.CANCELLED.value
    if isinstance(error, ApplicationError) and error.type == COMPENSATED_TYPE:
        state = error.details[0] if error.details else None
        if isinstance(state, SagaState) and state.reason is not None:
            return COMPENSATED, state.reason.value
        return COMPENSATED, NO_REASON
    if isinstance(error, ApplicationError) and error.type:
        return FAILED, _bounded(error.type)
    return FAILED, "error"


def _bounded(error_type: str) -> str:
    """A label from a failure type: short, and of the characters Prometheus labels read well."""
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in error_type)[:40]
    return cleaned or "error"


def _count(outcome: str, reason: str) -> None:
    workflow.metric_meter().create_counter(ORDERS, "Orders that ended, by outcome and reason").add(
        1, {"outcome": outcome, "reason": reason}
    )
