"""The short power-cut soak: 40 orders under faults and cancels, the servers' data on a disk that
loses un-fsynced writes, the power cut 3 times at random moments (every process SIGKILLed, the
unsynced writes lost, everything started again); then every order must end and the audit be clean.

The process kills of the chaos soak are left to test_chaos_soak.py: here only the cuts disrupt."""

from __future__ import annotations

import random
import sys

import pytest

from engine.chaos import SoakOptions, run_soak
from engine.processes import is_alive
from tests.support.lazyfs import LazyFs

pytestmark = pytest.mark.integration


async def test_nothing_is_lost_when_the_power_is_cut_three_times(lazy_disk: LazyFs) -> None:
    seed = random.randrange(1_000_000)  # in the failure details, to replay the moments of the cuts
    lines: list[str] = [f"seed {seed}"]
    options = SoakOptions(
        orders=40, rate=4, workers=2, kills=False, power_cuts=3, fast_retries=True, drain_timeout_seconds=180, seed=seed
    )
    report = await run_soak(
        options, worker_command=[sys.executable, "-m", "tui.cli"], observer=lines.append, disk=lazy_disk
    )
    audit = report.audit
    assert audit is not None
    details = [d.message for d in audit.discrepancies], report.chaos, lines
    assert report.power_cuts == 3 and lazy_disk.cuts == 3, details
    assert (report.orders, report.ended, report.stuck) == (40, 40, []), details
    assert report.failed_calls == [], details
    assert report.by_status.get("COMPLETED", 0) > 0 and report.by_status.get("COMPENSATED", 0) > 0, details
    assert (report.money_drift_cents, report.stock_drift_units, report.double_effects) == (0, 0, 0), details
    assert audit.clean and audit.ended == 40, details
    assert not [pid for pid in report.pids if is_alive(pid)], "the soak left processes running"
