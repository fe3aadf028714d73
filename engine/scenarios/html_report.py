"""report.html from a scenario's report.json: one self-contained page that opens with no network.

`render_html(report)` takes the report as a plain dict (a run's, or a saved report.json read
back), so it renders whatever a file holds: missing or mistyped parts show as "-", never as a
traceback. Every string from the report is escaped (scenario and step names come from files
users write), and a Content-Security-Policy forbids the page any request at all.

The charts are plotly.js, inlined whole from the plotly wheel: it is pure Python (no compiled
extension, no numpy), it carries its JavaScript so nothing is fetched at run time, and the
reader gets hover read-outs per window, zoom into a step and series toggles for free. The
cost is size: about 4.8 MB of script per report. matplotlib's SVG would be small but static
and pulls numpy and pillow; vl-convert's Vega bundle is 0.9 MB but a 33 MB native wheel per
platform with a JavaScript engine inside.

    python -m engine.scenarios.html_report report.json [-o report.html]
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from engine.errors import InvalidInput

SCHEMA_VERSION = 1
VERDICTS = {
    "pass": "PASS",
    "fail": "FAIL",
    "aborted": "ABORTED",
    "stopped": "STOPPED",
}
OUTCOME_COLOURS = {
    "completed": "#2e7d32",
    "compensated": "#ef6c00",
    "cancelled": "#757575",
    "failed": "#c62828",
}
PERCENTILES = (("p50", "#1565c0"), ("p95", "#ef6c00"), ("p99", "#c62828"))
BAND_COLOURS = ("#7e57c2", "#26a69a", "#ffa726", "#ec407a", "#5c6bc0", "#8d6e63")
NOT_RUN = ("refused", "skipped", "pending")
# Plan steps whose end_s None means "in force until a clear_faults step or the run's end", not an instant.
UNTIL_CLEARED = ("faults", "preset")
LABEL_ROW_PX = 16
# The page may run its own inline script and styles, and show images it holds; nothing else.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
DASH = "-"


@dataclass(frozen=True)
class Chart:
    """One plotly chart: the element id it is drawn into, its traces and its layout."""

    element_id: str
    title: str
    data: list[dict[str, Any]]
    layout: dict[str, Any]


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report.html for `report` (report.json's content, schema_version 1)."""
    scenario = _mapping(report.get("scenario"))
    name = _text(scenario.get("name"), "unnamed scenario")
    charts = build_charts(report)
    body = "\n".join(
        [
            _verdict_section(report),
            _scenario_section(report),
            _totals_section(report),
            _checks_section(report),
            '<section><h2>Over time</h2><p class="note">Each point is one window of the run; the bands are the '
            "plan's steps (hover a label for its detail).</p>",
            *(f'<div class="chart" id="{chart.element_id}"></div>' for chart in charts),
            "</section>",
            _steps_section(report),
            _audit_section(report),
        ]
    )
    figures = [{"id": c.element_id, "data": c.data, "layout": c.layout} for c in charts]
    return PAGE.format(
        csp=CSP,
        title=_esc(f"{name}: {_verdict_word(report)}"),
        style=STYLE,
        body=body,
        figures=_script_json(figures),
        plotly=_plotly_js(),
        draw=DRAW,
    )


def build_charts(report: Mapping[str, Any]) -> list[Chart]:
    """The four charts over time, each with the plan's steps drawn as labelled bands."""
    # A partial window is the live one of a run still going: a finished report's closed windows cover it.
    windows = [w for w in _list(report.get("windows")) if _num(w.get("start_s")) is not None and not w.get("partial")]
    bands, labels = _bands(report)
    marker, marker_label = _stop_marker(report)
    frame = _Frame(windows, bands + marker, labels + marker_label, _run_end(report, windows))
    return [
        frame.chart(
            "chart-load",
            "Load",
            [
                _line(
                    "offered rate", [_num(w.get("offered_rate")) for w in windows], "#1565c0", "orders/s", dash="dash"
                ),
                _line("started", [_per_second(w, "started") for w in windows], "#2e7d32", "orders/s"),
                _line("in flight", [_num(w.get("in_flight")) for w in windows], "#9e9e9e", "orders", yaxis="y2"),
            ],
            {"title": {"text": "orders/s"}},
            yaxis2={"title": {"text": "in flight"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
        ),
        frame.chart(
            "chart-throughput",
            "Throughput by outcome",
            [
                {
                    "type": "bar",
                    "name": outcome,
                    "y": [_per_second(w, outcome) for w in windows],
                    "width": [_width(w) for w in windows],
                    "marker": {"color": colour},
                    "unit": "orders/s",
                }
                for outcome, colour in OUTCOME_COLOURS.items()
            ],
            {"title": {"text": "orders ended /s"}},
            barmode="stack",
        ),
        frame.chart(
            "chart-latency",
            "Latency percentiles (sagas that ended in the window)",
            [
                _line(p, [_num(_mapping(w.get("latency_ms")).get(p)) for w in windows], colour, "ms")
                for p, colour in PERCENTILES
            ],
            {"title": {"text": "ms"}},
        ),
        _error_chart(frame),
    ]


@dataclass(frozen=True)
class _Frame:
    """What every chart shares: the windows (a point at each one's middle), the steps' bands and
    labels, and the time axis from 0 to the run's end."""

    windows: list[Mapping[str, Any]]
    bands: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    end: float

    def chart(self, element_id: str, title: str, data: list[dict[str, Any]], y: dict[str, Any], **extra: Any) -> Chart:
        for trace in data:
            trace["x"] = [_midpoint(w) for w in self.windows]
            unit = trace.pop("unit", "")
            trace.setdefault("hovertemplate", f"%{{y}} {unit}<extra>{trace['name']}</extra>")
        label_top = max((label.get("yshift", 0) for label in self.labels), default=0)
        layout = {
            "title": {
                "text": title,
                "x": 0,
                "xanchor": "left",
                "yref": "container",
                "y": 1,
                "yanchor": "top",
                "pad": {"t": 10, "l": 10},
            },  # fmt: skip
            "height": 310 + label_top,
            "margin": {"l": 60, "r": 60, "t": 40 + label_top, "b": 90},
            "hovermode": "x unified",
            "xaxis": {
                "title": {"text": "seconds since start (a point is the middle of its window)"},
                "range": [0, self.end],
                "zeroline": False,
            },
            "yaxis": {"rangemode": "tozero", **y},
            "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
            "shapes": list(self.bands),
            "annotations": [*self.labels, *([] if self.windows else [_no_data("no windows were recorded")])],
            **extra,
        }
        return Chart(element_id, title, data, layout)


def _error_chart(frame: _Frame) -> Chart:
    windows = frame.windows
    endpoints = sorted({str(e) for w in windows for e in _mapping(w.get("error_rate"))})
    traces = []
    for endpoint in endpoints:
        trace = _line(endpoint, [_num(_mapping(w.get("error_rate")).get(endpoint)) for w in windows], None, "")
        # The counts behind the rate, and the lost replies (applied, never answered), in the hover.
        trace["customdata"] = [
            [_count(w, key, endpoint) for key in ("errors", "requests", "lost_replies")] for w in windows
        ]
        trace["hovertemplate"] = (
            "%{y:.1%} (%{customdata[0]} of %{customdata[1]}; %{customdata[2]} lost replies)"
            f"<extra>{trace['name']}</extra>"
        )
        traces.append(trace)
    built = frame.chart("chart-errors", "Error rate per endpoint", traces, {"title": {"text": "errors / requests"}})
    built.layout["yaxis"] |= {"tickformat": ".0%", "range": [0, 1.05], "rangemode": "normal"}
    if windows and not endpoints:
        built.layout["annotations"].append(_no_data("no endpoint requests were recorded"))
    return built


def _count(window: Mapping[str, Any], key: str, endpoint: str) -> int:
    return int(_num(_mapping(window.get(key)).get(endpoint)) or 0)


def _line(name: str, y: list[float | None], colour: str | None, unit: str, **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"width": 2, **({"dash": extra.pop("dash")} if "dash" in extra else {})}
    if colour:
        line["color"] = colour
    # A window with no figure (null) stays a gap: no line is drawn through what was not measured.
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": _plotly_text(name),
        "y": y,
        "line": line,
        "unit": unit,
    } | extra


def _bands(report: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plotly shapes (a band per step with a duration, a line for an instant one) and their labels."""
    status_of = {s.get("index"): _text(s.get("status"), "") for s in _list(report.get("steps"))}
    shapes: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    kinds: dict[str, int] = {}
    run_end = _run_end(report, [])
    rows = _LabelRows(run_end)
    plan = _list(report.get("plan"))
    for step in plan:
        start = _num(step.get("start_s"))
        if start is None:
            continue
        end = _num(step.get("end_s"))
        if end is None and step.get("kind") in UNTIL_CLEARED:
            end = _next_clear(plan, start, run_end)
        kind = _text(step.get("kind"), "step")
        colour = BAND_COLOURS[kinds.setdefault(kind, len(kinds)) % len(BAND_COLOURS)]
        status = status_of.get(step.get("index"), "")
        ran = status not in NOT_RUN
        lane = int(_num(step.get("lane")) or 0)
        common = {"xref": "x", "yref": "paper", "x0": start, "y0": 0, "y1": 1, "layer": "below"}
        if end is not None and end > start:
            shapes.append(
                common
                | {
                    "type": "rect",
                    "x1": end,
                    "fillcolor": colour if ran else "#bdbdbd",
                    "opacity": 0.16 if ran else 0.12,
                    "line": {"width": 0 if ran else 1, "dash": "dot", "color": "#757575"},
                }
            )
        else:
            shapes.append(common | {"type": "line", "x1": start, "line": {"color": colour, "width": 2, "dash": "dot"}})
        name = _text(step.get("name"), kind)
        suffix = f" ({status})" if status in (*NOT_RUN, "cancelled") else ""
        labels.append(
            {
                "xref": "x",
                "yref": "paper",
                "x": start,
                "y": 1.0,
                "yshift": LABEL_ROW_PX * (1 + rows.place(start, name + suffix, lane)),
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "text": _plotly_text(name + suffix),
                "hovertext": _plotly_text(f"{name}: {_text(step.get('detail'), kind)}{suffix}"),
                "font": {"size": 11, "color": colour if ran else "#757575"},
            }
        )
    return shapes, labels


class _LabelRows:
    """Rows for the steps' labels above a chart: a step's label goes in the first row, from its lane
    up, that is free where the label starts, so labels of steps close in time do not overlap."""

    CHAR_SECONDS_PER_SECOND = 7 / 1000  # a character is about 7 px of a plot about 1000 px wide

    def __init__(self, end_s: float) -> None:
        self.char_s = end_s * self.CHAR_SECONDS_PER_SECOND
        self.free_from: list[float] = []

    def place(self, start_s: float, text: str, lane: int) -> int:
        row = max(lane, 0)
        while row < len(self.free_from) and self.free_from[row] > start_s:
            row += 1
        self.free_from += [float("-inf")] * (row + 1 - len(self.free_from))
        self.free_from[row] = start_s + (len(text) + 2) * self.char_s
        return row


def _next_clear(plan: list[Mapping[str, Any]], after_s: float, run_end: float) -> float:
    """When the first clear_faults step after `after_s` starts (whichever endpoints it clears), or the run's end."""
    clears = [_num(s.get("start_s")) for s in plan if s.get("kind") == "clear_faults"]
    return min([c for c in clears if c is not None and c > after_s] + [run_end])


def _stop_marker(report: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A red line where an aborted or stopped run stopped starting orders (none for pass or fail)."""
    outcome = _mapping(report.get("outcome"))
    verdict = outcome.get("verdict")
    if verdict not in ("aborted", "stopped"):
        return [], []
    at = _num(outcome.get("stopped_at_s"))
    if at is None and verdict == "aborted":
        at = _first_failed(_list(report.get("checks")), outcome.get("aborted_by"))
    if at is None:
        return [], []
    line = {"type": "line", "xref": "x", "yref": "paper", "x0": at, "x1": at, "y0": 0, "y1": 1,
            "line": {"color": "#c62828", "width": 2}}  # fmt: skip
    label = {"xref": "x", "yref": "paper", "x": at, "y": 1, "xanchor": "right", "yanchor": "top", "showarrow": False,
             "text": f"{verdict} at {_seconds(at)} s", "font": {"size": 11, "color": "#c62828"}}  # fmt: skip
    return [line], [label]


def _no_data(text: str) -> dict[str, Any]:
    return {"xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False, "text": text}


def _verdict_section(report: Mapping[str, Any]) -> str:
    outcome = _mapping(report.get("outcome"))
    verdict = _text(outcome.get("verdict"), "unknown")
    checks = _list(report.get("checks"))
    if verdict == "pass":
        why = "Every check held."
    elif verdict == "fail":
        failed = _list_any(outcome.get("failed_checks")) or [
            c.get("expression") for c in checks if c.get("passed") is False and c.get("kind") != "abort_when"
        ]
        names = ", ".join(f"<code>{_esc(expression)}</code>" for expression in failed)
        why = f"Failed: {names}." if failed else "The hypothesis did not hold."
    elif verdict == "aborted":
        at = _first_failed(checks, outcome.get("aborted_by"))
        why = f"Aborted by <code>{_esc(_text(outcome.get('aborted_by'), 'an abort check'))}</code>" + (
            f" at {_seconds(at)} s." if at is not None else "."
        )
    elif verdict == "stopped":
        at = outcome.get("stopped_at_s")
        why = "Stopped by the operator" + (f" at {_seconds(at)} s." if _num(at) is not None else ".")
    else:
        why = "The report holds no verdict this page knows."
    css = verdict if verdict in VERDICTS else "unknown"
    word = _esc(VERDICTS.get(verdict, verdict.upper()))
    return (
        f'<section class="verdict {css}" id="verdict">'
        f'<div class="word">{word}</div><div class="why">{why}</div></section>'
    )


def _scenario_section(report: Mapping[str, Any]) -> str:
    scenario = _mapping(report.get("scenario"))
    rows = [
        ("seed", scenario.get("seed")),
        ("file", scenario.get("file")),
        ("target", report.get("target")),
        ("started", report.get("started_at")),
        ("ended", report.get("ended_at")),
        ("planned duration", f"{_seconds(scenario.get('duration_s'))} s"),
    ]
    facts = "".join(f"<dt>{label}</dt><dd>{_esc(_shown(value))}</dd>" for label, value in rows)
    return (
        f"<header><h1>{_esc(_text(scenario.get('name'), 'unnamed scenario'))}</h1>"
        f'<p class="description">{_esc(_text(scenario.get("description"), ""))}</p>'
        f'<dl class="facts">{facts}</dl></header>'
    )


def _totals_section(report: Mapping[str, Any]) -> str:
    totals = _mapping(report.get("totals"))
    latency = _mapping(totals.get("latency_ms"))
    cards = [(key, _shown(totals.get(key))) for key in ("started", "completed", "compensated", "cancelled", "failed")]
    cards += [(key, _shown(totals.get(key))) for key in ("stuck", "lost") if key == "stuck" or key in totals]
    if _num(totals.get("submit_failures")):
        cards.append(("not started (submit failed)", _shown(totals.get("submit_failures"))))
    if _num(totals.get("throughput")) is not None:
        cards.append(("sagas/s", _shown(totals.get("throughput"))))
    cards.append(("latency p50 / p95 / p99", " / ".join(_shown(latency.get(p)) for p, _ in PERCENTILES) + " ms"))
    items = "".join(f'<div class="card"><div class="n">{_esc(v)}</div><div>{_esc(k)}</div></div>' for k, v in cards)
    return f'<section><h2>Totals</h2><div class="cards">{items}</div></section>'


def _checks_section(report: Mapping[str, Any]) -> str:
    rows = []
    for check in _list(report.get("checks")):
        abort = check.get("kind") == "abort_when"
        passed = check.get("passed")
        if passed is None:
            result, css = "not evaluated", "unknown"
        elif abort:
            result, css = ("did not fire", "pass") if passed else ("FIRED", "fail")
        else:
            result, css = ("pass", "pass") if passed else ("FAIL", "fail")
        first = check.get("first_failed_s")
        rows.append(
            f"<tr><td><code>{_esc(check.get('expression'))}</code></td>"
            f"<td>{'abort when' if abort else 'hypothesis'}</td>"
            f'<td class="num">{_esc(_figure(check))}</td>'
            f'<td class="num">{_esc(_shown(check.get("threshold")))}</td>'
            f'<td class="num">{_esc(_seconds(first) if _num(first) is not None else DASH)}</td>'
            f'<td class="result {css}">{result}</td></tr>'
        )
    if not rows:
        return '<section><h2>Checks</h2><p class="note">This scenario has no checks.</p></section>'
    head = (
        "<tr><th>check</th><th>kind</th><th>figure</th><th>threshold</th><th>first failed (s)</th><th>result</th></tr>"
    )
    return f'<section><h2>Checks</h2><table id="checks">{head}{"".join(rows)}</table></section>'


def _figure(check: Mapping[str, Any]) -> str:
    """The check's figure; the audit's is 1 for clean and 0 for not."""
    value = check.get("value")
    if str(check.get("expression", "")).startswith("audit") and value in (0, 1):
        return "clean" if value == 1 else "not clean"
    return _shown(value)


def _steps_section(report: Mapping[str, Any]) -> str:
    rows = []
    for step in _list(report.get("steps")):
        status = _text(step.get("status"), DASH)
        rows.append(
            f'<tr><td class="num">{_esc(_shown(step.get("index")))}</td><td>{_esc(_shown(step.get("name")))}</td>'
            f"<td>{_esc(_shown(step.get('kind')))}</td><td>{_esc(_step_detail(step))}</td>"
            + "".join(
                f'<td class="num">{_esc(_seconds(step.get(key), digits))}</td>'
                for key, digits in (("planned_start_s", 1), ("started_s", 2), ("ended_s", 2))
            )
            + f'<td class="status {_esc(status) if status.isalpha() else ""}">{_esc(status)}</td></tr>'
        )
    if not rows:
        return '<section><h2>Steps</h2><p class="note">No step ran.</p></section>'
    head = (
        "<tr><th>#</th><th>step</th><th>kind</th><th>detail</th><th>planned (s)</th><th>started (s)</th>"
        "<th>ended (s)</th><th>status</th></tr>"
    )
    return f'<section><h2>Steps</h2><table id="steps">{head}{"".join(rows)}</table></section>'


def _step_detail(step: Mapping[str, Any]) -> str:
    detail, note = _text(step.get("detail"), DASH), step.get("note")
    return f"{detail} ({note})" if isinstance(note, str) and note else detail


def _audit_section(report: Mapping[str, Any]) -> str:
    audit = _mapping(report.get("audit"))
    if not audit:
        return '<section id="audit"><h2>Audit</h2><p class="note">No audit was run.</p></section>'
    problems = _list_any(audit.get("problems"))
    clean = audit.get("clean") is True and not problems
    summary = (
        f'<p class="result {"pass" if clean else "fail"}">{"clean" if clean else "NOT clean"}: '
        f"{_esc(_shown(audit.get('records')))} records checked, {len(problems)} problem(s).</p>"
    )
    items = "".join(f"<li>{_esc(_problem(p))}</li>" for p in problems)
    notes = "".join(f'<p class="note">{_esc(note)}</p>' for note in _list_any(audit.get("notes")))
    return f'<section id="audit"><h2>Audit</h2>{summary}{f"<ul>{items}</ul>" if items else ""}{notes}</section>'


def _problem(problem: Any) -> str:
    if isinstance(problem, Mapping):
        message = _text(problem.get("message"), json.dumps(problem, default=str))
        return f"{problem['kind']}: {message}" if "kind" in problem else message
    return str(problem)


def _first_failed(checks: list[Mapping[str, Any]], expression: Any) -> float | None:
    for check in checks:
        if check.get("expression") == expression:
            return _num(check.get("first_failed_s"))
    return None


def _verdict_word(report: Mapping[str, Any]) -> str:
    verdict = _text(_mapping(report.get("outcome")).get("verdict"), "unknown")
    return VERDICTS.get(verdict, verdict.upper())


def _run_end(report: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> float:
    ends = [_num(w.get("end_s")) for w in windows]
    ends += [_num(_mapping(report.get("scenario")).get("duration_s"))]
    for step in _list(report.get("plan")):
        ends += [_num(step.get("start_s")), _num(step.get("end_s"))]
    return max([e for e in ends if e is not None] + [10.0])


def _midpoint(window: Mapping[str, Any]) -> float:
    start = _num(window.get("start_s")) or 0.0
    return start + _width(window) / 2


def _width(window: Mapping[str, Any]) -> float:
    start, end = _num(window.get("start_s")), _num(window.get("end_s"))
    return end - start if start is not None and end is not None and end > start else 10.0


def _per_second(window: Mapping[str, Any], key: str) -> float | None:
    count = _num(window.get(key))
    return None if count is None else round(count / _width(window), 3)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, Sequence) else []


def _list_any(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _shown(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"  # 12143 ms, not 1.214e+04
    return str(value)


def _seconds(value: Any, digits: int = 1) -> str:
    number = _num(value)
    return DASH if number is None else f"{number:.{digits}f}"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _plotly_text(value: str) -> str:
    """Text for plotly, which reads tags in labels and names (a link would be live) and decodes only
    the `&lt;`, `&gt;` and `&amp;` entities."""
    return html.escape(value, quote=False)


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `</script>`, `<!--` or `&` can close or alter it."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plotly_js() -> str:
    script: str = get_plotlyjs()
    return script


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
{body}
</main>
<script type="application/json" id="figures">{figures}</script>
<script>{plotly}</script>
<script>{draw}</script>
</body>
</html>
"""

DRAW = """
(function () {
  const figures = JSON.parse(document.getElementById("figures").textContent);
  const config = {displaylogo: false, responsive: true};
  Promise.all(figures.map((f) => Plotly.newPlot(f.id, f.data, f.layout, config))).then(() => {
    document.body.dataset.charts = String(figures.length);
  });
})();
"""

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212121; margin: 0;
  background: #fafafa; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { margin: 8px 0 4px; font-size: 1.6em; word-break: break-word; }
h2 { font-size: 1.15em; margin: 28px 0 8px; border-bottom: 1px solid #e0e0e0; padding-bottom: 4px; }
.description { margin: 0 0 8px; color: #424242; white-space: pre-wrap; word-break: break-word; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 0.92em; }
.facts dt { color: #757575; } .facts dd { margin: 0; word-break: break-all; }
.verdict { border-radius: 8px; padding: 18px 24px; margin: 8px 0 16px; color: white; }
.verdict .word { font-size: 3em; font-weight: 800; letter-spacing: 0.06em; line-height: 1; }
.verdict .why { font-size: 1.15em; margin-top: 8px; word-break: break-word; }
.verdict code { background: rgba(255, 255, 255, 0.2); padding: 1px 6px; border-radius: 4px; }
.verdict.pass { background: #2e7d32; } .verdict.fail { background: #c62828; }
.verdict.aborted { background: #ad1457; } .verdict.stopped { background: #616161; }
.verdict.unknown { background: #455a64; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { background: white; border: 1px solid #e0e0e0; border-radius: 6px; padding: 8px 14px; min-width: 90px;
  font-size: 0.85em; color: #616161; }
.card .n { font-size: 1.5em; color: #212121; font-weight: 600; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 0.92em; }
th, td { border: 1px solid #e0e0e0; padding: 5px 8px; text-align: left; vertical-align: top;
  word-break: break-word; }
th { background: #f5f5f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.result.pass { color: #2e7d32; font-weight: 600; } .result.fail { color: #c62828; font-weight: 700; }
.result.unknown, .status.skipped, .status.cancelled { color: #757575; }
.status.refused { color: #c62828; }
.chart { background: white; border: 1px solid #e0e0e0; border-radius: 6px; margin: 10px 0; min-height: 330px; }
.note { color: #757575; font-size: 0.9em; }
code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; }
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Re-render a saved report.json; a bad file is one line on stderr and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m engine.scenarios.html_report", description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, help="a report.json written by `checkout scenario run --report DIR`")
    parser.add_argument("-o", "--output", type=Path, help="where to write the page (default: report.html beside it)")
    args = parser.parse_args(argv)
    output: Path = args.output or args.report.with_name("report.html")
    try:
        report = read_report(args.report)
        page = render_html(report)
        try:
            output.write_text(page, encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"{output}: cannot write: {error.strerror or error}") from error
    except InvalidInput as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    print(f"wrote {output}")
    return 0


def read_report(path: Path) -> Mapping[str, Any]:
    """report.json's content, or InvalidInput naming the file and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvalidInput(f"{path}: cannot read: {reason}") from error
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{path}:{error.lineno}: not JSON: {error.msg}") from error
    if not isinstance(report, dict):
        raise InvalidInput(f"{path}: not a report (the top level is not an object)")
    version = report.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidInput(f"{path}: schema_version {version!r}: this version renders {SCHEMA_VERSION}")
    return report


if __name__ == "__main__":
    sys.exit(main())
