"""`checkout bench` for people: a rich progress bar while it runs, then tables (or `--json`).

The engine's runner measures; this module only turns its progress callbacks and its
report into something to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.bench import runner
from engine.bench.runner import BenchOptions
from engine.bench.stats import (
    DRIVER,
    NATS_SERVER,
    ROLES,
    SERVICES,
    TEMPORAL_SERVER,
    WORKER,
    BenchReport,
    ProgramSummary,
    RoundResult,
)
from engine.config import Settings
from tui import printing
from tui.config import CHECKOUT_COMMAND

EXIT_TERMINATED = 128 + signal.SIGTERM
ROLE_TITLES = {
    WORKER: "worker",
    SERVICES: "services",
    TEMPORAL_SERVER: "Temporal",
    NATS_SERVER: "NATS",
    DRIVER: "bench",
}


def options_from(args: argparse.Namespace) -> BenchOptions:
    return BenchOptions(
        orders=args.orders,
        concurrency=args.concurrency,
        rate=args.rate,
        rounds=args.rounds,
        warmup=args.warmup,
        programs=tuple(name.strip() for name in args.programs.split(",") if name.strip()),
        latency_at_half=args.latency_at_half,
        attach=args.attach,
        worker_processes=args.worker_processes,
        services_apart=args.services_apart,
    )


async def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    """The `checkout bench` command. Ctrl-C or SIGTERM stop it, and everything it started."""
    options = options_from(args)
    options.validate()
    terminated = False
    main = asyncio.current_task()
    assert main is not None

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        main.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        with progress_observer() as observer:
            report = await runner.run_bench(settings, options, CHECKOUT_COMMAND, observer)
    except asyncio.CancelledError:
        if terminated:
            return EXIT_TERMINATED
        raise
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report)
    return 0


class RichProgress:
    """The runner's observer. The live part (the phase, the current round's bar) vanishes when done;
    each finished round leaves one line. So an error before any round is its one line alone."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._phase = progress.add_task("", total=None, visible=False)
        self._task: TaskID | None = None
        self._label = ""

    def phase(self, text: str) -> None:
        self._progress.update(self._phase, description=f"{escape(text)}…", visible=True)

    def round_started(self, label: str, orders: int) -> None:
        self._progress.update(self._phase, visible=False)
        self._label = label
        self._task = self._progress.add_task(escape(label), total=orders)

    def order_finished(self, completed: bool) -> None:
        if self._task is not None:
            self._progress.advance(self._task)

    def round_finished(self, result: RoundResult | None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        if result is not None:  # None: a warm-up
            failed = f", [red]{result.failed} failed[/]" if result.failed else ""
            self._progress.console.print(
                f"{escape(self._label)}: [bold]{result.sagas_per_second:.1f}[/] sagas/s"
                f" in {result.seconds:.1f} s{failed}"
            )


@contextmanager
def progress_observer() -> Iterator[RichProgress]:
    """On stderr, so `--json > file` still shows it; without a terminal only the rounds' lines."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
        transient=True,
    )
    with progress:
        yield RichProgress(progress)


# --- the report -------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_report(report: BenchReport) -> None:
    console = printing.console
    console.print(throughput_table(report))
    console.print()
    console.print(cost_table(report))
    console.print()
    for name, ratio in report.ratios().items():
        console.print(f"[bold]{name.replace('/', ' / ')}[/]: {_number(ratio, 2)}x sagas/s")
    if report.half_rate is not None:
        console.print(half_rate_line(report.half_rate))
    console.print(f"[dim]{escape(setup_line(report))}[/]")


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)


def throughput_table(report: BenchReport) -> Table:
    table = _table("Throughput (median of the rounds) and latency (all rounds)")
    table.add_column("program", no_wrap=True)
    table.add_column("sagas/s", justify="right")
    table.add_column("each round", justify="right")
    for name in ("p50", "p95", "p99"):
        table.add_column(f"{name} ms", justify="right")
    table.add_column("failed", justify="right")
    for name, summary in report.programs.items():
        latency = summary.latency_ms()
        table.add_row(
            name,
            f"[bold]{summary.sagas_per_second:.1f}[/]",
            " ".join(f"{r.sagas_per_second:.1f}" for r in summary.rounds),
            _number(latency["p50"], 0),
            _number(latency["p95"], 0),
            _number(latency["p99"], 0),
            f"[red]{summary.failed}[/]" if summary.failed else "0",
        )
    return table


def cost_table(report: BenchReport) -> Table:
    table = _table("Per saga: CPU ms of each process, and one saga's Temporal history")
    table.add_column("program", no_wrap=True)
    for role in ROLES:
        table.add_column(ROLE_TITLES[role], justify="right")
    table.add_column("total", justify="right")
    table.add_column("events", justify="right")
    table.add_column("wf tasks", justify="right")
    notes = []
    for name, summary in report.programs.items():
        per_saga = summary.cpu_seconds_per_saga()
        history = summary.history
        table.add_row(
            name,
            *("-" if role not in per_saga else _ms(per_saga[role]) for role in ROLES),
            f"[bold]{_ms(summary.cpu_seconds_total_per_saga())}[/]",
            str(history.events) if history else "-",
            str(history.workflow_tasks) if history else "-",
        )
        if SERVICES not in per_saga and name != "empty":
            notes.append(f"{name}: its services run inside its worker process")
    if not report.setup["servers"]["private"]:
        notes.append("attached: the servers are not the bench's own, their CPU is not measured (n/a)")
    table.caption = "; ".join(notes) or None
    table.caption_justify = "left"
    return table


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def half_rate_line(summary: ProgramSummary) -> str:
    latency = summary.latency_ms()
    rate = summary.rounds[0].rate if summary.rounds else None
    failed = f", {summary.failed} failed" if summary.failed else ""
    return (
        f"[bold]checkout at half its maximum rate[/] ({_number(rate)} orders/s, open loop):"
        f" p50 {_number(latency['p50'], 0)} ms, p95 {_number(latency['p95'], 0)} ms,"
        f" p99 [bold]{_number(latency['p99'], 0)}[/] ms{failed}"
    )


def setup_line(report: BenchReport) -> str:
    setup = report.setup
    load = setup["rate"] and f"{setup['rate']:g} orders/s" or f"concurrency {setup['concurrency']}"
    servers = "private servers" if setup["servers"]["private"] else f"attached to {setup['servers']['temporal']}"
    machine = setup["machine"]
    return (
        f"{setup['orders']} orders per round at {load}, {setup['rounds']} round(s) after {setup['warmup']} warm-up"
        f" orders per program; {servers}; {machine['cpus']} CPUs, load average"
        f" {machine['load_average_before'][0]:.2f} before, {machine['load_average_after'][0]:.2f} after"
    )
