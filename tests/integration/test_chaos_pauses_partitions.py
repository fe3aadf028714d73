"""Short chaos soaks of pauses and of partitions: 40 orders under faults and cancels, then every
order must end, with 0 drift, no effect twice, and the audit clean.

Pauses: each worker SIGSTOPped past every timeout (12 s), nats-server for 8 s, the Temporal
server for 12 s, each then SIGCONTed. Partitions: worker-0 reaches NATS and Temporal through
the loopback proxy while worker-1 talks to them directly; its links are blackholed, cut one
way, delayed and dropped (engine/disruptions.py has the plans). The third runs both plans
and the SIGKILLs of test_chaos_soak.py at once."""

from __future__ import annotations

import sys

import pytest

from engine.chaos import SoakOptions, SoakReport, run_soak
from engine.disruptions import PARTITION_PLAN, PAUSE_PLAN
from engine.processes import is_alive

pytestmark = pytest.mark.integration

ORDERS = 40


async def _soak(*, kills: bool = False, pauses: bool = False, partitions: bool = False) -> tuple[SoakReport, list[str]]:
    lines: list[str] = []
    options = SoakOptions(
        orders=ORDERS,
        rate=1,
        workers=2,
        kills=kills,
        pauses=pauses,
        partitions=partitions,
        fast_retries=True,
        drain_timeout_seconds=300,
    )
    report = await run_soak(options, worker_command=[sys.executable, "-m", "tui.cli"], observer=lines.append)
    return report, lines


def _assert_nothing_lost(report: SoakReport, lines: list[str]) -> None:
    audit = report.audit
    assert audit is not None
    details = [d.message for d in audit.discrepancies], report.chaos, lines
    assert (report.orders, report.ended, report.stuck) == (ORDERS, ORDERS, []), details
    assert report.by_status.get("COMPLETED", 0) > 0 and report.by_status.get("COMPENSATED", 0) > 0, details
    assert (report.money_drift_cents, report.stock_drift_units, report.double_effects) == (0, 0, 0), details
    assert audit.clean and audit.ended == ORDERS, details
    assert report.workers_running == 2, report.restarts
    assert not [pid for pid in report.pids if is_alive(pid)], "the soak left processes running"


async def test_nothing_is_lost_when_workers_and_servers_are_paused_past_every_timeout() -> None:
    report, lines = await _soak(pauses=True)
    assert len(report.chaos) == len(PAUSE_PLAN), report.chaos
    assert [line.strip().split("  ", 1)[1] for line in report.chaos] == [pause.label for pause in PAUSE_PLAN]
    _assert_nothing_lost(report, lines)


async def test_nothing_is_lost_when_a_worker_is_cut_from_nats_and_temporal() -> None:
    report, lines = await _soak(partitions=True)
    assert [line.strip().split("  ", 1)[1] for line in report.chaos] == [cut.label for cut in PARTITION_PLAN]
    # worker-0 really went through the proxy, and the drops made it connect again
    assert set(report.links) == {"nats", "temporal"}, report.links
    assert all(not summary.startswith(("0 ", "1 connection,")) for summary in report.links.values()), report.links
    _assert_nothing_lost(report, lines)


async def test_nothing_is_lost_under_kills_pauses_and_partitions_at_once() -> None:
    report, lines = await _soak(kills=True, pauses=True, partitions=True)
    assert len(report.chaos) == 5 + len(PAUSE_PLAN) + len(PARTITION_PLAN), report.chaos
    _assert_nothing_lost(report, lines)
