"""Dashboard responsiveness while orders pour in (figures, not pass/fail).

    .venv/bin/python benchmarks/dashboard_load.py --rate 10 --seconds 30          # real embedded stack
    .venv/bin/python benchmarks/dashboard_load.py --rate 30 --seconds 30 --fake   # the dashboard alone
    .venv/bin/python benchmarks/dashboard_load.py --rate 10 --seconds 30 --attach # `checkout worker` apart

Runs the real dashboard headless (`App.run_test`, 120x40) with the worker and services in
the same process, on its own Temporal dev server and nats-server (free ports, temporary
directory, stopped after). `--fake` swaps the stack for the in-memory facade of the TUI
tests, so the figures are the dashboard's own cost. `--attach` runs `checkout worker` (with
the embedded servers) as its own process and the dashboard attached to it, as
`checkout dashboard --attach` does. Orders are submitted at `--rate` per second; after a
warm-up it prints:

- event -> screen: for each batch of live step events, from the oldest event's time to the
  screen redrawn (the issue's target: 250 ms);
- event loop delay: how late a 50 ms timer fires (what a key press waits before handling);
- key presses, until the screen is refreshed: `down`/`up` (another order, its detail loads) and
  `s` (cycle the sort: the whole table is re-sorted);
- CPU: the process's CPU time over wall time (1.0 = one core busy), and the worker's with
  `--attach`;
- sagas finished per second, and orders not yet finished at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from engine.config import Settings
from engine.errors import Unreachable
from engine.models import OrderInput
from engine.runtime import free_port
from engine.stack import Stack
from tui.app import CheckoutApp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support.fake_facade with --fake


def settings_for(data_dir: Path, hold_seconds: float) -> Settings:
    return Settings(
        temporal={"host": f"127.0.0.1:{free_port()}", "ui_port": free_port()},
        nats={"url": f"nats://127.0.0.1:{free_port()}"},
        embedded={"mode": "always", "data_dir": data_dir},
        saga={"hold_seconds": hold_seconds},
        catalogue={"bench-item": {"name": "Bench", "price_cents": 100, "stock": 10_000_000}},
        dashboard={"replay_hours": 0, "max_rows": 5000},
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def finished_count(app: CheckoutApp) -> int:
    return sum(1 for row in app.book.orders.values() if row.status.is_terminal)


def is_finished(app: CheckoutApp, order_id: str) -> bool:
    row = app.book.orders.get(order_id)
    return row is not None and row.status.is_terminal


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def submit_at(rate: float, seconds: float, facade, submitted: list[str]) -> None:
    interval, start = 1 / rate, time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        order = OrderInput(
            order_id=f"bench-{uuid.uuid4().hex[:10]}",
            customer_id="bench",
            items=[{"sku": "bench-item", "quantity": 1, "unit_price_cents": 100}],
        )
        await facade.submit(order)
        submitted.append(order.order_id)


async def key_to_screen(app: CheckoutApp, key: str, probe) -> float:
    """Milliseconds from a key arriving (as the terminal driver posts it) to its effect on screen."""
    before = probe()
    started = time.perf_counter()
    app.simulate_key(key)
    deadline = started + 5
    while probe() == before:
        if time.perf_counter() > deadline:
            return float("nan")  # the key changed nothing (counted apart)
        await asyncio.sleep(0.002)
    painted = asyncio.get_running_loop().create_future()
    app.call_after_refresh(painted.set_result, None)
    await painted
    return (time.perf_counter() - started) * 1000


async def loop_delays(stop: asyncio.Event, delays: list[float]) -> None:
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.05)
        delays.append((time.monotonic() - before - 0.05) * 1000)


async def measure(stack, rate: float, seconds: float, warmup: float, worker_pid: int | None = None) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.facade is None or app.status_line.health is None:
            await pilot.pause(0.1)
        submitted: list[str] = []
        submitter = asyncio.create_task(submit_at(rate, warmup + seconds, app.facade, submitted))
        await asyncio.sleep(warmup)

        app.metrics.lag_ms.clear()
        finished_before = finished_count(app)
        delays: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(loop_delays(stop, delays))
        cpu_before, wall_before = cpu_seconds(), time.monotonic()
        worker_before = process_cpu_seconds(worker_pid) if worker_pid else 0.0
        keys: dict[str, list[float]] = {"down/up": [], "s": []}
        table = app.orders_table
        while time.monotonic() - wall_before < seconds:
            move = "down" if table.cursor_row < table.row_count - 1 else "up"
            keys["down/up"].append(await key_to_screen(app, move, lambda: (table.cursor_row, app.selected_order)))
            await asyncio.sleep(0.25)
            keys["s"].append(await key_to_screen(app, "s", lambda: table.sort_mode))
            await asyncio.sleep(0.25)
        wall = time.monotonic() - wall_before
        cpu = cpu_seconds() - cpu_before
        worker_cpu = process_cpu_seconds(worker_pid) - worker_before if worker_pid else None
        finished = finished_count(app) - finished_before
        stop.set()
        await ticker
        await submitter
        ours = set(submitted)
        listed = await app.facade.list_orders(limit=len(submitted) + 100)
        temporal_finished = sum(1 for summary in listed if summary.order_id in ours and summary.status.is_terminal)

        lags = list(app.metrics.lag_ms)
        unfinished = [order_id for order_id in submitted if not is_finished(app, order_id)]
        print(f"rate {rate:g}/s for {seconds:g}s after {warmup:g}s warm-up: {len(submitted)} submitted")
        print(
            f"event -> screen: p50 {statistics.median(lags):.0f} ms, p95 {percentile(lags, 0.95):.0f} ms,"
            f" max {max(lags):.0f} ms over {len(lags)} batches (largest {app.metrics.largest_batch} items)"
        )
        print(
            f"event loop delay: p50 {statistics.median(delays):.1f} ms, p95 {percentile(delays, 0.95):.1f} ms,"
            f" max {max(delays):.0f} ms"
        )
        for key, times in keys.items():
            seen = [ms for ms in times if ms == ms]
            print(
                f"key {key!r} to redrawn: p50 {statistics.median(seen):.0f} ms, p95 {percentile(seen, 0.95):.0f} ms"
                f" ({len(times) - len(seen)} of {len(times)} changed nothing)"
            )
        worker = f" (worker process {worker_cpu / wall:.2f})" if worker_cpu is not None else ""
        print(
            f"CPU {cpu / wall:.2f} cores{worker}; sagas finished {finished / wall:.1f}/s;"
            f" not finished on screen at the end: {len(unfinished)} (Temporal: {len(submitted) - temporal_finished})"
        )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = settings_for(Path(data_dir), args.hold)
        if args.fake:
            from tests.support.fake_facade import FakeFacade, FakeStack

            await measure(
                FakeStack(settings, FakeFacade(settings, step_seconds=0.05)), args.rate, args.seconds, args.warmup
            )
            return
        if args.attach:
            with worker_process(settings, Path(data_dir)) as worker:
                stack = Stack(
                    settings.model_copy(update={"embedded": settings.embedded.model_copy(update={"mode": "never"})}),
                    worker=False,
                    services=False,
                )
                await start_when_up(stack)
                try:
                    await measure(stack, args.rate, args.seconds, args.warmup, worker_pid=worker.pid)
                finally:
                    await stack.stop()
            return
        async with Stack(settings) as stack:
            await measure(stack, args.rate, args.seconds, args.warmup)


@contextmanager
def worker_process(settings: Settings, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`checkout worker` with these settings (through a config file), stopped with Ctrl-C after."""
    config = data_dir / "config.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude={"dashboard"})))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "TEMPORAL_HOST", "NATS_URL"))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--config", str(config), "worker"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def start_when_up(stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await stack.start()
        except Unreachable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
            continue
        if (await stack.facade.health()).worker:
            return
        await stack.stop()
        await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10, help="orders submitted per second")
    parser.add_argument("--seconds", type=float, default=30, help="measured time")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring")
    parser.add_argument("--hold", type=float, default=1, help="saga.hold_seconds")
    parser.add_argument("--fake", action="store_true", help="in-memory facade instead of the real stack")
    parser.add_argument(
        "--attach", action="store_true", help="`checkout worker` in its own process, the dashboard attached"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
