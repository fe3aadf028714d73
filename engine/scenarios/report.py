"""What a scenario run found (report.json, schema_version 1), and where it is written.

    write_report(Path("reports/run-1"), report)   # report.json, and report.html beside it

Times `*_s` are seconds since the run's start. Endpoints are named as the services name
them (engine.models.ServiceName: inventory, restock, payment, refund, shipping).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.errors import InvalidInput

SCHEMA_VERSION = 1
StepStatus = Literal["pending", "running", "done", "refused", "skipped", "cancelled"]
Verdict = Literal["pass", "fail", "aborted", "stopped"]


class ScenarioInfo(BaseModel):
    name: str
    description: str = ""
    seed: int = 0
    file: str | None = None
    duration_s: float


class PlannedStepRecord(BaseModel):
    index: int
    name: str
    kind: str
    start_s: float
    end_s: float | None
    lane: int
    detail: str


class StepRecord(BaseModel):
    index: int
    name: str
    kind: str
    planned_start_s: float
    started_s: float | None = None
    ended_s: float | None = None
    status: StepStatus = "pending"
    detail: str = ""
    note: str | None = None  # why it was refused or skipped, when it was


class Percentiles(BaseModel):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class WindowFigures(BaseModel):
    """One 10 s window (the last may be shorter): orders by the moment they started or ended in it."""

    start_s: float
    end_s: float
    offered_rate: float = 0.0  # orders per second the load asked for in this window
    started: int = 0
    completed: int = 0
    compensated: int = 0  # compensated for a cause other than the scenario's own cancel
    cancelled: int = 0  # compensated because the scenario cancelled them
    failed: int = 0
    in_flight: int = 0  # at the window's end
    latency_ms: Percentiles | None = None  # of the sagas that ended in the window; None when none did
    requests: dict[str, int] = Field(default_factory=dict)
    errors: dict[str, int] = Field(default_factory=dict)
    lost_replies: dict[str, int] = Field(default_factory=dict)
    error_rate: dict[str, float] = Field(default_factory=dict)
    partial: bool = False  # the live window of the current second, not closed yet


class CheckResult(BaseModel):
    expression: str
    kind: Literal["hypothesis", "abort_when"]
    passed: bool | None  # None while the figure is not known yet; abort_when: passed = did not fire
    value: float | None
    threshold: float | None
    first_failed_s: float | None = None


class Outcome(BaseModel):
    verdict: Verdict
    aborted_by: str | None = None
    stopped_at_s: float | None = None
    failed_checks: list[str] = Field(default_factory=list)


class Totals(BaseModel):
    started: int = 0
    completed: int = 0
    compensated: int = 0
    cancelled: int = 0
    failed: int = 0
    stuck: int = 0
    lost: int = 0
    submit_failures: int = 0  # orders the driver could not start (they never existed)
    latency_ms: Percentiles = Field(default_factory=Percentiles)
    throughput: float | None = None


class AuditSummary(BaseModel):
    clean: bool
    records: int = 0
    problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ScenarioReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    scenario: ScenarioInfo
    started_at: str
    ended_at: str
    target: Literal["embedded", "attached"]
    plan: list[PlannedStepRecord] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    windows: list[WindowFigures] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    outcome: Outcome
    totals: Totals = Field(default_factory=Totals)
    audit: AuditSummary | None = None

    @property
    def passed(self) -> bool:
        return self.outcome.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def write_report(directory: Path, report: ScenarioReport) -> list[Path]:
    """Write `report.json` and `report.html` into `directory`,
    creating it; returns the files written, or raises InvalidInput naming the directory."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        data = report.to_json()
        written = [directory / "report.json"]
        written[0].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        from engine.scenarios.html_report import render_html  # plotly is heavy: only when a report is written

        html = directory / "report.html"
        html.write_text(render_html(data), encoding="utf-8")
        written.append(html)
        return written
    except OSError as error:
        raise InvalidInput(f"--report {directory}: {error.strerror or error}") from None
