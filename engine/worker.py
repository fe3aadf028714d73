"""The Temporal worker: OrderWorkflow and the activities on the order task queue.

The workflow runs outside the sandbox: the sandbox re-imports modules and wraps every
payload of every activation, which cost this worker about half its CPU (see the README's
levers table). Determinism is still checked: the workflow tests run the same workflow in
the sandbox, and the replay tests replay recorded histories.
"""

from __future__ import annotations

from nats.aio.client import Client as NATS
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from engine.activities import CheckoutActivities
from engine.config import Settings
from engine.workflows import OrderWorkflow


def build_worker(client: Client, nc: NATS, settings: Settings, task_queue: str | None = None) -> Worker:
    activities = CheckoutActivities(nc, settings.saga_settings(), settings.nats.request_timeout_seconds)
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=[OrderWorkflow],
        activities=activities.all(),
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
    )
