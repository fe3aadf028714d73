"""The short chaos soak: 60 orders under faults (a tenth of the replies lost too) and cancels, each
kind of process SIGKILLed once (a worker, nats-server, the Temporal server), then every order must
end and the audit be clean."""

from __future__ import annotations

import sys

import pytest

from engine.chaos import SoakOptions, run_soak
from engine.processes import is_alive

pytestmark = pytest.mark.integration


async def test_nothing_is_lost_when_every_kind_of_process_is_killed() -> None:
    lines: list[str] = []
    report = await run_soak(
        SoakOptions(orders=60, rate=4, workers=2, fast_retries=True, drain_timeout_seconds=180, lost_reply_rate=0.1),
        worker_command=[sys.executable, "-m", "tui.cli"],
        observer=lines.append,
    )
    audit = report.audit
    assert audit is not None
    details = [d.message for d in audit.discrepancies], report.chaos, lines
    assert len(report.chaos) == 5, details  # worker, nats, worker, temporal, worker
    assert (report.orders, report.ended, report.stuck) == (60, 60, []), details
    assert report.by_status.get("COMPLETED", 0) > 0 and report.by_status.get("COMPENSATED", 0) > 0, details
    assert (report.money_drift_cents, report.stock_drift_units, report.double_effects) == (0, 0, 0), details
    assert report.lost_replies > 0, details  # effects applied whose replies never came: still exactly once
    assert audit.clean and audit.ended == 60, details
    assert not [pid for pid in report.pids if is_alive(pid)], "the soak left processes running"
