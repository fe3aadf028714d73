"""report.html in a real headless Chromium (Debian's, driven by Playwright): run by `make test-browser`.

The page is opened from a file with every other request refused and recorded: it must draw its
four charts with the plan's bands, show the verdict, log no console error and ask for nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine.scenarios.html_report import render_html
from tests.browser.chromium import CHROMIUM, launch
from tests.support.scenario_report import sample_report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.browser

CHART_IDS = ["chart-load", "chart-throughput", "chart-latency", "chart-errors"]


@dataclass
class Opened:
    page: Page
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # errors and warnings, as "type: text"
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def open_report(browser: Browser, tmp_path: Path, report: dict[str, Any]) -> Opened:
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    opened = Opened(page)

    def refuse_the_network(route: Route) -> None:
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            route.abort()

    page.on("request", lambda request: opened.requests.append(request.url))
    page.on(
        "console", lambda m: opened.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    page.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
    page.route("**/*", refuse_the_network)
    page.goto(path.as_uri())
    page.wait_for_selector('body[data-charts="4"]', timeout=30_000)
    return opened


def chart_parts(page: Page, chart_id: str) -> dict[str, int]:
    """How many of each drawn element plotly put in one chart."""
    counts: dict[str, int] = page.evaluate(
        """(id) => {
            const chart = document.getElementById(id);
            const count = (selector) => chart.querySelectorAll(selector).length;
            return {
                svg: count("svg.main-svg"),
                lines: count(".scatterlayer .trace path.js-line"),
                bars: count(".barlayer .trace .point"),
                bands: count(".layer-below .shapelayer path"),
                labels: count(".annotation"),
                legend: count(".legend .traces"),
            };
        }""",
        chart_id,
    )
    return counts


def test_the_report_draws_its_charts_and_verdict_offline(browser: Browser, tmp_path: Path) -> None:
    opened = open_report(browser, tmp_path, sample_report())
    page = opened.page
    try:
        assert opened.requests == [(tmp_path / "report.html").as_uri()], "the page asked for more than itself"
        assert opened.page_errors == []
        assert opened.console == []
        verdict = page.locator("#verdict")
        assert verdict.locator(".word").inner_text() == "PASS"
        assert verdict.is_visible() and verdict.bounding_box()["y"] < 100  # type: ignore[index]
        for chart_id in CHART_IDS:
            parts = chart_parts(page, chart_id)
            assert parts["svg"] >= 1, (chart_id, parts)
            assert parts["bands"] == 5, (chart_id, parts)  # four bands and the instant "clear" line
            assert parts["labels"] == 5, (chart_id, parts)
            assert parts["legend"] >= 3, (chart_id, parts)
        assert chart_parts(page, "chart-load")["lines"] == 3
        assert chart_parts(page, "chart-throughput")["bars"] == 4 * 12  # four outcomes, twelve windows
        assert chart_parts(page, "chart-latency")["lines"] == 3
        assert chart_parts(page, "chart-errors")["lines"] == 5
        assert page.locator("#chart-load .annotation").first.text_content() == "ramp to 8/s"
        assert page.locator("#checks tr").count() == 1 + 5
        assert page.locator("#steps tr").count() == 1 + 5
        assert "clean: 3412 records checked" in page.locator("#audit").inner_text()
    finally:
        page.close()


def test_a_failed_report_with_hostile_names_shows_them_as_text(browser: Browser, tmp_path: Path) -> None:
    hostile = '<img src=x onerror=alert(1)><script>alert(2)</script><a href="https://example.com/">x</a>'
    report = sample_report(outcome={"verdict": "fail", "aborted_by": None, "stopped_at_s": None}, windows=[])
    report["scenario"]["name"] = hostile
    report["plan"][0]["name"] = hostile
    report["checks"].append({"expression": hostile, "kind": "hypothesis", "passed": False, "value": 1.0,
                             "threshold": 0.0, "first_failed_s": 12.0})  # fmt: skip
    opened = open_report(browser, tmp_path, report)
    page = opened.page
    try:
        assert opened.dialogs == []
        assert opened.requests == [(tmp_path / "report.html").as_uri()]
        assert opened.page_errors == [] and opened.console == []
        assert page.locator("#verdict .word").inner_text() == "FAIL"
        assert hostile in page.locator("#verdict .why").inner_text()
        assert page.locator("h1").inner_text() == hostile
        assert page.locator("main img, main a, main script").count() == 0
        # In plotly's labels too: the text is shown, no link is made.
        assert page.locator("#chart-load .annotation").first.text_content() == hostile
        assert page.locator(".chart a").count() == 0
        for chart_id in CHART_IDS:
            assert chart_parts(page, chart_id)["svg"] >= 1
    finally:
        page.close()
