"""The chaos soak: orders under faults, cancels and SIGKILLs of workers, NATS and Temporal; then the audit.

    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8               # kills
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --pauses      # SIGSTOP/SIGCONT only
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --partitions  # worker-0's links cut only
    .venv/bin/python benchmarks/chaos_soak.py --orders 300 --rate 8 --everything  # all of them at once
    .venv/bin/python benchmarks/chaos_soak.py --everything --long                 # pauses and cuts of 30-60 s

Prints figures (orders, ended, stuck, money drift, stock drift, double effects, time to
drain after the last fault) and every discrepancy the audit finds; exit 0 when clean.
See engine/chaos.py for what it does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from engine.chaos import SoakOptions, SoakReport, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rate", type=float, default=8.0, help="orders per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-kills", action="store_true", help="faults and cancels only")
    parser.add_argument("--kills", action="store_true", help="SIGKILLs too, with --pauses or --partitions")
    parser.add_argument("--pauses", action="store_true", help="SIGSTOP workers and servers past every timeout")
    parser.add_argument("--partitions", action="store_true", help="cut worker-0's links to NATS and Temporal")
    parser.add_argument("--everything", action="store_true", help="kills, pauses and partitions")
    parser.add_argument("--long", action="store_true", help="pauses and partitions of 30-60 s (engine/disruptions.py)")
    parser.add_argument("--fast-retries", action="store_true", help="shorter backoffs (the test suite's setting)")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
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
    )
    began = time.monotonic()
    logging.basicConfig(level=logging.ERROR)  # the client's retries while a server is down are expected

    def observe(text: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {text}", flush=True)

    report = asyncio.run(run_soak(options, worker_command=[sys.executable, "-m", "tui.cli"], observer=observe))
    print_report(report)
    return 0 if report.clean else 1


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
