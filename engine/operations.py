"""Operations: the CheckoutFacade over real Temporal and NATS connections."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine.audit import check, read_state
from engine.config import CatalogueItem, Settings
from engine.errors import CheckoutError, InvalidInput, OrderEnded, OrderNotFound, Unreachable
from engine.events import read_order_events, subscribe_events
from engine.models import (
    DEFAULT_RELEASE_RATE,
    ID_PATTERN,
    MAX_PAUSE_REASON,
    MAX_RELEASE_RATE,
    NOTE_FOUND_SHIPPED,
    AuditReport,
    CancelResult,
    CaughtUp,
    FaultSettings,
    Health,
    OrderInput,
    OrderStatus,
    OrderSummary,
    Reason,
    SagaState,
    ServiceName,
    ServicesSnapshot,
    Step,
    StepEvent,
    StepPause,
    StockChange,
    order_id_from,
    parse_pausable_step,
    workflow_id_for,
)
from engine.pause_workflow import (
    PAUSE_SIGNAL,
    RESUME_SIGNAL,
    PauseControl,
    StepPauseWorkflow,
    pause_workflow_id,
)
from engine.pauses import read_pauses
from engine.services import FaultsClient, StockClient, ping_services, services_snapshot
from engine.services.store import jetstream_errors
from engine.visibility import (
    CUSTOMER_ATTRIBUTE,
    SEARCH_ATTRIBUTES,
    STATUS_ATTRIBUTE,
    missing_search_attributes,
    order_details,
    order_summary,
    start_attributes,
)
from engine.workflows import WORKFLOW_TYPE, OrderWorkflow

RPC_TIMEOUT = timedelta(seconds=5)
NATS_PROBE_SUBJECT = "checkout.health.probe"  # nothing subscribes to it
# Each part of health answers within this, so that a read once a second names a silent part within 2 s.
HEALTH_PROBE_SECONDS = 0.8
# A live nats-server answers the probe in milliseconds, also on a busy machine: a frozen one is named sooner.
NATS_PROBE_SECONDS = 0.5
PAUSE_RECORDED_SECONDS = 10.0
# How long a "the cluster lacks the search attributes" answer is believed before asking again
# (an operator may register them meanwhile); once there, they stay.
ATTRIBUTES_RECHECK_SECONDS = 60.0
# Temporal's execution statuses an order status can have (the memo tells RUNNING from COMPENSATING,
# and COMPENSATED from FAILED; the memo cannot be queried, the execution status can).
EXECUTION_STATUSES: dict[OrderStatus, tuple[str, ...]] = {
    OrderStatus.RUNNING: ("Running",),
    OrderStatus.COMPENSATING: ("Running",),
    OrderStatus.COMPLETED: ("Completed",),
    OrderStatus.COMPENSATED: ("Failed", "Canceled"),
    OrderStatus.FAILED: ("Failed", "TimedOut", "ContinuedAsNew"),
    OrderStatus.TERMINATED: ("Terminated",),
}


class Operations:
    """Submit, cancel, inspect and list orders; read and set faults; report health."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        nc: NATS,
        *,
        local_worker_running: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._nc = nc
        self._web_ui = settings.temporal.web_ui_url
        self._local_worker_running = local_worker_running
        self._faults = FaultsClient(nc, timeout=settings.nats.request_timeout_seconds)
        self._stock = StockClient(nc, timeout=settings.nats.request_timeout_seconds)
        self._attributes_missing: list[str] = []
        self._attributes_checked_at: float | None = None
        self._attributes_lock = asyncio.Lock()  # one question at a time: a bulk submit asks at once

    @property
    def catalogue(self) -> dict[str, CatalogueItem]:
        return self.settings.catalogue

    # --- orders ---------------------------------------------------------------------------

    async def submit(self, order: OrderInput) -> None:
        try:
            searchable = not await self._search_attributes_missing()
            await self._client.start_workflow(
                OrderWorkflow.run,
                order,
                id=workflow_id_for(order.order_id),
                task_queue=self.settings.temporal.task_queue,
                # An order id is also every service call's idempotency key: never reuse one.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={"customer_id": order.customer_id, "total_cents": order.total_cents, "status": "RUNNING"},
                search_attributes=start_attributes(order) if searchable else None,
                static_summary=order_summary(order),
                static_details=order_details(order),
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            raise InvalidInput(f"order {order.order_id} already exists") from None
        except RPCError as error:
            raise self._rpc_error(error, order.order_id) from None

    async def cancel(self, order_id: str) -> CancelResult:
        try:
            return await self._handle(order_id).execute_update(OrderWorkflow.cancel, rpc_timeout=RPC_TIMEOUT)
        except WorkflowUpdateFailedError as error:
            return CancelResult(accepted=False, reason=str(error.cause or error))
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise Unreachable(
                f"order {order_id}: no worker answered the cancel within {RPC_TIMEOUT.total_seconds():g} s; try again"
            ) from None
        except RPCError as error:
            if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION) and await self._exists(
                order_id
            ):
                return CancelResult(accepted=False, reason="order has already finished")
            raise self._rpc_error(error, order_id) from None

    async def terminate(self, order_id: str, reason: str) -> None:
        try:
            await self._handle(order_id).terminate(reason=reason or "terminated by operator", rpc_timeout=RPC_TIMEOUT)
        except RPCError as error:
            # Temporal answers NOT_FOUND for a closed workflow too ("already completed").
            if error.status is RPCStatusCode.NOT_FOUND:
                ended = await self._closed_status(order_id)
                if ended is not None:
                    raise OrderEnded(f"order {order_id} has already ended ({ended.value})") from None
            raise self._rpc_error(error, order_id) from None

    async def state(self, order_id: str) -> SagaState:
        handle = self._handle(order_id)
        try:
            state = await handle.query(OrderWorkflow.state, rpc_timeout=RPC_TIMEOUT)
        except WorkflowQueryFailedError as error:
            raise InvalidInput(f"order {order_id}: {error}") from None
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                raise OrderNotFound(f"no order {order_id}") from None
            # No worker answers queries (e.g. the CLI with no worker running): closed orders
            # still carry their final state in their result or failure details.
            state = await self._final_state(handle)
            if state is None:
                raise self._rpc_error(error, order_id) from None
        if state is None:
            raise InvalidInput(f"order {order_id} failed before it started: {await self._failure_message(handle)}")
        if not state.status.is_terminal:
            # A terminated workflow still answers queries (a worker replays it) with the state it had.
            state = await self._unless_terminated(handle, state)
        return state

    async def result(self, order_id: str) -> SagaState:
        """Wait for the order to end and return its final state."""
        handle = self._handle(order_id)
        try:
            return await handle.result()
        except WorkflowFailureError as failure:
            state = _state_from_failure(failure)
            if state is not None:
                return state
            return await self.state(order_id)
        except RPCError as error:
            raise self._rpc_error(error, order_id) from None

    async def list_orders(
        self,
        status: OrderStatus | None = None,
        limit: int | None = 1000,
        *,
        customer: str | None = None,
        since: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[OrderSummary]:
        """Newest first by start time, filtered before the limit.

        Visibility on SQL stores cannot sort (no ORDER BY) and lists running orders first, so
        orders are read in start-time windows, newest window first, each sorted here; each window
        is sized by counting to hold about the orders still wanted, and reading stops once `limit`
        orders match. A customer filter is applied by visibility where the cluster has the
        CheckoutCustomer attribute (orders started before it was set read too, and are filtered
        here), else here alone, which may need more windows (see `customer_filter_note`)."""
        query = f"WorkflowType = '{WORKFLOW_TYPE}'"
        if customer is not None:
            if not re.fullmatch(ID_PATTERN, customer):
                raise InvalidInput(f"--customer {customer[:40]!r}: a customer id is 1 to 64 of A-Z a-z 0-9 _ -")
            if not await self._search_attributes_missing():
                query += f" AND ({CUSTOMER_ATTRIBUTE.name} = '{customer}' OR {CUSTOMER_ATTRIBUTE.name} IS NULL)"
        if status is not None:
            query += " AND (" + " OR ".join(f"ExecutionStatus = '{s}'" for s in EXECUTION_STATUSES[status]) + ")"
        if since is not None:
            query += f" AND StartTime >= '{_rfc3339(since)}'"
        if changed_since is not None:
            query += f" AND (ExecutionStatus = 'Running' OR CloseTime >= '{_rfc3339(changed_since)}')"

        def wanted(summary: OrderSummary) -> bool:
            return (status is None or summary.status is status) and (
                customer is None or summary.customer_id == customer
            )

        if limit is None:  # every order: one pass
            try:
                return sorted([s async for s in self._summaries(query) if wanted(s)], key=_newest_first)
            except RPCError as error:
                raise self._rpc_error(error, None) from None
        found: list[OrderSummary] = []
        upper: datetime | None = None  # the first window is open-ended: clocks may differ
        try:
            while len(found) < limit:
                lower = await self._window_start(query, upper, limit - len(found), since)
                window = query
                if lower is not None:
                    window += f" AND StartTime >= '{_rfc3339(lower)}'"
                if upper is not None:
                    window += f" AND StartTime < '{_rfc3339(upper)}'"
                batch = [summary async for summary in self._summaries(window) if wanted(summary)]
                batch.sort(key=_newest_first)
                found.extend(batch)
                if lower is None or (since is not None and lower <= since):
                    break
                upper = lower
        except RPCError as error:
            raise self._rpc_error(error, None) from None
        return found[:limit]

    async def _window_start(
        self, query: str, upper: datetime | None, wanted: int, since: datetime | None
    ) -> datetime | None:
        """The start of the next window back from `upper`: late enough that it holds about `wanted`
        orders, found by counting (cheap) instead of reading (about half a millisecond an order).
        None: every order left fits, read them all."""

        async def count(lower: datetime | None) -> int:
            window = query + (f" AND StartTime < '{_rfc3339(upper)}'" if upper is not None else "")
            if lower is not None:
                window += f" AND StartTime >= '{_rfc3339(lower)}'"
            return (await self._client.count_workflows(window, rpc_timeout=RPC_TIMEOUT)).count

        if await count(since) <= wanted:
            return since

        def from_(start: datetime) -> datetime:
            return start if since is None else max(start, since)

        end = upper or datetime.now(UTC)
        too_late, span = end, timedelta(minutes=1)  # a window from `too_late` holds fewer than wanted
        while (held := await count(from_(end - span))) < wanted:  # ends: the window from `since` holds more
            too_late, span = end - span, span * 4
        enough = from_(end - span)
        # Halve the gap until the window holds at most a fifth more than wanted (the orders may sit
        # far from `end`: the newest ended hours ago, say); a few dozen counts at the most.
        for _ in range(40):
            if held <= wanted * 1.2:
                break
            middle = enough + (too_late - enough) / 2
            if (in_middle := await count(middle)) >= wanted:
                enough, held = middle, in_middle
            else:
                too_late = middle
        return enough

    async def customer_filter_note(self) -> str | None:
        missing = await self._search_attributes_missing()
        if not missing:
            return None
        return (
            f"note: Temporal lacks the search attribute {', '.join(missing)}: every order was read to filter"
            " by customer (docs/operating.md: search attributes)"
        )

    async def _search_attributes_missing(self) -> list[str]:
        """The search attributes of `engine.visibility` this cluster lacks (asked again after a while)."""
        async with self._attributes_lock:
            now = asyncio.get_running_loop().time()
            checked = self._attributes_checked_at
            if checked is None or (self._attributes_missing and now - checked > ATTRIBUTES_RECHECK_SECONDS):
                missing = await missing_search_attributes(self._client, self.settings.temporal.namespace)
                if missing is None:  # unreachable now: without them this time, ask again next time
                    return [key.name for key in SEARCH_ATTRIBUTES]
                self._attributes_missing, self._attributes_checked_at = missing, now
            return self._attributes_missing

    async def order_events(self, order_id: str) -> list[StepEvent]:
        try:
            return await read_order_events(self._nc.jetstream(), order_id)
        except Exception as error:  # NATS gone or the stream missing: the caller shows it, never a crash
            raise Unreachable(f"step events of {order_id} unreadable over NATS ({type(error).__name__})") from None

    def events(self, since_hours: float | None = None) -> AsyncIterator[StepEvent | CaughtUp]:
        return subscribe_events(self._nc, since_hours)

    # --- faults and services --------------------------------------------------------------

    async def faults(self) -> dict[ServiceName, FaultSettings]:
        return await self._faults.get()

    async def set_faults(self, service: ServiceName, settings: FaultSettings) -> None:
        await self._faults.set(service, settings)

    async def clear_faults(self) -> None:
        await self._faults.clear()

    # --- paused steps ----------------------------------------------------------------------

    async def pauses(self) -> dict[Step, StepPause]:
        return await read_pauses(self._nc.jetstream())

    async def pause_step(self, step: Step | str, reason: str = "") -> StepPause:
        step, reason = parse_pausable_step(step), _pause_reason(reason)
        await self._signal_pause_control(step, PAUSE_SIGNAL, reason)
        pause = await self._until_recorded(step, lambda pause: pause is not None and pause.reason == reason)
        assert pause is not None
        return pause

    async def resume_step(self, step: Step | str, rate: float = DEFAULT_RELEASE_RATE) -> int:
        step = parse_pausable_step(step)
        if not 0 < rate <= MAX_RELEASE_RATE:
            raise InvalidInput(f"--rate must be more than 0 and at most {MAX_RELEASE_RATE:g} orders per second")
        if step not in await self.pauses():
            raise InvalidInput(f"step {step.value} is not paused")
        waiting = await self._waiting_before(step)
        await self._signal_pause_control(step, RESUME_SIGNAL, rate)
        await self._until_recorded(step, lambda pause: pause is None)
        return waiting

    async def _waiting_before(self, step: Step) -> int:
        """How many orders wait for the step's release now (0 when its control workflow does not answer)."""
        try:
            control = await self._client.get_workflow_handle(pause_workflow_id(step)).query(
                StepPauseWorkflow.control, rpc_timeout=RPC_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError):
            return 0
        return len(control.waiting)

    async def _signal_pause_control(self, step: Step, signal: str, argument: object) -> None:
        """Signal-with-start the step's control workflow: it runs whenever its step is paused."""
        try:
            await self._client.start_workflow(
                StepPauseWorkflow.run,
                PauseControl(step=step),
                id=pause_workflow_id(step),
                task_queue=self.settings.temporal.task_queue,
                start_signal=signal,
                start_signal_args=[argument],
                rpc_timeout=RPC_TIMEOUT,
            )
        except RPCError as error:
            raise self._rpc_error(error, None) from None

    async def _until_recorded(self, step: Step, recorded: Callable[[StepPause | None], bool]) -> StepPause | None:
        """Wait until the control workflow has written the step's pause as asked, for every worker to see."""
        deadline = asyncio.get_running_loop().time() + PAUSE_RECORDED_SECONDS
        while True:
            pause = (await self.pauses()).get(step)
            if recorded(pause):
                return pause
            if asyncio.get_running_loop().time() > deadline:
                raise Unreachable(
                    f"asked, but no worker recorded it within {PAUSE_RECORDED_SECONDS:g} s: "
                    f"it takes effect once a worker polls task queue {self.settings.temporal.task_queue}"
                )
            await asyncio.sleep(0.1)

    async def services_snapshot(self) -> ServicesSnapshot:
        try:
            return await services_snapshot(self._nc, self.settings)
        except CheckoutError:
            raise
        except Exception as error:
            raise Unreachable(f"services unreachable over NATS ({type(error).__name__})") from None

    async def health(self) -> Health:
        temporal, nats, worker, services = await asyncio.gather(
            self._temporal_up(), self._nats_up(), self._worker_polling(), self._services_up()
        )
        return Health(
            temporal=temporal,
            nats=nats,
            worker=worker,
            services=services,
        )

    # --- stock and audit -------------------------------------------------------------------

    async def set_stock(self, sku: str, units: int) -> StockChange:
        return await self._stock.set(sku, units)

    async def add_stock(self, sku: str, delta: int) -> StockChange:
        return await self._stock.add(sku, delta)

    async def audit(self) -> AuditReport:
        orders = await self.list_orders(limit=None)
        try:
            with jetstream_errors():
                state = await read_state(self._nc.jetstream(), self.settings.nats.records_ttl_hours * 3600)
        except CheckoutError:
            raise
        except Exception as error:
            raise Unreachable(f"cannot read the service state over NATS ({type(error).__name__})") from None
        return check(orders, state)

    def web_ui_url(self, order_id: str | None = None) -> str | None:
        if self._web_ui is None or order_id is None:
            return self._web_ui
        namespace = quote(self.settings.temporal.namespace)
        return f"{self._web_ui}/namespaces/{namespace}/workflows/{quote(workflow_id_for(order_id))}"

    # --- helpers ----------------------------------------------------------------------------

    async def _summaries(self, query: str) -> AsyncIterator[OrderSummary]:
        async for execution in self._client.list_workflows(query, rpc_timeout=RPC_TIMEOUT):
            yield _summary_of(execution, await execution.memo())

    async def _closed_status(self, order_id: str) -> OrderStatus | None:
        """The order's status when its workflow has closed; None when it runs or does not exist."""
        try:
            description = await self._handle(order_id).describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError:
            return None
        if description.status in (None, WorkflowExecutionStatus.RUNNING):
            return None
        return _summary_of(description, await description.memo()).status

    async def _unless_terminated(self, handle: WorkflowHandle[Any, Any], state: SagaState) -> SagaState:
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError:
            return state
        if description.status is not WorkflowExecutionStatus.TERMINATED:
            return state
        return _terminated(state, description.close_time)

    async def _started_with(self, handle: WorkflowHandle[Any, Any]) -> OrderInput | None:
        """The order the workflow was started with, from the first event of its history."""
        async for event in handle.fetch_history_events(rpc_timeout=RPC_TIMEOUT):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            if not payloads:
                return None
            (value,) = await self._client.data_converter.decode(payloads[:1], [dict])
            try:
                return OrderInput.model_validate(value)
            except ValueError:
                return None
        return None

    async def _failure_message(self, handle: WorkflowHandle[Any, Any]) -> str:
        """Why the workflow failed, in its own words (e.g. which field of the input was invalid)."""
        try:
            await handle.result(rpc_timeout=RPC_TIMEOUT)
        except WorkflowFailureError as failure:
            cause = failure.cause
            return str(cause.message if isinstance(cause, ApplicationError) else cause)
        except RPCError:
            pass
        return "invalid input"

    def _handle(self, order_id: str) -> WorkflowHandle[OrderWorkflow, SagaState]:
        return self._client.get_workflow_handle_for(OrderWorkflow.run, workflow_id_for(order_id))

    async def _exists(self, order_id: str) -> bool:
        try:
            await self._handle(order_id).describe(rpc_timeout=RPC_TIMEOUT)
            return True
        except RPCError:
            return False

    async def _final_state(self, handle: WorkflowHandle[OrderWorkflow, SagaState]) -> SagaState | None:
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
            if description.status in (None, WorkflowExecutionStatus.RUNNING):
                return None
            if description.status is WorkflowExecutionStatus.TERMINATED:
                order = await self._started_with(handle)
                if order is None:
                    return None
                return _terminated(SagaState(order=order, started_at=description.start_time), description.close_time)
            return await handle.result(rpc_timeout=RPC_TIMEOUT)
        except WorkflowFailureError as failure:
            return _state_from_failure(failure)
        except RPCError:
            return None

    def _rpc_error(self, error: RPCError, order_id: str | None) -> CheckoutError:
        if error.status is RPCStatusCode.NOT_FOUND and order_id is not None:
            return OrderNotFound(f"no order {order_id}")
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return Unreachable(f"Temporal at {self.settings.temporal.host} is unreachable ({error.message[:100]})")
        return CheckoutError(f"Temporal: {error.message.splitlines()[0][:160] if error.message else error.status}")

    async def _temporal_up(self) -> bool:
        try:
            return await self._client.service_client.check_health(timeout=timedelta(seconds=HEALTH_PROBE_SECONDS))
        except Exception:
            return False

    async def _nats_up(self) -> bool:
        """Connected and answering: a frozen server keeps the connection open but answers nothing.

        A request nobody listens to comes back at once as 'no responders' from a live server.
        (Not a flush: a PONG arriving after its ping timed out breaks nats-py's read loop.)"""
        if not self._nc.is_connected:
            return False
        try:
            await self._nc.request(NATS_PROBE_SUBJECT, b"", timeout=NATS_PROBE_SECONDS)
        except NoRespondersError:
            return True
        except Exception:
            return False
        return True

    async def _worker_polling(self) -> bool:
        if self._local_worker_running is not None and self._local_worker_running():
            return True
        try:
            response = await self._client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.settings.temporal.namespace,
                    task_queue=TaskQueue(name=self.settings.temporal.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                ),
                timeout=timedelta(seconds=HEALTH_PROBE_SECONDS),
            )
        except Exception:
            return False
        return len(response.pollers) > 0

    async def _services_up(self) -> dict[str, bool]:
        try:
            return await ping_services(self._nc)
        except Exception:  # NATS down: nothing answers
            return {}


def _pause_reason(reason: str) -> str:
    reason = reason.strip()
    if "\n" in reason or len(reason) > MAX_PAUSE_REASON or not reason.isprintable():
        raise InvalidInput(f"--reason must be one printable line of at most {MAX_PAUSE_REASON} characters")
    return reason


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _newest_first(summary: OrderSummary) -> tuple[float, str]:
    started = summary.started_at.timestamp() if summary.started_at else 0.0
    return (-started, summary.order_id)


def _terminated(state: SagaState, closed_at: datetime | None) -> SagaState:
    """The state a terminated order was left in: the order TERMINATED, its running steps cut off."""
    return state.terminated(closed_at)


def _state_from_failure(failure: WorkflowFailureError) -> SagaState | None:
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.type == "OrderCompensated" and cause.details:
        return SagaState.model_validate(cause.details[0])
    return None


_STATUS_OF_EXECUTION = {
    WorkflowExecutionStatus.COMPLETED: OrderStatus.COMPLETED,
    WorkflowExecutionStatus.CANCELED: OrderStatus.COMPENSATED,
    WorkflowExecutionStatus.TERMINATED: OrderStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT: OrderStatus.FAILED,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: OrderStatus.FAILED,
}


def _summary_of(execution: WorkflowExecution, memo: Mapping[str, Any]) -> OrderSummary:
    # The search attribute, where the order has it, is as true as the memo; the memo has the reason.
    memo_status = execution.typed_search_attributes.get(STATUS_ATTRIBUTE) or memo.get("status")
    if execution.status in _STATUS_OF_EXECUTION:
        status = _STATUS_OF_EXECUTION[execution.status]
    elif memo_status in OrderStatus.__members__:
        # Running (RUNNING or COMPENSATING), or failed after compensating (COMPENSATED).
        status = OrderStatus(str(memo_status))
        if execution.status is WorkflowExecutionStatus.FAILED and not status.is_terminal:
            status = OrderStatus.FAILED
    else:
        status = OrderStatus.FAILED if execution.status is WorkflowExecutionStatus.FAILED else OrderStatus.RUNNING
    reason, note = memo.get("reason"), memo.get("note")
    if execution.status is WorkflowExecutionStatus.CANCELED:
        reason = Reason.CANCELLED.value
    if status is OrderStatus.COMPLETED and reason is not None:
        # Completed with the reason its compensation started for: orders started before the
        # true-outcome patch kept it when the compensation found them shipped.
        reason, note = None, note or NOTE_FOUND_SHIPPED
    return OrderSummary(
        order_id=order_id_from(execution.id),
        customer_id=memo.get("customer_id"),
        total_cents=memo.get("total_cents"),
        status=status,
        reason=Reason(str(reason)) if reason in Reason._value2member_map_ else None,
        started_at=execution.start_time,
        closed_at=execution.close_time,
        note=note if isinstance(note, str) else None,
    )
