"""The Temporal worker: OrderWorkflow and the activities on the order task queue."""

from __future__ import annotations

from nats.aio.client import Client as NATS
from temporalio.client import Client
from temporalio.worker import Worker

from engine.activities import CheckoutActivities
from engine.config import Settings
from engine.workflows import OrderWorkflow


def build_worker(client: Client, nc: NATS, settings: Settings, task_queue: str | None = None) -> Worker:
    activities = CheckoutActivities(nc, settings.saga_settings(), settings.nats.request_timeout_seconds)
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=[OrderWorkflow],
        activities=[
            activities.reserve_inventory,
            activities.charge_payment,
            activities.ship_order,
            activities.restock_inventory,
            activities.refund_payment,
            activities.saga_settings,
            activities.publish_event,
            activities.publish_events,
        ],
        max_concurrent_activities=200,
    )
