"""The dashboard's memory with many orders in its book, and its time to a first full screen (figures).

    .venv/bin/python benchmarks/dashboard_memory_start.py                  # 10,000 orders (about 5 minutes)
    .venv/bin/python benchmarks/dashboard_memory_start.py --orders 1000    # a quick look
    .venv/bin/python benchmarks/dashboard_memory_start.py --data-dir /tmp/warm   # filled once, then starts only

Runs what `checkout dashboard` (`make run`) runs, headless at 120x40, over `configs/config.yaml`
with free ports, a temporary data directory, hold 0 and one catalogue SKU of ample stock:

1. Memory: the dashboard with `dashboard.max_rows` = `--orders`, its stack started by itself (the
   embedded servers, its own worker and services, its worker processes), while a process of
   its own keeps 40 orders in flight until `--orders` have ended and are in the book. It prints
   the dashboard process's RSS (and peak) before and after, and that of its worker processes.
   Then it quits (the servers stop; their data stays).
2. Start: `checkout dashboard`'s code path in a new Python process, on that warm data directory
   and the config's own `max_rows` and `replay_hours`: from the process's start to the first full
   screen (status line read, the orders Temporal lists in the table, the step events replayed,
   numbers no longer catching up, drawn), after one unmeasured start. Three times with the
   servers started by the dashboard itself (the usual case), then three times with the servers
   already running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_load import use_config, write_config

from engine.processes import is_alive
from engine.runtime import EmbeddedServers


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """Resident set size and its peak, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def fill(args: argparse.Namespace) -> None:
    from tui.app import CheckoutApp
    from tui.config import dashboard_settings
    from tui.entry import dashboard_stack

    settings = use_config(write_config(args.data_dir, args))
    app = CheckoutApp(dashboard_stack(settings, dashboard_settings(settings.dashboard)), owns_stack=True)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.facade is None or app.status_line.health is None:
            await pilot.pause(0.1)
        before, _ = rss_mb()
        began = time.monotonic()
        driver = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("dashboard_load.py")),
                "--drive",
                "--seconds",
                "100000",
                "--concurrency",
                "40",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            while app.book.counts().finished < args.orders:
                await pilot.pause(1)
                print(f"\r{app.book.counts().finished} orders ended", end="", file=sys.stderr, flush=True)
        finally:
            driver.terminate()
            driver.wait()
        print(file=sys.stderr)
        elapsed = time.monotonic() - began
        await pilot.pause(3)  # the last events in, the table redrawn
        rss, peak = rss_mb()
        helpers = app.stack.helpers.pids if getattr(app.stack, "helpers", None) else []
        workers = ", ".join(f"{rss_mb(pid)[0]:.0f} MB" for pid in helpers) or "none"
        print(f"{len(app.book.orders)} orders in the book ({args.orders} ended in {elapsed:.0f}s)")
        print(f"dashboard RSS: {before:.0f} MB before the orders, {rss:.0f} MB with them (peak {peak:.0f} MB)")
        print(f"its worker processes: {workers}")
        await app.quit_now()  # as q does, without asking about an order left in flight
        while app.return_code is None:
            await pilot.pause(0.1)


async def probe() -> None:
    """`--probe`: one start, as `checkout dashboard`; prints the monotonic time of its first full screen."""
    from engine.config import load_settings
    from tui.app import CheckoutApp
    from tui.config import dashboard_settings
    from tui.entry import dashboard_stack

    settings = load_settings()
    app = CheckoutApp(dashboard_stack(settings, dashboard_settings(settings.dashboard)), owns_stack=True)
    async with app.run_test(size=(120, 40)) as pilot:
        # Polled with a plain sleep (the app's state has no event to wait on): pilot.pause() posts
        # a message to every widget each time, which at this rate cost more than the replay.
        while not (app.book.orders and app.status_line.health is not None and app.orders_table.row_count):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        listed = time.monotonic()
        while app.numbers_bar.catching_up or app.feed.catching_up:  # noqa: ASYNC110 (app state, no event)
            await asyncio.sleep(0.005)
        painted = asyncio.get_running_loop().create_future()
        app.call_after_refresh(painted.set_result, None)
        await painted
        print(listed, time.monotonic(), len(app.book.orders), flush=True)
        await app.quit_now()  # as q does, without asking about an order left in flight
        while app.return_code is None:
            await pilot.pause(0.1)


def start_once(environment: dict[str, str]) -> tuple[float, float, int]:
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, __file__, "--probe"], env=environment, capture_output=True, text=True, timeout=120
    )
    listed, full, orders = result.stdout.split()
    return float(listed) - began, float(full) - began, int(orders)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        args.data_dir = args.data_dir or Path(scratch)
        args.set = [f"dashboard.max_rows={args.orders}", *args.set]
        args.data_dir.mkdir(parents=True, exist_ok=True)
        filled = args.data_dir / "filled"
        if filled.exists():
            print(f"{args.data_dir} holds its orders already: starts only")
        else:
            await fill(args)
            filled.write_text(str(args.orders))

        args.set = args.set[1:]  # the config's own max_rows for the starts
        settings = use_config(write_config(args.data_dir, args))
        environment = dict(os.environ)
        environment.pop("PYTHONDONTWRITEBYTECODE", None)  # as Python runs by default: with its bytecode cache
        start_once(environment)  # unmeasured: the cache written, the servers' files read once
        print(f"first full screen on the warm data directory (max_rows {settings.dashboard.get('max_rows')}):")
        left = []
        for servers_running in (False, True):
            servers = EmbeddedServers(settings)
            if servers_running:
                await servers.start()
            pids = list(servers.pids.values())
            try:
                for _ in range(args.starts):
                    listed, full, orders = start_once(environment)
                    print(
                        f"  servers {'already running' if servers_running else 'started by it'}:"
                        f" table filled at {listed:.2f}s ({orders} orders), full screen at {full:.2f}s"
                    )
            finally:
                await servers.stop()
            left += [pid for pid in pids if is_alive(pid)]
        print(f"servers left running: {len(left)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the book (default: 10000)")
    parser.add_argument("--starts", type=int, default=3, help="starts measured each way (default: 3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config key")
    parser.add_argument(
        "--data-dir", type=Path, help="use and keep this directory: filled once, later runs measure the starts only"
    )
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    arguments.hold, arguments.worker_processes = 0, None
    asyncio.run(probe() if arguments.probe else main(arguments))
