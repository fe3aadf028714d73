"""The chaos soak: orders under faults, cancels and SIGKILLs of workers, NATS and Temporal; then the audit.

    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8               # kills
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --pauses      # SIGSTOP/SIGCONT only
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --partitions  # worker-0's links cut only
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --lost-replies  # 0.1 of replies lost too
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --everything  # all of them at once
    .venv/bin/python benchmarks/chaos_soak.py --everything --long                 # pauses and cuts of 30-60 s
    .venv/bin/python benchmarks/chaos_soak.py --power-cut --orders 200            # 5 power cuts beside the kills
    .venv/bin/python benchmarks/chaos_soak.py --power-cut --unsafe-settings --orders 200   # must show losses
    .venv/bin/python benchmarks/chaos_soak.py --everything --power-cut            # every kind of failure

Prints figures (orders, ended, stuck, money drift, stock drift, double effects, time to
drain after the last fault) and every discrepancy the audit finds; exit 0 when clean.
See engine/chaos.py for what it does. `--power-cut` puts the servers' data on a FUSE
filesystem that loses un-fsynced writes (tests/support/lazyfs.py; needs Debian's fuse3
and root) and cuts the power that many times.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support.lazyfs

from engine.chaos import SoakOptions, SoakReport, run_soak
from tests.support.lazyfs import LazyFs, unavailable

DEFAULT_LOST_REPLY_RATE = 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rate", type=float, default=8.0, help="orders per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-kills", action="store_true", help="faults and cancels only")
    parser.add_argument("--kills", action="store_true", help="SIGKILLs too, with --pauses or --partitions")
    parser.add_argument("--pauses", action="store_true", help="SIGSTOP workers and servers past every timeout")
    parser.add_argument("--partitions", action="store_true", help="cut worker-0's links to NATS and Temporal")
    parser.add_argument(
        "--lost-replies",
        type=float,
        nargs="?",
        const=DEFAULT_LOST_REPLY_RATE,
        default=None,
        metavar="RATE",
        help=f"lose that share of the services' replies on every endpoint (default {DEFAULT_LOST_REPLY_RATE:g})",
    )
    parser.add_argument(
        "--everything", action="store_true", help="kills, pauses, partitions and lost replies (unless --lost-replies 0)"
    )
    parser.add_argument("--long", action="store_true", help="pauses and partitions of 30-60 s (engine/disruptions.py)")
    parser.add_argument("--fast-retries", action="store_true", help="shorter backoffs (the test suite's setting)")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--drain-timeout", type=float, default=420.0, help="seconds to wait for every order to end (default 420)"
    )
    parser.add_argument(
        "--power-cut",
        type=int,
        nargs="?",
        const=5,
        default=0,
        metavar="N",
        help="cut the power N times (default 5) at random moments, on a disk that loses unsynced writes",
    )
    parser.add_argument(
        "--unsafe-settings",
        action="store_true",
        help="run the servers with embedded.durable false (writes acknowledged before fsync)",
    )
    args = parser.parse_args()
    if args.power_cut < 0:
        parser.error("--power-cut needs a number of cuts >= 0")
    if args.lost_replies is not None and not 0 <= args.lost_replies <= 1:
        parser.error("--lost-replies needs a rate between 0 and 1")
    lost_replies = args.lost_replies if args.lost_replies is not None else 0.0
    if args.everything and args.lost_replies is None:
        lost_replies = DEFAULT_LOST_REPLY_RATE
    if args.drain_timeout <= 0:
        parser.error("--drain-timeout needs a number of seconds > 0")
    if args.power_cut and unavailable():
        parser.error(f"--power-cut needs FUSE: {unavailable()}")
    pauses, partitions = args.pauses or args.everything, args.partitions or args.everything
    kills = args.everything or args.kills or not (args.no_kills or pauses or partitions)
    if (pauses or partitions) and args.workers < 2:
        parser.error("pauses and partitions need --workers 2 or more: one worker is disrupted while another goes on")
    options = SoakOptions(
        orders=args.orders,
        rate=args.rate,
        workers=args.workers,
        kills=kills,
        pauses=pauses,
        partitions=partitions,
        long_disruptions=args.long,
        fast_retries=args.fast_retries,
        seed=args.seed,
        drain_timeout_seconds=args.drain_timeout,
        power_cuts=args.power_cut,
        unsafe_settings=args.unsafe_settings,
        lost_reply_rate=lost_replies,
    )
    began = time.monotonic()
    logging.basicConfig(level=logging.ERROR)  # the client's retries while a server is down are expected

    def observe(text: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {text}", flush=True)

    report = asyncio.run(_soak(options, observe))
    print_report(report)
    return 0 if report.clean else 1


async def _soak(options: SoakOptions, observe: Callable[[str], None]) -> SoakReport:
    worker_command = [sys.executable, "-m", "tui.cli"]
    if not options.power_cuts:
        return await run_soak(options, worker_command=worker_command, observer=observe)
    with tempfile.TemporaryDirectory(prefix="checkout-power-cut-") as directory:
        async with LazyFs(Path(directory) / "disk", Path(directory) / "mnt") as disk:
            report = await run_soak(options, worker_command=worker_command, observer=observe, disk=disk)
        observe(f"the disk rolled back {disk.lost_files} files over {disk.cuts} power cuts")
        return report


def print_report(report: SoakReport) -> None:
    print("\nchaos:")
    for line in report.chaos:
        print(f"  {line}")
    for line in report.restarts:
        print(f"  {line}")
    for name, summary in report.links.items():
        print(f"  worker-0's {name} link: {summary}")
    print(
        f"workers          {report.workers_running} running at the end, {len(report.restarts)} restarts after exiting"
    )
    print(f"orders           {report.orders}")
    print(f"ended            {report.ended}  {report.by_status}  (cancels accepted: {report.cancels_accepted})")
    print(f"stuck            {len(report.stuck)}  {' '.join(report.stuck[:10])}")
    print(f"money drift      {report.money_drift_cents} cents")
    print(f"stock drift      {report.stock_drift_units} units")
    print(f"double effects   {report.double_effects}")
    print(f"power cuts       {report.power_cuts}")
    print(f"lost replies     {report.lost_replies}  (the services' counters, sampled every second)")
    print(f"failed calls     {len(report.failed_calls)}  {' | '.join(report.failed_calls[:5])}")
    print(f"drain            {report.drain_seconds:.1f} s after the last fault; {report.wall_seconds:.0f} s in all")
    audit = report.audit
    if audit is not None:
        verdict = "clean" if audit.clean else f"{len(audit.discrepancies)} discrepancies"
        print(f"audit            {verdict} ({audit.ended} ended orders, {audit.records} records)")
        for discrepancy in audit.discrepancies:
            print(f"  {discrepancy.kind}: {discrepancy.message}")
        for note in audit.notes:
            print(f"  note: {note}")


if __name__ == "__main__":
    sys.exit(main())
