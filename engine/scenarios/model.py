"""Scenario files (game days): the pydantic models of `configs/scenarios/*.yaml`, and how one loads.

    scenario = load_scenario(Path("configs/scenarios/payment-brownout.yaml"))
    scenario = load_scenario(resolve_scenario("payment-brownout"))

A bad file is one `InvalidInput` line, `FILE:LINE: key.path: message`: the line comes from
the YAML node the key or value sits on (PyYAML's marks), the message from pydantic, with the
nearest valid key for a misspelt one. Nothing starts from a file that does not load.

The seed drives every choice the driver makes: each order's SKUs and quantities, which
orders are cancelled and when. The services roll their faults per request with their own
random generator, so which request fails is not fixed by the seed; nor is the timing.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.config import CatalogueItem
from engine.errors import InvalidInput, shown_key
from engine.models import FaultSettings, ServiceName
from engine.scenarios.expressions import Check, parse_check

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "configs" / "scenarios"
MAX_DURATION_S = 6 * 3600.0
MAX_RATE = 1000.0
MAX_CONCURRENCY = 1000

ServerName = Literal["nats", "temporal"]


def _parses(text: str) -> str:
    parse_check(text)  # ValueError with the reason
    return text


CheckText = Annotated[str, AfterValidator(_parses)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- load --------------------------------------------------------------------------------


class LoadPhase(_Model):
    """A stretch of the load: `rate` orders per second (open loop) or `concurrency` orders in
    flight (closed loop), for `for_s`. With `ramp`, the level climbs linearly from the previous
    phase's to this one's (from 0 for a first phase)."""

    for_s: float = Field(gt=0, le=MAX_DURATION_S)
    rate: float | None = Field(None, ge=0, le=MAX_RATE)
    concurrency: int | None = Field(None, ge=0, le=MAX_CONCURRENCY)
    ramp: bool = False

    @model_validator(mode="after")
    def _one_level(self) -> LoadPhase:
        if (self.rate is None) == (self.concurrency is None):
            raise ValueError("give one of rate or concurrency")
        return self

    @property
    def mode(self) -> Literal["rate", "concurrency"]:
        return "rate" if self.rate is not None else "concurrency"

    @property
    def level(self) -> float:
        return float(self.rate if self.rate is not None else self.concurrency or 0)


class SkuShare(_Model):
    """One SKU of the mix: picked with `weight`, each line ordering `quantity` units (a range)."""

    sku: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    weight: float = Field(1.0, gt=0)
    quantity: tuple[int, int] = (1, 1)

    @field_validator("quantity", mode="before")
    @classmethod
    def _single_or_range(cls, value: object) -> object:
        return (value, value) if isinstance(value, int) else value

    @field_validator("quantity")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 100:
            raise ValueError("a quantity is 1..100, or a range [low, high] within it")
        return value


class CancelTiming(StrEnum):
    AT_ONCE = "at_once"  # right after the order starts: before or during its reserve
    DURING_HOLD = "during_hold"  # while the order waits in its hold
    EITHER = "either"  # half of each


class CancelPlan(_Model):
    share: float = Field(0.0, ge=0, le=1)
    when: CancelTiming = CancelTiming.EITHER


class Load(_Model):
    phases: list[LoadPhase] = Field(min_length=1)
    mix: list[SkuShare] = Field(default_factory=list)
    """Empty: every SKU of the catalogue, alike."""
    lines: tuple[int, int] = (1, 1)
    """How many different SKUs an order holds (a range)."""
    cancel: CancelPlan = Field(default_factory=CancelPlan)

    @field_validator("lines", mode="before")
    @classmethod
    def _single_or_range(cls, value: object) -> object:
        return (value, value) if isinstance(value, int) else value

    @field_validator("lines")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 10:
            raise ValueError("lines is 1..10, or a range [low, high] within it")
        return value

    @model_validator(mode="after")
    def _ramps_between_alike(self) -> Load:
        for before, phase in zip(self.phases, self.phases[1:], strict=False):
            if phase.ramp and phase.mode != before.mode:
                raise ValueError(f"a ramp climbs from a phase of its own kind ({phase.mode}), not from {before.mode}")
        return self

    @property
    def duration_s(self) -> float:
        return sum(phase.for_s for phase in self.phases)


# --- steps -------------------------------------------------------------------------------


class LinkModeName(StrEnum):
    BLACKHOLE = "blackhole"
    DROP = "drop"
    CUT_REPLIES = "cut_replies"
    CUT_REQUESTS = "cut_requests"
    DELAY = "delay"


class Partition(_Model):
    """worker-0's link to `link`, through the stack's TCP proxy, in `mode` for the step's `for_s`."""

    link: ServerName
    mode: LinkModeName = LinkModeName.BLACKHOLE
    delay_s: float = Field(0.0, ge=0, le=60)


STEP_ACTIONS = ("faults", "clear_faults", "preset", "pause", "kill", "partition", "parallel", "wait")


class ScenarioStep(_Model):
    """One step: exactly one action, at `at_s` (from the run's start, or from its group's start
    inside `parallel`), or after the step named `after`, or else after the previous step ends.

    - `faults`: endpoint -> fault settings, in force for `for_s` (then cleared), or until cleared.
    - `clear_faults`: `all`, or a list of endpoints.
    - `preset`: a preset's faults (a scenario file with `preset_label`), as `faults`.
    - `pause`: SIGSTOP the embedded `nats` or `temporal` server for `for_s`, then SIGCONT.
    - `kill`: SIGKILL it, and start it again `for_s` later.
    - `partition`: worker-0's link through the TCP proxy, for `for_s`.
    - `parallel`: steps that start together; the group ends when the last of them ends.
    - `wait`: nothing, for `for_s` (a gap in a sequence)."""

    name: str | None = Field(None, max_length=80)
    at_s: float | None = Field(None, ge=0, le=MAX_DURATION_S)
    after: str | None = None
    for_s: float | None = Field(None, gt=0, le=MAX_DURATION_S)
    faults: dict[ServiceName, FaultSettings] | None = None
    clear_faults: Literal["all"] | list[ServiceName] | None = None
    preset: str | None = None
    pause: ServerName | None = None
    kill: ServerName | None = None
    partition: Partition | None = None
    parallel: list[ScenarioStep] | None = None
    wait: bool | None = None

    @model_validator(mode="after")
    def _one_action(self) -> ScenarioStep:
        given = [action for action in STEP_ACTIONS if getattr(self, action) is not None]
        if len(given) != 1:
            got = f" (got {', '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of {', '.join(STEP_ACTIONS)}{got}")
        if self.at_s is not None and self.after is not None:
            raise ValueError("give at_s or after, not both")
        if self.kind in ("pause", "kill", "partition", "wait") and self.for_s is None:
            raise ValueError(f"a {self.kind} step needs for_s")
        if self.kind in ("clear_faults", "parallel") and self.for_s is not None:
            raise ValueError(f"a {self.kind} step takes no for_s")
        if self.faults is not None and not self.faults:
            raise ValueError("faults: name at least one endpoint")
        if self.parallel is not None and not self.parallel:
            raise ValueError("parallel: give at least one step")
        return self

    @property
    def kind(self) -> str:
        return next(action for action in STEP_ACTIONS if getattr(self, action) is not None)


# --- the scenario --------------------------------------------------------------------------


class Scenario(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = Field("", max_length=500)
    seed: int = 0
    preset_label: str | None = Field(None, max_length=40)
    """This file is also a dashboard preset of that name: the faults of its first `faults` step."""
    hold_s: float | None = Field(None, gt=0, le=3600)
    """The saga's hold on a stack the run starts (attached, the cluster's own)."""
    catalogue: dict[str, CatalogueItem] | None = None
    """SKUs and their stock on a stack the run starts (default: the configured catalogue); refused attached."""
    workers: int = Field(1, ge=1, le=4)
    """Worker processes on a stack the run starts; a partition cuts worker-0's links only."""
    stuck_after_s: float = Field(60.0, gt=0)
    """`stuck_orders` counts orders in flight for longer than this."""
    drain_timeout_s: float = Field(180.0, gt=0, le=3600)
    """After the load, how long orders in flight may take to end before they count as lost."""
    load: Load
    steps: list[ScenarioStep] = Field(default_factory=list)
    hypothesis: list[CheckText] = Field(default_factory=list)
    abort_when: list[CheckText] = Field(default_factory=list)

    @field_validator("catalogue")
    @classmethod
    def _skus_are_identifiers(cls, catalogue: dict[str, CatalogueItem] | None) -> dict[str, CatalogueItem] | None:
        for sku in catalogue or {}:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", sku):
                raise ValueError(f"SKU {shown_key(sku)} must be 1 to 64 letters, digits, _ or -")
        return catalogue

    @model_validator(mode="after")
    def _names_resolve(self) -> Scenario:
        _check_step_names(self.steps, "steps")
        return self

    def hypothesis_checks(self) -> list[Check]:
        return [parse_check(text) for text in self.hypothesis]

    def abort_checks(self) -> list[Check]:
        return [parse_check(text) for text in self.abort_when]

    @property
    def duration_s(self) -> float:
        """The load's length, or the plan's when its steps go on longer."""
        from engine.scenarios.plan import timeline  # the plan needs the model, not the other way

        ends = [step.end_s if step.end_s is not None else step.start_s for step in timeline(self)]
        return max([self.load.duration_s, *ends])

    def fault_steps(self) -> bool:
        """Whether any step sets or clears faults (refused where fault injection is off)."""
        return any(step.kind in ("faults", "clear_faults", "preset") for step in walk_steps(self.steps))

    def server_steps(self) -> list[ScenarioStep]:
        """The steps that pause or kill a server, or cut a link: only on a stack the run started."""
        return [step for step in walk_steps(self.steps) if step.kind in ("pause", "kill", "partition")]


def walk_steps(steps: list[ScenarioStep]) -> list[ScenarioStep]:
    """Every step, a parallel group's members in place of the group."""
    found: list[ScenarioStep] = []
    for step in steps:
        found.extend(walk_steps(step.parallel) if step.parallel is not None else [step])
    return found


def _check_step_names(steps: list[ScenarioStep], where: str) -> None:
    """`after` names an earlier step of the same sequence; names are unique within it."""
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if step.after is not None and step.after not in seen:
            raise ValueError(f"{where}.{index}.after: no earlier step named {step.after!r} here")
        if step.name is not None:
            if step.name in seen:
                raise ValueError(f"{where}.{index}.name: {step.name!r} is used twice")
            seen.add(step.name)
        if step.parallel is not None:
            _check_step_names(step.parallel, f"{where}.{index}.parallel")


# --- files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioFile:
    name: str
    path: Path
    description: str
    duration_s: float


def resolve_scenario(name_or_file: str, directory: Path = SCENARIO_DIR) -> Path:
    """A path as given when it names a file (or looks like one), else `directory/NAME.yaml`."""
    given = Path(name_or_file)
    if given.suffix in (".yaml", ".yml") or given.is_file() or "/" in name_or_file:
        if not given.is_file():
            raise InvalidInput(f"{name_or_file}: no such scenario file")
        return given
    path = directory / f"{name_or_file}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        near = difflib.get_close_matches(name_or_file, known, n=1)
        hint = f" (did you mean {near[0]}?)" if near else f" (known: {', '.join(known)})" if known else ""
        raise InvalidInput(f"no scenario {shown_key(name_or_file)}{hint}")
    return path


def find_scenarios(dirs: list[Path] | None = None) -> list[ScenarioFile]:
    """Every scenario file that loads in `dirs` (default: configs/scenarios), by name. A file
    that does not load is left out here: `checkout scenario show FILE` names its problem."""
    found: list[ScenarioFile] = []
    for directory in dirs if dirs is not None else [SCENARIO_DIR]:
        for path in sorted(directory.glob("*.yaml")):
            try:
                scenario = load_scenario(path)
            except InvalidInput:
                continue
            found.append(ScenarioFile(scenario.name, path, scenario.description, scenario.duration_s))
    return sorted(found, key=lambda file: file.name)


def load_scenario(path: Path) -> Scenario:
    """The scenario in `path`, or InvalidInput: one line `FILE:LINE: key.path: message`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{path}: cannot read: {error.__class__.__name__}: {error}".splitlines()[0]) from None
    return parse_scenario(text, str(path))


def parse_scenario(text: str, source: str) -> Scenario:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context or "not valid YAML").split())
        line = f"{mark.line + 1}" if mark else "1"
        raise InvalidInput(f"{source}:{line}: {problem}") from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"{source}:1: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}:1: a scenario is a mapping of keys (name, load, steps, ...)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(_one_line(error, root, source)) from None


def _one_line(error: ValidationError, root: yaml.Node | None, source: str) -> str:
    errors = error.errors()
    # A misspelt key first; else the deepest error (in a union, the member that got furthest).
    first = next((e for e in errors if e["type"] == "extra_forbidden"), None) or max(
        errors, key=lambda e: len(e["loc"])
    )
    loc = [part for part in first["loc"] if not _is_union_tag(part)]
    message = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = _unknown_key(loc)
    # A model validator's message may name a deeper path itself ("steps.1.after: ...").
    if first["type"] == "value_error" and message.split(":", 1)[0].startswith(("steps.", "load.")):
        where, message = message.split(": ", 1)
        loc = [int(part) if part.isdigit() else part for part in where.split(".")]
    line = _line_of(root, loc)
    where = ".".join(shown_key(part) for part in loc) or "scenario"
    return f"{source}:{line}: {where}: {message}"


def _is_union_tag(part: object) -> bool:
    """pydantic puts a union member's name in the location (`list[...]`, `literal['all']`)."""
    text = str(part)
    return "[" in text or text in ("str", "int", "float", "bool", "FaultSettings")


def _unknown_key(loc: list[int | str]) -> str:
    *parents, name = loc
    valid = _keys_at([part for part in parents])
    near = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    if near:
        return f"unknown key (did you mean {near[0]}?)"
    return f"unknown key: {', '.join(valid)} are valid there" if valid else "unknown key"


def _keys_at(path: list[int | str]) -> list[str]:
    """The keys the model at `path` takes (list indices and dict keys passed over)."""
    current: Any = Scenario
    for part in path:
        current = _step_into(_unwrap(current), part)
        if current is None:
            return []
    current = _unwrap(current)
    return list(current.model_fields) if _is_model(current) else []


def _unwrap(annotation: Any) -> Any:
    """`X | None` and the like: the member that holds keys (a model, a list or a dict)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return next((m for m in members if _is_model(m) or typing.get_origin(m) in (list, dict)), members[0])
    return annotation


def _step_into(current: Any, part: int | str) -> Any:
    origin = typing.get_origin(current)
    if origin is list and isinstance(part, int):
        return typing.get_args(current)[0]
    if origin is dict:
        return typing.get_args(current)[1]
    if _is_model(current) and isinstance(part, str) and part in current.model_fields:
        return current.model_fields[part].annotation
    return None


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _line_of(root: yaml.Node | None, loc: list[int | str]) -> int:
    """The line (1-based) of the deepest node of `loc` the file has: a missing key points at its parent."""
    node = root
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(
                ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None
            )
            if match is None:
                return line
            key, node = match
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def preset_faults(scenario: Scenario) -> dict[ServiceName, FaultSettings]:
    """The faults a preset file stands for: those of its first `faults` step."""
    first = next((step for step in walk_steps(scenario.steps) if step.faults is not None), None)
    return dict(first.faults) if first is not None and first.faults is not None else {}


def load_presets(dirs: list[Path] | None = None) -> dict[str, dict[ServiceName, FaultSettings]]:
    """Every preset of the scenario files (those with `preset_label`), label -> faults, in file-name order."""
    presets: dict[str, dict[ServiceName, FaultSettings]] = {}
    for directory in dirs if dirs is not None else [SCENARIO_DIR]:
        for path in sorted(directory.glob("*.yaml")):
            try:
                scenario = load_scenario(path)
            except InvalidInput:
                continue
            if scenario.preset_label is not None and (faults := preset_faults(scenario)):
                presets.setdefault(scenario.preset_label, faults)
    return presets
