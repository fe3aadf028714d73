"""`checkout scenario run`'s live panel and verdict, rendered as a terminal would show them."""

from __future__ import annotations

from rich.console import Console

from engine.scenarios.model import parse_scenario
from engine.scenarios.plan import timeline
from engine.scenarios.report import CheckResult, Outcome, ScenarioInfo, ScenarioReport, WindowFigures
from tui import printing
from tui.scenario_cli import LiveDisplay, print_verdict

SCENARIO = parse_scenario(
    """\
name: shown
load:
  phases: [{for_s: 30, rate: 4}]
steps:
  - {name: slow payments, at_s: 5, for_s: 10, faults: {payment: {latency_ms: 2500, jitter_ms: 500}}}
  - {name: blip, at_s: 20, for_s: 3, pause: nats}
hypothesis: [p95_latency_ms < 2000]
abort_when: [stuck_orders > 5]
""",
    "shown.yaml",
)


def test_the_live_panel_shows_steps_load_checks_and_faults() -> None:
    console = Console(record=True, width=140, force_terminal=True)
    display = LiveDisplay(SCENARIO, console, live=True)
    first, second = timeline(SCENARIO)
    display.phase("running")
    display.step_started(first, 5.0)
    display.window(
        WindowFigures(start_s=10, end_s=12, offered_rate=4, started=8, completed=5, in_flight=9, partial=True)
    )
    display.faults({"payment": {"latency_ms": 2500, "jitter_ms": 500}})
    display.checks(
        [
            CheckResult(
                expression="p95_latency_ms < 2000", kind="hypothesis", passed=False, value=2600, threshold=2000
            ),
            CheckResult(expression="stuck_orders > 5", kind="abort_when", passed=None, value=None, threshold=5),
        ]
    )
    console.print(display)
    text = console.export_text()
    assert "shown  running" in text
    assert "running" in text and "slow payments" in text and "pending" in text  # the blip has not started
    assert "4.0/s offered, 8 started, 9 in flight" in text
    assert "faults in force: payment: latency_ms 2500, jitter_ms 500" in text
    assert "FAIL" in text and "waiting" in text


def test_the_verdict_names_the_failed_check() -> None:
    console = Console(record=True, width=140)
    report = ScenarioReport(
        scenario=ScenarioInfo(name="shown", duration_s=30),
        started_at="2026-01-01T00:00:00Z",
        ended_at="2026-01-01T00:00:40Z",
        target="embedded",
        checks=[
            CheckResult(expression="p95_latency_ms < 2000", kind="hypothesis", passed=False, value=2600, threshold=2000)
        ],
        outcome=Outcome(verdict="fail", failed_checks=["p95_latency_ms < 2000"]),
    )
    original = printing.console
    printing.console = console
    try:
        print_verdict(report)
    finally:
        printing.console = original
    text = console.export_text()
    assert "verdict: FAIL: p95_latency_ms < 2000" in text and "2600" in text and "audit: not run" in text
