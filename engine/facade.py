"""The narrow interface user interfaces (the dashboard, the CLI) use to operate checkouts.

`engine.operations.Operations` is the implementation over real Temporal and NATS
connections; tests hand the dashboard one built on a real embedded stack. Every method
raises only `engine.errors.CheckoutError` subclasses, whose message is one line meant
to be shown to the user as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from engine.config import CatalogueItem, Settings
from engine.models import (
    AuditReport,
    CancelResult,
    CaughtUp,
    FaultSettings,
    Health,
    OrderInput,
    OrderStatus,
    OrderSummary,
    SagaState,
    ServiceName,
    ServicesSnapshot,
    Step,
    StepEvent,
    StepPause,
    StockChange,
)


class CheckoutFacade(Protocol):
    settings: Settings

    @property
    def catalogue(self) -> dict[str, CatalogueItem]:
        """SKUs an operator can order, with name, price and initial stock."""
        ...

    async def submit(self, order: OrderInput) -> None:
        """Start `OrderWorkflow` for `order`. Raises InvalidInput (e.g. the id is taken), Unreachable."""
        ...

    async def cancel(self, order_id: str) -> CancelResult:
        """Ask the order to cancel (the `cancel` update). Raises OrderNotFound, Unreachable."""
        ...

    async def terminate(self, order_id: str, reason: str) -> None:
        """Terminate the workflow: unsafe, no compensation runs. Raises OrderEnded, OrderNotFound, Unreachable."""
        ...

    async def state(self, order_id: str) -> SagaState:
        """The saga state (query `state`); a terminated order's status is TERMINATED, from Temporal.

        Raises OrderNotFound, InvalidInput (the order failed before it started), Unreachable."""
        ...

    async def result(self, order_id: str) -> SagaState:
        """Wait until the order ends; its final saga state. Raises OrderNotFound, Unreachable."""
        ...

    async def list_orders(
        self,
        status: OrderStatus | None = None,
        limit: int | None = 1000,
        *,
        customer: str | None = None,
        since: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[OrderSummary]:
        """Orders known to Temporal, strictly newest first by start time; filtered (status,
        customer, started at or after `since`, still running or closed at or after `changed_since`)
        before the first `limit` are taken. Raises Unreachable."""
        ...

    async def customer_filter_note(self) -> str | None:
        """None when Temporal filters `list_orders(customer=...)` itself (the cluster has the
        CheckoutCustomer search attribute); else one line saying every order is read to filter."""
        ...

    async def order_events(self, order_id: str) -> list[StepEvent]:
        """The step events of one order still kept in the event stream, oldest first. Raises Unreachable."""
        ...

    def events(self, since_hours: float | None = None) -> AsyncIterator[StepEvent | CaughtUp]:
        """Live step events of every order; with `since_hours`, replays that much history first.
        CAUGHT_UP comes once, when the history is through (at once when there is none)."""
        ...

    async def faults(self) -> dict[ServiceName, FaultSettings]:
        """Fault settings of every service endpoint. Raises Unreachable."""
        ...

    async def set_faults(self, service: ServiceName, settings: FaultSettings) -> None:
        """Replace one endpoint's fault settings; every process sees it at once. Raises Unreachable."""
        ...

    async def clear_faults(self) -> None:
        """Reset every endpoint to no faults. Raises Unreachable."""
        ...

    async def pauses(self) -> dict[Step, StepPause]:
        """The paused steps, as every worker sees them. Raises Unreachable."""
        ...

    async def pause_step(self, step: Step | str, reason: str = "") -> StepPause:
        """Pause a step (reserve, charge, ship): orders that reach it wait before it, durably, until
        `resume_step`; returns once the workers see it. Raises InvalidInput, Unreachable."""
        ...

    async def resume_step(self, step: Step | str, rate: float = 10.0) -> int:
        """Resume a paused step: its waiting orders go on at about `rate` a second, with jitter;
        returns how many waited. Raises InvalidInput (not paused, bad rate), Unreachable."""
        ...

    async def services_snapshot(self) -> ServicesSnapshot:
        """Stock per SKU, ledger totals and per-endpoint request counts. Raises Unreachable."""
        ...

    async def set_stock(self, sku: str, units: int) -> StockChange:
        """Set one SKU's stock to `units` (an audited operator change). Raises InvalidInput, Unreachable."""
        ...

    async def add_stock(self, sku: str, delta: int) -> StockChange:
        """Add `delta` units (negative removes; never below 0). Raises InvalidInput, Unreachable."""
        ...

    async def audit(self) -> AuditReport:
        """Check from Temporal and the KV state that no money or stock was lost. Raises Unreachable."""
        ...

    async def health(self) -> Health:
        """Which servers, workers and services answer right now. Never raises."""
        ...

    def web_ui_url(self, order_id: str | None = None) -> str | None:
        """The Temporal Web UI address, of one order when `order_id` is given."""
        ...
