"""A scenario's steps as a timeline: when each starts and ends, its lane, and one line saying what it does.

    for step in timeline(scenario):
        print(f"{step.start_s:6.1f}s  lane {step.lane}  {step.name}: {step.detail}")

A parallel group's members appear in its place; the group itself is no step. Steps that
overlap in time get distinct lanes (the first free one, in order of start).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.models import FaultSettings, ServiceName
from engine.scenarios.model import Scenario, ScenarioStep

SERVER_LABEL = {"nats": "nats-server", "temporal": "temporal server"}
LINK_LABEL = {"nats": "NATS", "temporal": "Temporal"}
LINK_HOW = {
    "blackhole": "blackholed (open, nothing forwarded)",
    "drop": "dropped (connections reset, new ones refused)",
    "cut_replies": "cut one way (requests arrive, replies never come back)",
    "cut_requests": "cut one way (requests held)",
    "delay": "delayed",
}


@dataclass(frozen=True)
class PlannedStep:
    index: int
    name: str
    kind: str
    start_s: float
    end_s: float | None  # None: an instant, or faults left in force until cleared (or the run ends)
    lane: int
    detail: str


def timeline(scenario: Scenario) -> list[PlannedStep]:
    """Every step of the plan, in file order, with its planned times."""
    placed: list[tuple[ScenarioStep, float, float | None]] = []
    _place(scenario.steps, 0.0, placed)
    lanes = _lanes([(start, end) for _step, start, end in placed])
    return [
        PlannedStep(index, step.name or _default_name(step), step.kind, start, end, lane, describe_step(step))
        for index, ((step, start, end), lane) in enumerate(zip(placed, lanes, strict=True))
    ]


def leaf_steps(scenario: Scenario) -> list[tuple[PlannedStep, ScenarioStep]]:
    """The timeline beside the steps it was made from (the runner needs both)."""
    placed: list[tuple[ScenarioStep, float, float | None]] = []
    _place(scenario.steps, 0.0, placed)
    return list(zip(timeline(scenario), (step for step, _start, _end in placed), strict=True))


def _place(steps: list[ScenarioStep], base: float, placed: list[tuple[ScenarioStep, float, float | None]]) -> float:
    """Place `steps` (a sequence starting at `base`) and return when the last of them ends."""
    cursor = base
    ends: dict[str, float] = {}
    last = base
    for step in steps:
        if step.at_s is not None:
            start = base + step.at_s
        elif step.after is not None:
            start = ends[step.after]
        else:
            start = cursor
        if step.parallel is not None:
            end: float | None = max(_place([member], start, placed) for member in step.parallel)
        else:
            end = start + step.for_s if step.for_s is not None else None
            placed.append((step, start, end))
        cursor = end if end is not None else start
        if step.name is not None:
            ends[step.name] = cursor
        last = max(last, cursor)
    return last


def _lanes(spans: list[tuple[float, float | None]]) -> list[int]:
    """The first lane free at each span's start (spans in start order take lanes first)."""
    lane_free_at: list[float] = []
    lanes = [0] * len(spans)
    for position in sorted(range(len(spans)), key=lambda i: (spans[i][0], i)):
        start, end = spans[position]
        finish = end if end is not None else start + 1e-9
        lane = next((n for n, free in enumerate(lane_free_at) if free <= start), len(lane_free_at))
        if lane == len(lane_free_at):
            lane_free_at.append(finish)
        else:
            lane_free_at[lane] = finish
        lanes[position] = lane
    return lanes


def _default_name(step: ScenarioStep) -> str:
    if step.faults is not None:
        return "faults on " + ", ".join(service.value for service in step.faults)
    if step.clear_faults is not None:
        return "clear faults"
    if step.preset is not None:
        return f"preset {step.preset}"
    if step.pause is not None:
        return f"pause {step.pause}"
    if step.kill is not None:
        return f"kill {step.kill}"
    if step.partition is not None:
        return f"partition {step.partition.link}"
    return "wait"


def describe_step(step: ScenarioStep) -> str:
    """One human line: `payment: latency 2500±500 ms`, `nats-server SIGSTOPped for 4 s, then SIGCONT`."""
    seconds = f"{step.for_s:g} s" if step.for_s is not None else ""
    if step.faults is not None:
        until = f" for {seconds}" if seconds else " until cleared"
        return describe_faults(step.faults) + until
    if step.clear_faults is not None:
        if step.clear_faults == "all":
            return "every endpoint's faults cleared"
        return "faults cleared on " + ", ".join(service.value for service in step.clear_faults)
    if step.preset is not None:
        return f"preset {step.preset!r}" + (f" for {seconds}" if seconds else " until cleared")
    if step.pause is not None:
        return f"{SERVER_LABEL[step.pause]} SIGSTOPped for {seconds}, then SIGCONT"
    if step.kill is not None:
        return f"{SERVER_LABEL[step.kill]} SIGKILLed, started again {seconds} later"
    if step.partition is not None:
        cut = step.partition
        how = LINK_HOW[cut.mode.value]
        if cut.mode.value == "delay":
            how = f"delayed by {cut.delay_s:g} s each way"
        return f"worker-0's link to {LINK_LABEL[cut.link]} {how} for {seconds}"
    return f"nothing for {seconds}"


def describe_faults(faults: dict[ServiceName, FaultSettings]) -> str:
    return "; ".join(f"{service.value}: {describe_fault(settings)}" for service, settings in faults.items())


def describe_fault(settings: FaultSettings) -> str:
    """`latency 2500±500 ms, errors 0.3`; kinds this module does not know by name read as `key value`."""
    if settings.is_clear:
        return "no faults"
    values = settings.model_dump()
    parts = []
    if values.pop("down", False):
        parts.append("down")
    for key, label in (("error_rate", "errors"), ("decline_rate", "declines")):
        if value := values.pop(key, 0):
            parts.append(f"{label} {value:g}")
    latency, jitter = values.pop("latency_ms", 0), values.pop("jitter_ms", 0)
    if latency or jitter:
        parts.append(f"latency {latency}±{jitter} ms")
    parts += [f"{key.replace('_', ' ')} {value:g}" for key, value in values.items() if value]
    return ", ".join(parts)
