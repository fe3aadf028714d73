"""The Temporal worker: OrderWorkflow and the activities on the order task queue.

The workflow runs outside the sandbox: the sandbox re-imports modules and wraps every
payload of every activation, which cost this worker about 40% of its CPU (see the
README's levers table). Determinism is still checked: the workflow tests run the same
workflow in the sandbox, and the replay tests replay recorded histories.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NATS
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.worker import PollerBehaviorSimpleMaximum, UnsandboxedWorkflowRunner, Worker

from engine.activities import CheckoutActivities
from engine.config import Settings
from engine.metrics import StepMetrics
from engine.order_metrics import OrderMetricsInterceptor
from engine.pause_workflow import PauseActivities, StepPauseWorkflow
from engine.pauses import PauseCache
from engine.workflows import OrderWorkflow


@dataclass(frozen=True)
class WorkerLimits:
    """How much of the task queue one worker takes on: its pollers ask the server for work, its slots
    bound what it runs at once. A worker that shares its process with something else (the dashboard's
    screen) takes less, leaving the rest to the other workers on the queue."""

    workflow_task_polls: int = 5  # the SDK's default
    workflow_tasks: int = 100  # the SDK's default
    local_activities: int = 200


def build_worker(
    client: Client,
    nc: NATS,
    settings: Settings,
    pauses: PauseCache,
    task_queue: str | None = None,
    limits: WorkerLimits | None = None,
    meter: MetricMeter | None = None,
) -> Worker:
    """`pauses`: this process's copy of the paused steps, started (its bucket is what the
    step pause workflows write). `meter`: where the steps and the orders' outcomes are counted
    (the runtime's that serves `metrics.port`); None counts nothing."""
    limits = limits or WorkerLimits()
    step_metrics = StepMetrics(meter or MetricMeter.noop)
    activities = CheckoutActivities(
        nc, settings.saga_settings(), settings.nats.request_timeout_seconds, pauses, metrics=step_metrics
    )
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=[OrderWorkflow, StepPauseWorkflow],
        activities=[*activities.all(), *PauseActivities(pauses.kv, client).all()],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=200,
        max_concurrent_local_activities=limits.local_activities,
        max_concurrent_workflow_tasks=limits.workflow_tasks,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=limits.workflow_task_polls),
        interceptors=[OrderMetricsInterceptor()] if meter is not None else [],
    )
