"""report.html from report.json dicts made by hand: verdicts, odd windows, hostile strings, the CLI."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import pytest

from engine.scenarios.html_report import build_charts, main, render_html
from tests.support.scenario_report import sample_report, window, windows

FIGURES = re.compile(r'<script type="application/json" id="figures">(.*?)</script>', re.DOTALL)
VERDICT = re.compile(
    r'<section class="verdict (\w+)" id="verdict"><div class="word">(.*?)</div><div class="why">(.*?)</div>'
)


def figures(page: str) -> list[dict[str, Any]]:
    match = FIGURES.search(page)
    assert match, "the page holds no figures"
    parsed: list[dict[str, Any]] = json.loads(match.group(1))
    return parsed


def verdict(page: str) -> tuple[str, str, str]:
    match = VERDICT.search(page)
    assert match, "the page shows no verdict"
    return match.group(1), match.group(2), match.group(3)


def with_check(report: dict[str, Any], **check: Any) -> dict[str, Any]:
    base = {"kind": "hypothesis", "passed": False, "value": 0.3, "threshold": 0.01, "first_failed_s": 42.0}
    return report | {"checks": [*report["checks"], base | check]}


def test_a_passing_run_says_pass_first() -> None:
    page = render_html(sample_report())
    css, word, why = verdict(page)
    assert (css, word, why) == ("pass", "PASS", "Every check held.")
    # The verdict is the first thing in the page's body, before the scenario and the charts.
    assert page.index('id="verdict"') < page.index("<h1>") < page.index('id="chart-load"')
    assert "<title>payment-brownout: PASS</title>" in page


def test_a_failed_run_names_the_failed_checks_only() -> None:
    report = with_check(sample_report(outcome={"verdict": "fail", "aborted_by": None, "stopped_at_s": None}),
                        expression="compensated_ratio < 0.01")  # fmt: skip
    css, word, why = verdict(render_html(report))
    assert (css, word) == ("fail", "FAIL")
    assert why == "Failed: <code>compensated_ratio &lt; 0.01</code>."
    page = render_html(report)
    row = re.search(r"<tr><td><code>compensated_ratio &lt; 0.01</code></td>.*?</tr>", page)
    assert row and '<td class="result fail">FAIL</td>' in row.group(0) and ">42.0<" in row.group(0)


def test_an_aborted_run_names_the_abort_check_and_when_it_fired() -> None:
    report = with_check(
        sample_report(outcome={"verdict": "aborted", "aborted_by": "error_rate(payment) > 0.9", "stopped_at_s": 31.5}),
        expression="error_rate(payment) > 0.9",
        kind="abort_when",
        first_failed_s=31.0,
    )
    page = render_html(report)
    css, word, why = verdict(page)
    assert (css, word) == ("aborted", "ABORTED")
    assert why == "Aborted by <code>error_rate(payment) &gt; 0.9</code> at 31.0 s."
    assert '<td class="result fail">FIRED</td>' in page
    assert page.count('<td class="result pass">did not fire</td>') == 1  # the sample's own abort check


def test_a_stopped_run_says_when() -> None:
    page = render_html(sample_report(outcome={"verdict": "stopped", "aborted_by": None, "stopped_at_s": 64.25}))
    assert verdict(page) == ("stopped", "STOPPED", "Stopped by the operator at 64.2 s.")


@pytest.mark.parametrize(
    ("outcome", "marked_at"),
    [
        ({"verdict": "stopped", "stopped_at_s": 64.25}, 64.25),
        ({"verdict": "aborted", "aborted_by": "error_rate(payment) > 0.5", "stopped_at_s": None}, None),
        ({"verdict": "fail"}, None),
    ],
)
def test_where_a_run_stopped_is_marked_on_every_chart(outcome: dict[str, Any], marked_at: float | None) -> None:
    for chart in build_charts(sample_report(outcome=outcome)):
        red = [s["x0"] for s in chart.layout["shapes"] if s["line"].get("color") == "#c62828"]
        assert red == ([] if marked_at is None else [marked_at])


def test_an_aborted_run_is_marked_where_its_check_fired() -> None:
    report = with_check(sample_report(outcome={"verdict": "aborted", "aborted_by": "p99_latency_ms > 9000"}),
                        expression="p99_latency_ms > 9000", kind="abort_when", first_failed_s=55.0)  # fmt: skip
    chart = build_charts(report)[2]
    assert [s["x0"] for s in chart.layout["shapes"] if s["line"].get("color") == "#c62828"] == [55.0]
    assert chart.layout["annotations"][-1]["text"] == "aborted at 55.0 s"


def test_an_unknown_verdict_is_shown_not_trusted() -> None:
    page = render_html(sample_report(outcome={"verdict": "<b>great</b>"}))
    css, word, _ = verdict(page)
    assert (css, word) == ("unknown", "&lt;B&gt;GREAT&lt;/B&gt;")


def test_every_chart_has_the_plan_as_bands_and_is_valid_for_plotly() -> None:
    report = sample_report()
    charts = build_charts(report)
    assert [c.element_id for c in charts] == ["chart-load", "chart-throughput", "chart-latency", "chart-errors"]
    for chart in charts:
        go.Figure(data=chart.data, layout=chart.layout)  # plotly's own validators: raises on a wrong property
        rects = [(s["x0"], s["x1"]) for s in chart.layout["shapes"] if s["type"] == "rect"]
        assert rects == [(0.0, 30.0), (30.0, 70.0), (45.0, 60.0), (90.0, 94.0)]
        instants = [s["x0"] for s in chart.layout["shapes"] if s["type"] == "line"]
        assert instants == [100.0]  # "clear" has no duration: a line, not a band
        labels = [a["text"] for a in chart.layout["annotations"]]
        assert labels == ["ramp to 8/s", "slow payments", "inventory outage", "NATS blip", "clear"]
        lanes = {a["text"]: a["yshift"] for a in chart.layout["annotations"]}
        assert lanes["inventory outage"] > lanes["slow payments"]  # parallel steps get their own row of labels
    load, throughput, latency, errors = charts
    assert [t["name"] for t in load.data] == ["offered rate", "started", "in flight"]
    assert load.data[0]["y"][:4] == [2.0, 4.0, 6.0, 8.0]
    assert load.data[1]["y"][0] == 2.0  # 20 started in a 10 s window
    assert load.data[0]["x"][:2] == [5.0, 15.0]
    assert [t["name"] for t in throughput.data] == ["completed", "compensated", "cancelled", "failed"]
    assert throughput.layout["barmode"] == "stack"
    assert [t["name"] for t in latency.data] == ["p50", "p95", "p99"]
    assert latency.data[1]["y"][3] == 3400.0
    assert [t["name"] for t in errors.data] == ["inventory", "payment", "refund", "restock", "shipping"]
    outage = window(40.0, 8.0, slow=True, outage=True)
    assert errors.data[0]["customdata"][4] == [outage["errors"]["inventory"], outage["requests"]["inventory"], 0]
    assert errors.data[0]["y"][4] == round(window(40.0, 8.0, outage=True)["error_rate"]["inventory"], 4) > 0
    page = render_html(report)
    assert [f["id"] for f in figures(page)] == [c.element_id for c in charts]
    for chart in charts:
        assert f'<div class="chart" id="{chart.element_id}"></div>' in page


def test_a_refused_step_is_drawn_grey_and_says_so() -> None:
    report = sample_report()
    report["steps"][3]["status"] = "refused"
    chart = build_charts(report)[0]
    band = chart.layout["shapes"][3]
    assert band["fillcolor"] == "#bdbdbd"
    assert chart.layout["annotations"][3]["text"] == "NATS blip (refused)"
    assert '<td class="status refused">refused</td>' in render_html(report)


def test_faults_until_cleared_are_a_band_to_the_clear_or_the_end() -> None:
    plan = [
        {"index": 0, "name": "declines", "kind": "faults", "start_s": 10.0, "end_s": None, "lane": 0, "detail": "d"},
        {"index": 1, "name": "preset", "kind": "preset", "start_s": 105.0, "end_s": None, "lane": 0, "detail": "p"},
        {"index": 2, "name": "clear", "kind": "clear_faults", "start_s": 40.0, "end_s": None, "lane": 0, "detail": ""},
        {"index": 3, "name": "kill", "kind": "kill", "start_s": 60.0, "end_s": None, "lane": 0, "detail": "k"},
    ]
    shapes = build_charts(sample_report(plan=plan, steps=[]))[0].layout["shapes"]
    assert [(s["type"], s["x0"], s["x1"]) for s in shapes] == [
        ("rect", 10.0, 40.0),  # until the clear
        ("rect", 105.0, 120.0),  # no clear after it: until the run's end
        ("line", 40.0, 40.0),
        ("line", 60.0, 60.0),
    ]


def test_what_the_runner_adds_is_shown() -> None:
    report = sample_report(outcome={"verdict": "fail", "failed_checks": ["stuck_orders == 0"]})
    report["steps"][3] |= {"status": "refused", "note": "this stack did not start NATS"}
    report["totals"] |= {"lost": 0, "submit_failures": 3, "throughput": 7.25}
    report["audit"]["notes"] = ["12 orders still in flight were not checked"]
    report["windows"].append(window(115.0, 8.0) | {"partial": True})
    page = render_html(report)
    assert verdict(page)[2] == "Failed: <code>stuck_orders == 0</code>."
    assert "pause the embedded NATS server for 4 s (this stack did not start NATS)" in page
    assert '<div class="n">3</div><div>not started (submit failed)</div>' in page
    assert '<div class="n">7.25</div><div>sagas/s</div>' in page
    assert '<div class="n">0</div><div>lost</div>' in page
    assert '<div class="n">230 / 3100 / 3800 ms</div><div>latency p50 / p95 / p99</div>' in page
    assert '<td><code>audit == clean</code></td><td>hypothesis</td><td class="num">clean</td>' in page
    assert '<p class="note">12 orders still in flight were not checked</p>' in page
    assert len(figures(page)[0]["data"][0]["x"]) == 12  # the live partial window is left out


def test_no_windows_still_renders_the_plan_and_says_so() -> None:
    page = render_html(sample_report(windows=[]))
    drawn = figures(page)
    assert len(drawn) == 4
    for figure in drawn:
        assert all(trace["x"] == [] and trace["y"] == [] for trace in figure["data"])
        assert len(figure["layout"]["shapes"]) == 5
        assert "no windows were recorded" in [a["text"] for a in figure["layout"]["annotations"]]
        assert figure["layout"]["xaxis"]["range"] == [0, 120.0]


def test_a_window_with_no_latency_is_a_gap_not_a_zero() -> None:
    quiet = windows()
    quiet[2]["latency_ms"] = None
    quiet[5]["latency_ms"] = {"p50": None, "p95": None, "p99": None}
    latency = build_charts(sample_report(windows=quiet))[2]
    for trace in latency.data:
        assert trace["y"][2] is None and trace["y"][5] is None
        assert trace["y"][1] is not None
        assert trace.get("connectgaps") is not True
    render_html(sample_report(windows=quiet))


def test_windows_without_requests_say_so_on_the_error_chart() -> None:
    quiet = [{"start_s": 0.0, "end_s": 10.0, "offered_rate": 1.0, "started": 0}]
    errors = build_charts(sample_report(windows=quiet))[3]
    assert errors.data == []
    assert "no endpoint requests were recorded" in [a["text"] for a in errors.layout["annotations"]]


def test_a_bare_or_mistyped_report_renders_with_dashes() -> None:
    page = render_html({"schema_version": 1})
    assert verdict(page)[0] == "unknown"
    assert "unnamed scenario" in page and "No step ran." in page and "No audit was run." in page
    odd = sample_report(windows=[{"start_s": 0, "end_s": 10, "offered_rate": float("nan"), "started": "many"}, "x"],
                        plan=[{"start_s": "soon"}, None], checks="all", totals=[1, 2])  # fmt: skip
    drawn = figures(render_html(odd))
    assert drawn[0]["data"][0]["y"] == [None] and drawn[0]["data"][1]["y"] == [None]


HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)><a href="https://example.com">click</a>&amp;'


def test_every_string_from_the_report_is_escaped() -> None:
    report = sample_report(
        scenario={"name": HOSTILE, "description": HOSTILE, "seed": HOSTILE, "file": HOSTILE, "duration_s": 120.0},
        target=HOSTILE,
        started_at=HOSTILE,
        outcome={"verdict": "fail"},
        audit={"clean": False, "records": HOSTILE, "problems": [HOSTILE, {"kind": HOSTILE, "message": HOSTILE}]},
    )
    report["plan"][0] |= {"name": HOSTILE, "kind": HOSTILE, "detail": HOSTILE}
    report["steps"][0] |= {"name": HOSTILE, "kind": HOSTILE, "detail": HOSTILE, "status": HOSTILE}
    report["windows"][0]["error_rate"] = {HOSTILE: 0.5}
    report = with_check(report, expression=HOSTILE, value=HOSTILE, threshold=HOSTILE)
    page = render_html(report)

    # Outside plotly's own script, no tag of the report's survives: only the page's three scripts.
    before_plotly, _, rest = page.partition('<script type="application/json" id="figures">')
    figures_json, _, after = rest.partition("</script>")
    assert "<script" not in before_plotly and "<img" not in page and "<a href" not in before_plotly
    assert "<" not in figures_json and ">" not in figures_json and "&" not in figures_json
    assert after.count("<script>") == 2  # plotly.js, then the drawing code
    assert before_plotly.count(html.escape(HOSTILE)) >= 10
    # Plotly reads its labels as pseudo-HTML (a link would be live): they get the report's text escaped.
    drawn = figures(page)
    assert drawn[0]["layout"]["annotations"][0]["text"] == html.escape(HOSTILE, quote=False)
    assert drawn[3]["data"][0]["name"] == html.escape(HOSTILE, quote=False)


def test_the_page_asks_for_nothing_from_the_network() -> None:
    page = render_html(sample_report())
    assert "default-src 'none'" in page and "connect-src" not in page
    page_without_plotly = page[: page.index('<script type="application/json"')]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page_without_plotly)
    assert not re.search(r"<(link|iframe|object|embed)\b", page_without_plotly)


def test_the_command_renders_a_saved_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(sample_report()), encoding="utf-8")
    assert main([str(saved)]) == 0
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == render_html(sample_report())
    assert capsys.readouterr().out == f"wrote {tmp_path / 'report.html'}\n"
    assert main([str(saved), "-o", str(tmp_path / "other.html")]) == 0
    assert (tmp_path / "other.html").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "report.json: cannot read: No such file or directory"),
        ('{"schema_version": 1,\n "windows": [}', "report.json:2: not JSON: Expecting value"),
        ("[1, 2]", "report.json: not a report (the top level is not an object)"),
        ('{"schema_version": 2}', "report.json: schema_version 2: this version renders 1"),
    ],
)
def test_a_bad_file_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    saved = tmp_path / "report.json"
    if content is not None:
        saved.write_text(content, encoding="utf-8")
    assert main([str(saved)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}/{message}\n"
    assert not (tmp_path / "report.html").exists()
