"""Save the README's picture of a game-day report: report.html in Debian's headless Chromium.

Run from the repository root (needs `make test-browser`'s extra, playwright, and /usr/bin/chromium):

    .venv/bin/python docs/report_screenshot.py REPORT.json [-o docs/report.png]
    .venv/bin/python docs/report_screenshot.py --sample   # the tests' hand-made payment-brownout report

The page is rendered afresh from the report.json (so it shows the current page, not an old
report.html), opened from a file with every request refused, and shot once its charts are drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.scenarios.html_report import read_report, render_html  # noqa: E402
from tests.browser.chromium import launch  # noqa: E402

OUTPUT = ROOT / "docs" / "report.png"
VIEWPORT = {"width": 1280, "height": 900}


def shoot(report_html: Path, output: Path, full_page: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            page.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
            )
            page.goto(report_html.as_uri())
            page.wait_for_selector("body[data-charts]", timeout=30_000)
            page.screenshot(path=str(output), full_page=full_page)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot a scenario report for the README.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("report", nargs="?", type=Path, help="a report.json from `checkout scenario run --report DIR`")
    source.add_argument("--sample", action="store_true", help="use the tests' hand-made report")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    parser.add_argument("--viewport-only", action="store_true", help="only the first screen, not the whole page")
    args = parser.parse_args()
    if args.sample:
        from tests.support.scenario_report import sample_report

        report = json.loads(json.dumps(sample_report()))
    else:
        report = read_report(args.report)
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        shoot(page, args.output, full_page=not args.viewport_only)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
