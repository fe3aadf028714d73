"""Run a scenario: the load, the steps at their times, the checks every second, the drain, the audit.

    run = ScenarioRun(scenario, target, observer)
    report = await run.run()          # run.stop() from elsewhere ends it early, as Ctrl-C does

The target is what the stack offers: the operations to submit, cancel and set faults with,
and only where the run started the stack, its servers (to pause or kill) and the TCP proxy
in front of worker-0 (to partition). Steps a target cannot do are refused before anything
starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from engine.facade import CheckoutFacade
from engine.runtime import EmbeddedServers
from engine.scenarios.model import Scenario
from engine.scenarios.plan import PlannedStep
from engine.scenarios.report import CheckResult, ScenarioReport, WindowFigures
from engine.tcp_proxy import TcpProxy

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
    def __init__(
        self,
        scenario: Scenario,
        target: ScenarioTarget,
        observer: ScenarioObserver | None = None,
        *,
        file: Path | None = None,
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.observer = observer or SilentObserver()
        self.file = file

    async def run(self) -> ScenarioReport:
        raise NotImplementedError("the run lands in the next commit")

    def stop(self) -> None:
        """End early, as Ctrl-C does: every fault cleared, no more orders started, the orders in
        flight still end; the verdict says stopped."""
        raise NotImplementedError("the run lands in the next commit")
