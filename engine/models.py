"""The data every part of checkout-ops exchanges: orders, saga state, service calls, faults, events.

Money is integer cents everywhere. Order ids are restricted to characters that are
safe in a Temporal workflow id, a NATS subject token and a JetStream KV key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from engine.errors import InvalidInput

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
MAX_LINE_ITEMS = 50
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE_CENTS = 100_000_000  # one million in major units


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the order (workflow input) ------------------------------------------------------


class LineItem(StrictModel):
    sku: Identifier
    quantity: int = Field(gt=0, le=MAX_QUANTITY, strict=True)
    unit_price_cents: int = Field(ge=0, le=MAX_UNIT_PRICE_CENTS, strict=True)

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class OrderInput(StrictModel):
    """The one JSON object `OrderWorkflow` takes (see README: contracts)."""

    order_id: Identifier
    customer_id: Identifier
    items: list[LineItem] = Field(min_length=1, max_length=MAX_LINE_ITEMS)

    @property
    def total_cents(self) -> int:
        return sum(item.total_cents for item in self.items)


def workflow_id_for(order_id: str) -> str:
    return f"order-{order_id}"


def order_id_from(workflow_id: str) -> str:
    return workflow_id.removeprefix("order-")


# --- saga state (query `state`) --------------------------------------------------------


class Step(StrEnum):
    RESERVE = "reserve"
    CHARGE = "charge"
    HOLD = "hold"
    SHIP = "ship"
    REFUND = "refund"
    RESTOCK = "restock"


FORWARD_STEPS = (Step.RESERVE, Step.CHARGE, Step.HOLD, Step.SHIP)


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    CUT_OFF = "CUT_OFF"  # was running when the order was terminated: it never finished
    PAUSED = "PAUSED"  # waits before its request goes out: the step is paused (`checkout pause`)


class OrderStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"  # ended without compensating: invalid input (before any service call), or timed out
    TERMINATED = "TERMINATED"  # stopped by Temporal terminate: compensation skipped

    @property
    def is_terminal(self) -> bool:
        return self not in (OrderStatus.RUNNING, OrderStatus.COMPENSATING)


class Reason(StrEnum):
    CANCELLED = "cancelled"
    OUT_OF_STOCK = "out_of_stock"
    CARD_DECLINED = "card_declined"
    UNDELIVERABLE = "undeliverable"
    RETRIES_EXHAUSTED = "retries_exhausted"


class StepState(BaseModel):
    name: Step
    compensation: bool = False
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_error: str | None = None


class SagaState(BaseModel):
    order: OrderInput
    status: OrderStatus = OrderStatus.RUNNING
    reason: Reason | None = None
    current_step: Step | None = None
    steps: list[StepState] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    hold_until: datetime | None = None
    cancel_requested: bool = False
    paused_before: Step | None = None  # the paused step this order waits before, until it is released
    note: str | None = None  # what happened that the status alone does not say (NOTE_FOUND_SHIPPED)

    @property
    def shown_status(self) -> str:
        """The status as operators read it: `PAUSED before charge` while the order waits."""
        if self.paused_before is not None and self.status is OrderStatus.RUNNING:
            return f"PAUSED before {self.paused_before.value}"
        return self.status.value

    def step(self, name: Step) -> StepState | None:
        return next((s for s in self.steps if s.name == name), None)

    def terminated(self, closed_at: datetime | None) -> SagaState:
        """The state a terminate left: the order TERMINATED, the steps that were running cut off then
        (the workflow's own state still says they run: a terminate stops it without a word)."""
        steps = [
            step.model_copy(update={"status": StepStatus.CUT_OFF, "finished_at": closed_at})
            if step.status in (StepStatus.RUNNING, StepStatus.RETRYING)
            else step
            for step in self.steps
        ]
        update = {"status": OrderStatus.TERMINATED, "current_step": None, "finished_at": closed_at, "steps": steps}
        return self.model_copy(update=update)


class CancelResult(BaseModel):
    """Answer of the `cancel` update."""

    accepted: bool
    reason: str


class SagaSettings(BaseModel):
    """The worker's saga settings, read once per workflow through a local activity."""

    hold_seconds: float = 10.0
    step_timeout_seconds: float = 5.0
    initial_interval_seconds: float = 0.5
    backoff_coefficient: float = 2.0
    maximum_interval_seconds: float = 5.0
    maximum_attempts: int = 4
    compensation_maximum_interval_seconds: float = 10.0


# --- service calls over NATS -------------------------------------------------------------


class ServiceName(StrEnum):
    """The five endpoints; each name is also the last token of its subject."""

    INVENTORY = "inventory"
    RESTOCK = "restock"
    PAYMENT = "payment"
    REFUND = "refund"
    SHIPPING = "shipping"

    @property
    def subject(self) -> str:
        return f"service.{self.value}"

    @property
    def endpoint(self) -> EndpointSpec:
        return ENDPOINT_NAMED[self]

    @property
    def is_compensation(self) -> bool:
        return self.endpoint.compensates is not None


@dataclass(frozen=True)
class EndpointSpec:
    """One row of the endpoint table: everything the workflow, the services, the CLI,
    the dashboard and the tests' fake know about an endpoint comes from here."""

    name: ServiceName
    step: Step  # the saga step that calls it
    service: str  # the nats.micro service that serves it
    compensates: Step | None  # the forward step it undoes (compensations only)
    decline: Reason | None  # its business decline: final, never retried (forward steps only)

    @property
    def subject(self) -> str:
        return self.name.subject


ENDPOINTS: tuple[EndpointSpec, ...] = (
    EndpointSpec(ServiceName.INVENTORY, Step.RESERVE, "inventory", None, Reason.OUT_OF_STOCK),
    EndpointSpec(ServiceName.RESTOCK, Step.RESTOCK, "inventory", Step.RESERVE, None),
    EndpointSpec(ServiceName.PAYMENT, Step.CHARGE, "payment", None, Reason.CARD_DECLINED),
    EndpointSpec(ServiceName.REFUND, Step.REFUND, "payment", Step.CHARGE, None),
    EndpointSpec(ServiceName.SHIPPING, Step.SHIP, "shipping", None, Reason.UNDELIVERABLE),
)
ENDPOINT_NAMED: dict[ServiceName, EndpointSpec] = {endpoint.name: endpoint for endpoint in ENDPOINTS}
ENDPOINT_OF_STEP: dict[Step, EndpointSpec] = {endpoint.step: endpoint for endpoint in ENDPOINTS}
COMPENSATION_OF: dict[Step, Step] = {
    endpoint.compensates: endpoint.step for endpoint in ENDPOINTS if endpoint.compensates is not None
}
# micro service name -> its endpoints, in table order (the order the dashboard shows them in)
SERVICE_ENDPOINTS: dict[str, tuple[ServiceName, ...]] = {
    service: tuple(endpoint.name for endpoint in ENDPOINTS if endpoint.service == service)
    for service in dict.fromkeys(endpoint.service for endpoint in ENDPOINTS)
}
# Reply codes that are business declines: final, so the workflow compensates instead of retrying.
DECLINE_CODES: frozenset[str] = frozenset(endpoint.decline.value for endpoint in ENDPOINTS if endpoint.decline)


def parse_service(name: object) -> ServiceName:
    """An endpoint by name, or InvalidInput with one line listing the known ones."""
    try:
        return ServiceName(str(name))
    except ValueError:
        known = ", ".join(service.value for service in ServiceName)
        raise InvalidInput(f"unknown service {str(name)[:40]!r} (known: {known})") from None


class ServiceRequest(StrictModel):
    """What every service call carries. `idempotency_key` is `<order_id>:<step>`."""

    idempotency_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}:[a-z]{1,16}$")]
    order_id: Identifier
    customer_id: Identifier
    items: list[LineItem] = Field(min_length=1, max_length=MAX_LINE_ITEMS)
    amount_cents: int = Field(ge=0, strict=True)
    """Always the items' total: a payment charges exactly what the order costs, never an amount given apart."""

    @field_validator("amount_cents")
    @classmethod
    def _is_the_items_total(cls, amount: int, info: ValidationInfo) -> int:
        items = info.data.get("items")
        if items is not None and amount != (total := sum(item.total_cents for item in items)):
            raise PydanticCustomError("amount_mismatch", "must be the items' total, {total} cents", {"total": total})
        return amount


class ServiceReply(BaseModel):
    """Every service answers `{"ok": bool, "code": str, "message": str, ...}`."""

    ok: bool
    code: str
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


# Reply codes. Business declines (DECLINE_CODES) are final; everything else not ok is transient.
CODE_OK = "ok"
CODE_TRANSIENT = "transient_error"
CODE_BAD_REQUEST = "bad_request"
CODE_SHIPPED = "shipped"  # ok, from a compensation: the order had shipped, so nothing is undone
CODE_PAUSED = "paused"  # from a step, not a service: the step is paused, its request never went out
# An order's note when a compensation found it shipped: it completed, and nothing was undone.
NOTE_FOUND_SHIPPED = "compensation found it shipped"


def idempotency_key(order_id: str, step: Step) -> str:
    return f"{order_id}:{step.value}"


# --- faults ------------------------------------------------------------------------------

MAX_LATENCY_MS = 60_000


class FaultSettings(StrictModel):
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    decline_rate: float = Field(0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(0, ge=0, le=MAX_LATENCY_MS)
    jitter_ms: int = Field(0, ge=0, le=MAX_LATENCY_MS)
    down: bool = False
    lost_reply_rate: float = Field(0.0, ge=0.0, le=1.0)  # the effect is applied and stored, the reply never sent

    @property
    def is_clear(self) -> bool:
        return self == FaultSettings()


# --- paused steps (`checkout pause`) -------------------------------------------------------

PAUSABLE_STEPS = (Step.RESERVE, Step.CHARGE, Step.SHIP)  # the forward steps that call a service
MAX_RELEASE_RATE = 1000.0  # orders per second
DEFAULT_RELEASE_RATE = 10.0
MAX_PAUSE_REASON = 200


class StepPause(BaseModel):
    """One paused step as every worker sees it (KV `checkout_pauses`, key = the step)."""

    step: Step
    reason: str = ""
    since: datetime


def parse_pausable_step(name: object) -> Step:
    """A pausable step by name, or InvalidInput with one line listing them."""
    known = ", ".join(step.value for step in PAUSABLE_STEPS)
    try:
        step = Step(str(name))
    except ValueError:
        raise InvalidInput(f"unknown step {str(name)[:40]!r} (pausable: {known})") from None
    if step not in PAUSABLE_STEPS:
        raise InvalidInput(f"step {step.value} cannot be paused (pausable: {known})")
    return step


# --- step events (JetStream `checkout.events.<order_id>`) ----------------------------------


class EventKind(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    PAUSED = "paused"  # the order waits before this step (its error: the pause's reason)
    RELEASED = "released"  # the pause let the order go on: the step starts next


ORDER_STEP = "order"  # the step name of events about the whole order


class StepEvent(BaseModel):
    order_id: str
    step: str  # a Step value, or ORDER_STEP
    kind: EventKind
    attempt: int = 0
    time: datetime
    error: str | None = None
    status: OrderStatus  # the order's status once this event happened
    reason: Reason | None = None
    customer_id: str | None = None
    total_cents: int | None = None
    note: str | None = None  # the order's note (SagaState.note), once it has one


class CaughtUp:
    """In a stream of step events: every event before it was replayed history, every one after is live."""

    def __repr__(self) -> str:
        return "CAUGHT_UP"


CAUGHT_UP = CaughtUp()


# --- listings ------------------------------------------------------------------------------


class OrderSummary(BaseModel):
    """One row of `checkout orders`, from Temporal visibility and the workflow memo."""

    order_id: str
    customer_id: str | None = None
    total_cents: int | None = None
    status: OrderStatus
    reason: Reason | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    note: str | None = None  # e.g. NOTE_FOUND_SHIPPED on a completed order


# --- what the services panel and the CLI show ---------------------------------------


class LedgerTotals(BaseModel):
    charged_cents: int = 0
    refunded_cents: int = 0

    @property
    def net_cents(self) -> int:
        return self.charged_cents - self.refunded_cents


class EndpointStats(BaseModel):
    service: str  # the micro service name (inventory, payment, shipping)
    endpoint: str  # a ServiceName value
    requests: int = 0
    errors: int = 0  # error replies, injected faults included
    declines: int = 0
    lost_replies: int = 0  # answers decided and stored, then never sent (an injected lost reply)
    instances: int = 1  # how many processes serve it


class ServicesSnapshot(BaseModel):
    stock: dict[str, int] = Field(default_factory=dict)
    ledger: LedgerTotals = Field(default_factory=LedgerTotals)
    endpoints: list[EndpointStats] = Field(default_factory=list)


class Health(BaseModel):
    temporal: bool = False
    nats: bool = False
    worker: bool = False  # a worker polls the task queue (this process or another)
    services: dict[str, bool] = Field(default_factory=dict)  # micro service name -> answers $SRV.PING

    def down(self, task_queue: str | None = None) -> dict[str, str]:
        """What does not answer, part -> the line an operator reads, the cause first. With NATS
        silent nothing is known of the services behind it; with Temporal silent, of the worker."""
        parts: dict[str, str] = {}
        if not self.nats:
            parts["nats"] = "NATS not answering"
        if not self.temporal:
            parts["temporal"] = "Temporal not answering"
        elif not self.worker:
            parts["worker"] = f"no worker polling task queue {task_queue}" if task_queue else "no worker polling"
        if self.nats:
            for name in sorted(name for name, up in self.services.items() if not up):
                parts[name] = f"{name} service not answering"
        return parts

    def knows(self, part: str) -> bool:
        """Whether this reading says anything of `part` (a part of `down()`)."""
        if part == "worker":
            return self.temporal
        return part in ("nats", "temporal") or self.nats


# --- `checkout audit` and stock administration ----------------------------------------------


class Discrepancy(BaseModel):
    """One thing the audit found wrong; `message` is one line naming the order and the amounts."""

    kind: str  # money, stock, effects, unsettled, terminated, records
    order_id: str | None = None
    message: str


class AuditReport(BaseModel):
    """What `checkout audit` checked, and every discrepancy it found (none when clean)."""

    at: datetime
    orders: int = 0  # orders Temporal knows
    ended: int = 0
    in_flight: int = 0  # running or compensating: checked once they end
    records: int = 0  # idempotent-request records read from KV
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # what could not be checked, and why

    @property
    def clean(self) -> bool:
        return not self.discrepancies


class StockChange(BaseModel):
    """An operator's change to one SKU's stock, applied once per `request_id`."""

    sku: Identifier
    units: int  # the level afterwards
    delta: int  # what the change added (negative: removed)
