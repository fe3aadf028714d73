"""Scenario files: what loads, the one line a bad file gets, the plan's timeline, the checks' parser, the figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.models import FaultSettings, ServiceName
from engine.scenarios.expressions import METRICS, OPERATORS, parse_check
from engine.scenarios.figures import EndpointCounts, OrderRecord, Tally
from engine.scenarios.model import SCENARIO_DIR, find_scenarios, load_presets, load_scenario, parse_scenario
from engine.scenarios.plan import timeline

GOOD = """\
name: tiny
seed: 3
load:
  phases:
    - {for_s: 10, rate: 2}
    - {for_s: 20, rate: 8, ramp: true}
steps:
  - {name: slow, at_s: 5, for_s: 10, faults: {payment: {latency_ms: 2500, jitter_ms: 500}}}
  - parallel:
      - {pause: nats, for_s: 3}
      - {kill: temporal, for_s: 4}
  - {clear_faults: all}
hypothesis: ["compensated_ratio < 0.1", "audit == clean", "error_rate(payment) < 0.5"]
"""


def error_of(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_scenario(text, "f.yaml")
    message = caught.value.message
    assert "\n" not in message
    return message


def test_a_good_file_loads_and_its_plan_is_a_timeline_with_lanes() -> None:
    scenario = parse_scenario(GOOD, "f.yaml")
    plan = timeline(scenario)
    assert [(s.name, s.kind, s.start_s, s.end_s, s.lane) for s in plan] == [
        ("slow", "faults", 5.0, 15.0, 0),
        ("pause nats", "pause", 15.0, 18.0, 0),
        ("kill temporal", "kill", 15.0, 19.0, 1),  # parallel: its own lane
        ("clear faults", "clear_faults", 19.0, None, 0),  # after the group's last member
    ]
    assert plan[0].detail == "payment: latency 2500±500 ms for 10 s"
    assert scenario.duration_s == 30.0


def test_an_unknown_key_names_its_line_and_the_nearest_key() -> None:
    text = GOOD.replace("{latency_ms: 2500,", "{latency_msx: 2500,")
    assert error_of(text) == "f.yaml:8: steps.0.faults.payment.latency_msx: unknown key (did you mean latency_ms?)"
    assert error_of(GOOD.replace("seed: 3", "seeds: 3")) == "f.yaml:2: seeds: unknown key (did you mean seed?)"


def test_a_yaml_error_names_its_line() -> None:
    text = GOOD.replace("- {for_s: 10, rate: 2}", "- {for_s: 10, rate: 2")
    assert re.fullmatch(r"f\.yaml:6: .+", error_of(text)), error_of(text)


def test_a_bad_expression_names_its_item_and_why() -> None:
    text = GOOD.replace('"audit == clean"', '"p95_latency < 3"')
    message = error_of(text)
    assert message.startswith("f.yaml:13: hypothesis.1: 'p95_latency < 3': unknown metric 'p95_latency'"), message
    assert "'x < 1': unknown metric" in error_of(GOOD.replace('"audit == clean"', '"x < 1"'))
    assert "is not a number" in error_of(GOOD.replace('"audit == clean"', '"throughput > fast"'))
    assert "unknown endpoint 'paymnt'" in error_of(GOOD.replace("error_rate(payment)", "error_rate(paymnt)"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("{clear_faults: all}", "{clear_faults: [paymnt]}"), "f.yaml:12: steps.2.clear_faults.0: Input should be"),
        (("{clear_faults: all}", "{for_s: 3}"), "f.yaml:12: steps.2: give exactly one of faults, clear_faults"),
        (("{pause: nats, for_s: 3}", "{pause: nats}"), "f.yaml:10: steps.1.parallel.0: a pause step needs for_s"),
        (("{clear_faults: all}", "{wait: true, for_s: 1, after: nope}"), "f.yaml:12: steps.2.after: no earlier step"),
        (("{for_s: 10, rate: 2}", "{for_s: 10}"), "f.yaml:5: load.phases.0: give one of rate or concurrency"),
    ],
)
def test_bad_steps_and_phases_are_one_line_with_their_line(change: tuple[str, str], expected: str) -> None:
    message = error_of(GOOD.replace(*change))
    assert message.startswith(expected), message


def test_a_file_that_is_not_a_mapping_or_not_there() -> None:
    assert error_of("- just\n- a list\n") == "f.yaml:1: a scenario is a mapping of keys (name, load, steps, ...)"
    with pytest.raises(InvalidInput, match="cannot read"):
        load_scenario(Path("/nonexistent/scenario.yaml"))


def test_every_shipped_scenario_loads_and_stays_short() -> None:
    files = {file.name: file for file in find_scenarios()}
    assert {"black-friday", "payment-brownout", "inventory-outage", "nats-blip"} <= set(files)
    assert len(files) == len(list(SCENARIO_DIR.glob("*.yaml")))  # none is left out for not loading
    for file in files.values():
        scenario = load_scenario(file.path)
        assert scenario.hypothesis, file.name
        assert 60 <= file.duration_s <= 180, file.name


def test_the_dashboard_presets_come_from_the_scenario_files() -> None:
    assert load_presets() == {
        "flaky payments": {ServiceName.PAYMENT: FaultSettings(error_rate=0.3)},
        "inventory outage": {ServiceName.INVENTORY: FaultSettings(down=True)},
        "slow shipping": {ServiceName.SHIPPING: FaultSettings(latency_ms=1500, jitter_ms=500)},
    }


# --- the checks' parser -----------------------------------------------------------------------

NUMERIC = [metric for metric in METRICS if metric not in ("audit", "error_rate")]


@given(
    metric=st.sampled_from(NUMERIC),
    op=st.sampled_from(sorted(OPERATORS)),
    threshold=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    spaces=st.sampled_from(["", " ", "  "]),
)
def test_a_check_parses_and_compares_as_python_would(
    metric: str, op: str, threshold: float, value: float, spaces: str
) -> None:
    check = parse_check(f"{metric}{spaces}{op}{spaces}{threshold!r}")
    assert (check.metric, check.op, check.threshold) == (metric, op, threshold)
    assert check.holds(value) is OPERATORS[op](value, threshold)
    assert check.holds(None) is None  # not known yet: neither pass nor fail


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_with_one_line(text: str) -> None:
    try:
        check = parse_check(text)
    except ValueError as error:
        assert "\n" not in str(error)
    else:
        assert check.metric in METRICS


def test_error_rate_and_audit_checks() -> None:
    check = parse_check("error_rate( payment ) < 0.5")
    assert (check.key, check.holds(0.4), check.holds(0.5)) == ("error_rate(payment)", True, False)
    audit = parse_check("audit == clean")
    assert (audit.holds(1.0), audit.holds(0.0)) == (True, False)
    assert parse_check("audit != clean").holds(0.0) is True
    for bad in ("audit < clean", "audit == 1", "error_rate < 1", "throughput(payment) > 1", "p95_latency_ms < inf"):
        with pytest.raises(ValueError):
            parse_check(bad)


# --- the figures ------------------------------------------------------------------------------


def test_figures_from_orders_and_counters() -> None:
    tally = Tally(stuck_after_s=30)
    outcomes = ["completed"] * 6 + ["compensated"] * 2 + ["cancelled", "failed"]
    for n, outcome in enumerate(outcomes):
        tally.orders.append(OrderRecord(f"o{n}", started_s=n, ended_s=n + 2.0, outcome=outcome))  # type: ignore[arg-type]
    tally.orders.append(OrderRecord("slow", started_s=1.0))  # still in flight
    tally.counters = [
        (5.0, {"payment": EndpointCounts(requests=10, errors=1)}),
        (15.0, {"payment": EndpointCounts(20, 5)}),
    ]
    now = 40.0
    assert tally.value(parse_check("compensated_ratio < 1"), now, final=False) == 0.2
    assert tally.value(parse_check("failed_ratio < 1"), now, final=False) == 0.1
    assert tally.value(parse_check("p50_latency_ms < 1"), now, final=False) == 2000.0
    assert tally.value(parse_check("stuck_orders == 0"), now, final=False) == 1.0  # in flight for 39 s > 30 s
    assert tally.value(parse_check("error_rate(payment) < 1"), now, final=False) == 0.25
    assert tally.value(parse_check("error_rate(refund) < 1"), now, final=False) == 0.0  # no request: no error
    assert tally.value(parse_check("audit == clean"), now, final=True) is None  # not audited yet
    window = tally.window(0.0, 10.0)
    assert (window.started, window.completed, window.compensated, window.cancelled, window.failed) == (11, 6, 2, 0, 0)
    assert window.requests == {"payment": 10} and window.errors == {"payment": 1}
    assert window.in_flight == 2  # o9 (started 9, ends at 11) and the slow one
    few = Tally(orders=[OrderRecord("a", 0.0, 1.0, "compensated")])
    assert few.value(parse_check("compensated_ratio < 1"), 5.0, final=False) is None  # too few to judge while running
    assert few.value(parse_check("compensated_ratio < 1"), 5.0, final=True) == 1.0


def test_scenario_command_bad_files_are_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    cases = {
        GOOD.replace("seed: 3", "sed: 3"): "bad.yaml:2: sed: unknown key (did you mean seed?)",
        GOOD.replace("steps:", "steps: ["): "bad.yaml:",
        GOOD.replace('"audit == clean"', '"audit = clean"'): "bad.yaml:13: hypothesis.1:",
    }
    for text, fragment in cases.items():
        bad.write_text(text)
        for action in ("show", "run"):
            result = subprocess.run(
                [sys.executable, "-m", "tui.cli", "scenario", action, str(bad)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 2, (result.stdout, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr, result.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "tui.cli", "scenario", "run", "nats-blp"], capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2 and "did you mean nats-blip?" in unknown.stderr, unknown.stderr


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=60, env=environment
    )


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (("scenario", "run", "nats-blip", "--attach"), {}, "--attach: a pause of nats is refused"),
        (("--read-only", "scenario", "run", "nats-blip"), {}, "read-only: `checkout scenario run`"),
        (("scenario", "run", "inventory-outage"), {"CHECKOUT_FAULTS__ENABLED": "false"}, "faults.enabled is off"),
        (("scenario", "run", "nats-blip", "--force"), {}, "--force goes with --attach"),
    ],
)
def test_runs_a_target_cannot_do_are_refused_before_anything_starts(
    args: tuple[str, ...], env: dict[str, str], fragment: str
) -> None:
    result = run_cli(*args, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and fragment in lines[0], (result.stdout, result.stderr)
    assert "starting a stack" not in result.stderr


def test_list_and_show() -> None:
    listed = run_cli("scenario", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [row["name"] for row in json.loads(listed.stdout)]
    assert {"black-friday", "payment-brownout", "inventory-outage", "nats-blip"} <= set(names)
    shown = run_cli("scenario", "show", "payment-brownout")
    assert shown.returncode == 0, shown.stderr
    assert "past the timeout" in shown.stdout and "payment: latency 2500±500 ms for 15 s" in shown.stdout
    assert "hypothesis:" in shown.stdout
