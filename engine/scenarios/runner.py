"""Run a scenario: the load, the steps at their times, the checks every second, the drain, the audit.

    run = ScenarioRun(scenario, target, observer)
    report = await run.run()          # run.stop() from elsewhere ends it early, as Ctrl-C does

The target is what the stack offers: the operations to submit, cancel and set faults with,
and only where the run started the stack, its servers (to pause or kill) and the TCP proxy
in front of worker-0 (to partition). Steps a target cannot do are refused before anything
starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from engine.disruptions import EmbeddedServer, partition_for, pause_for
from engine.errors import CheckoutError, FaultsDisabled, InvalidInput, OrderNotFound, Unreachable
from engine.facade import CheckoutFacade
from engine.models import FaultSettings, LineItem, OrderInput, OrderStatus, Reason, ServiceName
from engine.runtime import EmbeddedServers
from engine.scenarios.figures import WINDOW_S, EndpointCounts, OrderRecord, Tally
from engine.scenarios.figures import Outcome as OrderOutcome
from engine.scenarios.model import CancelTiming, Scenario, ScenarioStep, ServerName, SkuShare, walk_steps
from engine.scenarios.plan import PlannedStep, leaf_steps, timeline
from engine.scenarios.report import (
    AuditSummary,
    CheckResult,
    Outcome,
    PlannedStepRecord,
    ScenarioInfo,
    ScenarioReport,
    StepRecord,
    StepStatus,
    Verdict,
    WindowFigures,
)
from engine.tcp_proxy import LinkMode, TcpProxy

T = TypeVar("T")
Faults = dict[ServiceName, FaultSettings]
CUSTOMER = "game-day"
LOAD_TICK_S = 0.02
SUBMIT_RETRY_S = 30.0
CANCEL_RETRY_S = 15.0
FAULT_RETRY_S = 30.0
CLEAR_RETRY_S = 120.0
AUDIT_RETRY_S = 60.0
RETRY_PAUSE_S = 0.5
COUNTERS_TIMEOUT_S = 2.0

Phase = Literal["starting", "running", "draining", "auditing", "done"]


class ScenarioObserver(Protocol):
    """What a run tells a user interface while it goes (the engine never draws)."""

    def phase(self, name: str) -> None: ...  # "starting", "running", "draining", "auditing", "done"

    def step_started(self, step: PlannedStep, at_s: float) -> None: ...

    def step_ended(self, step: PlannedStep, at_s: float, status: str) -> None: ...  # done|refused|skipped|cancelled

    def window(self, window: WindowFigures) -> None: ...  # every 10 s window as it closes, a partial one each second

    def checks(self, results: list[CheckResult]) -> None: ...  # every second while running, and at the end

    def faults(self, faults: dict[str, dict[str, object]]) -> None: ...  # the faults in force when they change


class SilentObserver:
    def phase(self, name: str) -> None:
        pass

    def step_started(self, step: PlannedStep, at_s: float) -> None:
        pass

    def step_ended(self, step: PlannedStep, at_s: float, status: str) -> None:
        pass

    def window(self, window: WindowFigures) -> None:
        pass

    def checks(self, results: list[CheckResult]) -> None:
        pass

    def faults(self, faults: dict[str, dict[str, object]]) -> None:
        pass


@dataclass
class ScenarioTarget:
    """What a run drives. `servers` and `proxy` only where this run's stack started them."""

    ops: CheckoutFacade
    kind: Literal["embedded", "attached"]
    faults_enabled: bool = True
    hold_s: float = 10.0  # the saga's hold there: when a cancel "during the hold" lands
    servers: EmbeddedServers | None = None
    proxy: TcpProxy | None = None  # its links "nats" and "temporal" carry worker-0's connections


class ScenarioRun:
    """One run of `scenario` on `target`. `presets` resolves the `preset` steps (label -> faults)."""

    def __init__(
        self,
        scenario: Scenario,
        target: ScenarioTarget,
        observer: ScenarioObserver | None = None,
        *,
        file: Path | None = None,
        presets: Mapping[str, Mapping[ServiceName, FaultSettings]] | None = None,
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.observer = observer or SilentObserver()
        self.file = file
        self.presets = dict(presets or {})
        self.plan = leaf_steps(scenario)
        self.tally = Tally(stuck_after_s=scenario.stuck_after_s)
        self.random = random.Random(scenario.seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.steps = [
            StepRecord(
                index=planned.index,
                name=planned.name,
                kind=planned.kind,
                planned_start_s=planned.start_s,
                detail=planned.detail,
            )
            for planned, _step in self.plan
        ]
        self.checks = [(check, "hypothesis") for check in scenario.hypothesis_checks()] + [
            (check, "abort_when") for check in scenario.abort_checks()
        ]
        self.first_failed: dict[int, float] = {}
        self.windows: list[WindowFigures] = []
        self.in_force: dict[ServiceName, FaultSettings] = {}
        self._fault_writes = asyncio.Lock()
        self._began = 0.0
        self._ending = asyncio.Event()
        self._stopped_at: float | None = None
        self._stopped_by_user = False
        self._aborted_by: str | None = None
        self._orders: set[asyncio.Task[None]] = set()
        self._accepting = True
        self._launched = 0  # orders the load started (submitted or being submitted)

    # --- the public face ------------------------------------------------------------------

    def refusals(self) -> list[str]:
        """Why this target cannot run this scenario (empty: it can), one line each."""
        return refusals(
            self.scenario,
            presets=self.presets,
            catalogue=self.target.ops.catalogue,
            faults_enabled=self.target.faults_enabled,
            servers=self.target.servers is not None,
            proxy=self.target.proxy is not None,
        )

    def now(self) -> float:
        """Seconds since the run began."""
        return time.monotonic() - self._began

    def stop(self) -> None:
        """End early, as Ctrl-C does: every fault cleared, no more orders started, the orders in
        flight still end; the verdict says stopped."""
        if self._stopped_at is None and self._began:
            self._stopped_by_user = True
            self._stopped_at = self.now()
        self._accepting = False
        self._ending.set()

    async def run(self) -> ScenarioReport:
        """The whole run; raises InvalidInput (nothing started) when the target cannot run it."""
        refused = self.refusals()
        if refused:
            raise InvalidInput(refused[0])
        started_at = datetime.now(UTC)
        self.observer.phase("starting")
        self._began = time.monotonic()
        baseline = await self._read_counters()
        ticker = asyncio.create_task(self._tick(baseline), name="scenario-ticker")
        steps = [asyncio.create_task(self._step(planned, step)) for planned, step in self.plan]
        load = asyncio.create_task(self._load(), name="scenario-load")
        try:
            self.observer.phase("running")
            ends = asyncio.create_task(asyncio.sleep(self.scenario.duration_s))
            stopper = asyncio.create_task(self._ending.wait())
            await asyncio.wait({ends, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (ends, stopper):
                task.cancel()
            self._accepting = False
            await _cancelled(load)
            for task in steps:
                task.cancel()
            await asyncio.gather(*steps, return_exceptions=True)
            await self._clear_all_faults()
            self.observer.phase("draining")
            await self._drain()
        finally:
            self._accepting = False
            for task in steps:
                task.cancel()
            await _cancelled(load)
            await asyncio.gather(*steps, return_exceptions=True)
            for order in list(self._orders):
                order.cancel()
            await asyncio.gather(*self._orders, return_exceptions=True)
            await _cancelled(ticker)
        self.observer.phase("auditing")
        audit = await self._audit()
        now = self.now()
        await self._sample(baseline, now)
        self._close_windows(now, final=True)
        results = self._evaluate(now, final=True)
        self.observer.checks(results)
        report = self._report(started_at, results, audit, now)
        self.observer.phase("done")
        return report

    # --- the load ------------------------------------------------------------------------

    def _level(self, moment: float) -> tuple[str, float] | None:
        """The load's mode and level at `moment`, None past its last phase."""
        begin, previous = 0.0, 0.0
        for phase in self.scenario.load.phases:
            if moment < begin + phase.for_s:
                if phase.ramp:
                    share = (moment - begin) / phase.for_s
                    return phase.mode, previous + (phase.level - previous) * share
                return phase.mode, phase.level
            begin += phase.for_s
            previous = phase.level
        return None

    async def _load(self) -> None:
        """Start orders as the phases say: at a rate (open loop) or up to a concurrency (closed loop)."""
        offered, last = 0.0, 0.0
        while self._accepting:
            moment = self.now()
            level = self._level(moment)
            if level is None:
                return
            mode, value = level
            if mode == "rate":
                offered += value * (moment - last)
                while self._accepting and self._launched < int(offered):
                    self._start_order()
            else:
                while self._accepting and self._in_flight() < int(round(value)):
                    self._start_order()
                offered = float(self._launched)
            self.tally.offered.append((moment, offered))
            last = moment
            await asyncio.sleep(LOAD_TICK_S)

    def _in_flight(self) -> int:
        return len(self._orders)

    def _start_order(self) -> None:
        number = self._launched
        self._launched += 1
        order = OrderInput(
            order_id=f"gd-{self.run_id}-{number}",
            customer_id=CUSTOMER,
            items=self._items(),
        )
        cancel_after = self._cancel_delay()
        task = asyncio.create_task(self._order(order, cancel_after))
        self._orders.add(task)
        task.add_done_callback(self._orders.discard)

    def _items(self) -> list[LineItem]:
        load, catalogue = self.scenario.load, self.target.ops.catalogue
        mix = load.mix or [SkuShare(sku=sku) for sku in catalogue]
        count = min(self.random.randint(*load.lines), len(mix))
        chosen: list[SkuShare] = []
        pool = list(mix)
        for _ in range(count):
            pick = self.random.choices(pool, weights=[share.weight for share in pool])[0]
            pool.remove(pick)
            chosen.append(pick)
        return [
            LineItem(
                sku=share.sku,
                quantity=self.random.randint(*share.quantity),
                unit_price_cents=catalogue[share.sku].price_cents,
            )
            for share in chosen
        ]

    def _cancel_delay(self) -> float | None:
        """Seconds after its start at which this order is cancelled, or None (seeded, as is the mix)."""
        plan = self.scenario.load.cancel
        if self.random.random() >= plan.share:
            return None
        at_once = plan.when is CancelTiming.AT_ONCE or (plan.when is CancelTiming.EITHER and self.random.random() < 0.5)
        if at_once:
            return self.random.uniform(0.0, 0.3)
        hold = self.target.hold_s
        return self.random.uniform(min(1.0, hold / 2), max(hold * 0.8, 0.5))

    async def _order(self, order: OrderInput, cancel_after: float | None) -> None:
        started = self.now()
        try:
            await _retry(lambda: _submit_once(self.target.ops, order), SUBMIT_RETRY_S)
        except CheckoutError:
            self.tally.submit_failures += 1
            return
        record = OrderRecord(order.order_id, started)
        self.tally.orders.append(record)
        cancel = _Cancel(self.target.ops, order.order_id, cancel_after) if cancel_after is not None else None
        try:
            state = await _retry(lambda: self.target.ops.result(order.order_id), None, give_up=(OrderNotFound,))
        except OrderNotFound:
            record.ended_s, record.outcome = self.now(), "lost"
            return
        finally:
            if cancel is not None:
                await cancel.settle()
        record.ended_s = self.now()
        record.outcome = _outcome(state.status, state.reason)

    # --- the steps -----------------------------------------------------------------------

    async def _step(self, planned: PlannedStep, step: ScenarioStep) -> None:
        record = self.steps[planned.index]
        try:
            await asyncio.sleep(max(0.0, planned.start_s - self.now()))
        except asyncio.CancelledError:
            record.status = "skipped"
            record.note = "the run ended before it"
            raise
        record.started_s = round(self.now(), 3)
        record.status = "running"
        self.observer.step_started(planned, record.started_s)
        status: StepStatus = "done"
        try:
            await self._act(step)
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except CheckoutError as error:  # FaultsDisabled and the like: the step did nothing
            status, record.note = "refused", error.message
        finally:
            record.ended_s = round(self.now(), 3)
            record.status = status
            self.observer.step_ended(planned, record.ended_s, status)

    async def _act(self, step: ScenarioStep) -> None:
        faults = step.faults
        if step.preset is not None:
            faults = dict(self.presets[step.preset])
        if faults is not None:
            await self._set_faults(dict(faults))
            if step.for_s is not None:
                try:
                    await asyncio.sleep(step.for_s)
                finally:
                    # Only what is still this step's: a later step may have set the endpoint since.
                    cleared = {service: FaultSettings() for service in faults}
                    await self._set_faults(cleared, unless_changed_from=dict(faults))
        elif step.clear_faults is not None:
            if step.clear_faults == "all":
                await self._clear_all_faults()
            else:
                await self._set_faults({service: FaultSettings() for service in step.clear_faults})
        elif step.pause is not None:
            assert self.target.servers is not None and step.for_s is not None
            await pause_for(EmbeddedServer(self.target.servers, step.pause), step.for_s)
        elif step.kill is not None:
            assert self.target.servers is not None and step.for_s is not None
            await self._kill(self.target.servers, step.kill, step.for_s)
        elif step.partition is not None:
            assert self.target.proxy is not None and step.for_s is not None
            cut = step.partition
            link = self.target.proxy.link(cut.link)
            await partition_for(link, LinkMode(cut.mode.value), step.for_s, delay_seconds=cut.delay_s)
        elif step.for_s is not None:
            await asyncio.sleep(step.for_s)

    async def _kill(self, servers: EmbeddedServers, name: ServerName, down_s: float) -> None:
        servers.kill(name)
        try:
            await asyncio.sleep(down_s)
        finally:
            # Started again also when the run ends meanwhile: shielded, so a cancel cannot leave it dead.
            await asyncio.shield(servers.restart(name))

    async def _set_faults(self, faults: Faults, *, unless_changed_from: Faults | None = None) -> None:
        """Write `faults`, one fault write at a time (so they land in the order they were decided).
        With `unless_changed_from`, only the endpoints still set as that says (a step's own, at its end)."""
        async with self._fault_writes:
            if unless_changed_from is not None:
                faults = {s: f for s, f in faults.items() if self.in_force.get(s) == unless_changed_from.get(s)}
            for service, settings in faults.items():
                set_one = functools.partial(self.target.ops.set_faults, service, settings)
                await _retry(set_one, FAULT_RETRY_S, give_up=(FaultsDisabled,))
                if settings.is_clear:
                    self.in_force.pop(service, None)
                else:
                    self.in_force[service] = settings
        self._faults_changed()

    async def _clear_all_faults(self) -> None:
        if not self.scenario.fault_steps():
            return
        async with self._fault_writes:
            with contextlib.suppress(FaultsDisabled):
                await _retry(self.target.ops.clear_faults, CLEAR_RETRY_S, give_up=(FaultsDisabled,))
            self.in_force.clear()
        self._faults_changed()

    def _faults_changed(self) -> None:
        self.observer.faults(
            {service.value: settings.model_dump(exclude_defaults=True) for service, settings in self.in_force.items()}
        )

    # --- every second: the counters, the windows, the checks ---------------------------------

    async def _tick(self, baseline: dict[str, EndpointCounts]) -> None:
        while True:
            await asyncio.sleep(1.0 - (self.now() % 1.0))
            now = self.now()
            await self._sample(baseline, now)
            self._close_windows(now, final=False)
            results = self._evaluate(now, final=False)
            self.observer.checks(results)
            fired = next(
                (r for r in results if r.kind == "abort_when" and r.passed is False and not self._ending.is_set()), None
            )
            if fired is not None and self._accepting:
                self._aborted_by = fired.expression
                self._stopped_at = now
                self._accepting = False
                self._ending.set()

    async def _read_counters(self) -> dict[str, EndpointCounts]:
        try:
            snapshot = await asyncio.wait_for(self.target.ops.services_snapshot(), COUNTERS_TIMEOUT_S)
        except (CheckoutError, TimeoutError):
            return {}
        return {
            stats.endpoint: EndpointCounts(stats.requests, stats.errors, int(getattr(stats, "lost_replies", 0)))
            for stats in snapshot.endpoints
        }

    async def _sample(self, baseline: dict[str, EndpointCounts], now: float) -> None:
        counts = await self._read_counters()
        if not counts:
            return  # NATS or the services do not answer this second: the last reading stands
        since = {
            name: EndpointCounts(
                max(0, c.requests - baseline.get(name, EndpointCounts()).requests),
                max(0, c.errors - baseline.get(name, EndpointCounts()).errors),
                max(0, c.lost_replies - baseline.get(name, EndpointCounts()).lost_replies),
            )
            for name, c in counts.items()
        }
        self.tally.counters.append((now, since))

    def _close_windows(self, now: float, *, final: bool) -> None:
        while (len(self.windows) + 1) * WINDOW_S <= now:
            start = len(self.windows) * WINDOW_S
            window = self.tally.window(start, start + WINDOW_S)
            self.windows.append(window)
            self.observer.window(window)
        start = len(self.windows) * WINDOW_S
        if now - start > 0.05:
            last = self.tally.window(start, now, partial=not final)
            if final:
                self.windows.append(last)
            self.observer.window(last)

    def _evaluate(self, now: float, *, final: bool) -> list[CheckResult]:
        results = []
        for position, (check, kind) in enumerate(self.checks):
            value = self.tally.value(check, now, final=final)
            holds = check.holds(value)
            if kind == "hypothesis":
                if holds is False and position not in self.first_failed:
                    self.first_failed[position] = round(now, 3)
                passed = holds if not final else bool(holds)
            else:  # an abort_when passes while it does not fire; it can fire only while orders start
                if holds is True and self._accepting and not final and position not in self.first_failed:
                    self.first_failed[position] = round(now, 3)
                fired = position in self.first_failed
                passed = False if fired else (None if holds is None and not final else True)
            results.append(
                CheckResult(
                    expression=check.text,
                    kind=kind,
                    passed=passed,
                    value=None if value is None else round(value, 4),
                    threshold=check.threshold,
                    first_failed_s=self.first_failed.get(position),
                )
            )
        return results

    # --- the end -------------------------------------------------------------------------

    async def _drain(self) -> None:
        deadline = time.monotonic() + self.scenario.drain_timeout_s
        while self._orders and time.monotonic() < deadline:
            await asyncio.wait(set(self._orders), timeout=min(1.0, max(0.0, deadline - time.monotonic())))
        for order in list(self._orders):
            order.cancel()
        await asyncio.gather(*self._orders, return_exceptions=True)
        for record in self.tally.orders:
            if record.ended_s is None:
                record.outcome = "lost"  # never seen to end: the figures say so, not hide it

    async def _audit(self) -> AuditSummary | None:
        try:
            audit = await _retry(self.target.ops.audit, AUDIT_RETRY_S)
        except CheckoutError as error:
            self.tally.audit_clean = False
            return AuditSummary(clean=False, problems=[f"the audit could not run: {error.message}"])
        self.tally.audit_clean = audit.clean
        return AuditSummary(
            clean=audit.clean,
            records=audit.records,
            problems=[discrepancy.message for discrepancy in audit.discrepancies],
            notes=list(audit.notes),
        )

    def _report(
        self, started_at: datetime, results: list[CheckResult], audit: AuditSummary | None, now: float
    ) -> ScenarioReport:
        failed = [r.expression for r in results if r.kind == "hypothesis" and not r.passed]
        verdict: Verdict
        if self._stopped_by_user:
            verdict = "stopped"
        elif self._aborted_by is not None:
            verdict = "aborted"
        else:
            verdict = "fail" if failed else "pass"
        planned = timeline(self.scenario)
        return ScenarioReport(
            scenario=ScenarioInfo(
                name=self.scenario.name,
                description=self.scenario.description,
                seed=self.scenario.seed,
                file=str(self.file) if self.file is not None else None,
                duration_s=self.scenario.duration_s,
            ),
            started_at=_iso(started_at),
            ended_at=_iso(datetime.now(UTC)),
            target=self.target.kind,
            plan=[PlannedStepRecord(**dataclasses.asdict(step)) for step in planned],
            steps=self.steps,
            windows=self.windows,
            checks=results,
            outcome=Outcome(
                verdict=verdict,
                aborted_by=self._aborted_by,
                stopped_at_s=None if self._stopped_at is None else round(self._stopped_at, 3),
                failed_checks=failed,
            ),
            totals=self.tally.totals(now),
            audit=audit,
        )


def refusals(
    scenario: Scenario,
    *,
    presets: Mapping[str, object],
    catalogue: Mapping[str, object],
    faults_enabled: bool,
    servers: bool,
    proxy: bool,
) -> list[str]:
    """Why a target cannot run `scenario` (empty: it can), one line each: known before anything
    starts. `servers`/`proxy`: whether the run started the servers / proxies worker-0's links."""
    lines = []
    if scenario.catalogue is not None and not servers:
        lines.append("catalogue: a scenario's own SKUs and stock need a stack the run starts (not attached)")
    if scenario.fault_steps() and not faults_enabled:
        lines.append("faults.enabled is off: this scenario sets faults, and fault injection is refused here")
    for step in scenario.server_steps():
        if step.kind in ("pause", "kill") and not servers:
            lines.append(
                f"a {step.kind} of {step.pause or step.kill} is refused: this run did not start that server"
                " (attached to a cluster: faults and load only)"
            )
            break
        if step.kind == "partition" and not proxy:
            lines.append("a partition is refused: no worker of this stack reaches the servers through a proxy")
            break
    for step in walk_steps(scenario.steps):
        if step.preset is not None and step.preset not in presets:
            lines.append(f"preset {step.preset!r} is unknown (known: {', '.join(sorted(presets)) or 'none'})")
    for share in scenario.load.mix:
        if share.sku not in catalogue:
            lines.append(f"load.mix: SKU {share.sku!r} is not in the catalogue ({', '.join(sorted(catalogue))})")
    if not scenario.load.mix and not catalogue:
        lines.append("the catalogue is empty: no SKU to order")
    return lines


class _Cancel:
    """An order's cancel, `after` seconds from now. Once its request is out it is waited for, never
    cancelled: a cancelled update call would be retried by the SDK's core after the run ended."""

    def __init__(self, ops: CheckoutFacade, order_id: str, after: float) -> None:
        self.ops, self.order_id = ops, order_id
        self.sent = False
        self.task = asyncio.create_task(self._send(after))

    async def _send(self, after: float) -> None:
        await asyncio.sleep(after)
        self.sent = True
        with contextlib.suppress(CheckoutError):
            await _retry(lambda: self.ops.cancel(self.order_id), CANCEL_RETRY_S)

    async def settle(self) -> None:
        if not self.sent:
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def _outcome(status: OrderStatus, reason: Reason | None) -> OrderOutcome:
    if status is OrderStatus.COMPLETED:
        return "completed"
    if status is OrderStatus.COMPENSATED:
        return "cancelled" if reason is Reason.CANCELLED else "compensated"
    return "failed"


async def _submit_once(ops: CheckoutFacade, order: OrderInput) -> None:
    try:
        await ops.submit(order)
    except InvalidInput as error:  # started by an earlier attempt whose answer was lost
        if "already exists" not in error.message:
            raise


async def _retry(
    call: Callable[[], Awaitable[T]], seconds: float | None, give_up: tuple[type[CheckoutError], ...] = ()
) -> T:
    """Servers pause and restart during a run: a call is retried until they are back (`seconds`,
    None: for ever), except for the errors in `give_up` and bad input."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        try:
            return await call()
        except CheckoutError as error:
            if isinstance(error, give_up) or (isinstance(error, InvalidInput) and not isinstance(error, Unreachable)):
                raise
            if deadline is not None and time.monotonic() > deadline:
                raise
            await asyncio.sleep(RETRY_PAUSE_S)


async def _cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
