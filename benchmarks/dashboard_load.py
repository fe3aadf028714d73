"""Dashboard responsiveness while orders pour in at the engine's full rate (figures, not pass/fail).

    .venv/bin/python benchmarks/dashboard_load.py                                   # what `make run` runs, 40 orders/s
    .venv/bin/python benchmarks/dashboard_load.py --rate 40 --worker-processes 0     # no worker processes beside it
    .venv/bin/python benchmarks/dashboard_load.py --rate 30 --fake                   # the dashboard alone
    .venv/bin/python benchmarks/dashboard_load.py --rate 40 --attach                 # `checkout worker` apart

By default it runs what `checkout dashboard` (`make run`) runs: `configs/config.yaml` with free
ports, a temporary data directory, hold 0 (as `checkout bench`) and one catalogue SKU with
ample stock, read as the CLI reads a config file, the stack built by the
same function (`tui.entry.dashboard_stack`: embedded servers, the dashboard's own worker and
services, `dashboard.worker_processes` more worker processes), and the App owning it,
headless at 120x40. Options override single keys. `--fake` swaps the stack for the
in-memory facade of the TUI tests (the dashboard's own cost); `--attach` runs `checkout
worker` as its own process and the dashboard attached, as `checkout dashboard --attach`.

Orders come from a process of their own, as `checkout bench` sends them: `--concurrency`
in flight (closed loop, default 20), or `--rate` per second (open loop). After a warm-up it
prints:

- event -> screen: for each batch of live step events, from the oldest event's time (the
  workflow's clock) to the screen redrawn (the issue's target: p95 250 ms);
- event loop delay: how late a 50 ms timer fires (what a key press waits before handling);
- key presses, until the screen is refreshed: `down`/`up` (another order, its detail loads) and
  `s` (cycle the sort: the whole table is re-sorted) (target: p95 100 ms);
- CPU over wall time (1.0 = one core busy) of the dashboard's process, its worker processes and
  the servers; sagas finished per second, and orders not finished at the end;
- after `q`: how long quitting took, and whether any process it started is left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from typing import Any

import yaml

from engine.config import CONFIG_ENV, DEFAULT_CONFIG_FILE, Settings, load_settings
from engine.connect import connect
from engine.errors import CheckoutError, Unreachable
from engine.models import OrderInput, StepEvent
from engine.processes import is_alive, process_cpu_seconds
from engine.runtime import free_port
from engine.stack import Stack
from tui.app import CheckoutApp
from tui.commands import TABS
from tui.config import dashboard_settings
from tui.entry import dashboard_stack
from tui.screens.confirm import QuitScreen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support.fake_facade with --fake

SKU = "bench-item"


def write_config(data_dir: Path, args: argparse.Namespace) -> Path:
    """The config file the run reads: `configs/config.yaml` (what `make run` reads), on free ports and a
    temporary data directory, with a catalogue SKU of ample stock, the hold and the options' keys."""
    config: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text()) or {}
    config["temporal"] = config.get("temporal", {}) | {"host": f"127.0.0.1:{free_port()}", "ui_port": free_port()}
    config["nats"] = config.get("nats", {}) | {"url": f"nats://127.0.0.1:{free_port()}"}
    config["embedded"] = config.get("embedded", {}) | {"data_dir": str(data_dir)}
    config["saga"] = config.get("saga", {}) | {"hold_seconds": args.hold}
    config["catalogue"] = {SKU: {"name": "Bench", "price_cents": 100, "stock": 10_000_000}}
    if args.worker_processes is not None:
        config.setdefault("dashboard", {})["worker_processes"] = args.worker_processes
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        *sections, name = key.split(".")
        target = config
        for section in sections:
            target = target.setdefault(section, {})
        target[name] = yaml.safe_load(value)
    path = data_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def use_config(path: Path) -> Settings:
    """Read `path` as the CLI does; the environment then names it alone, for the worker processes too."""
    for name in [name for name in os.environ if name.startswith("CHECKOUT_") or name in ("TEMPORAL_HOST", "NATS_URL")]:
        del os.environ[name]
    os.environ[CONFIG_ENV] = str(path)
    return load_settings()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of named processes between `start()` and `stop()`, over wall time."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = {name: pids for name, pids in pids.items() if pids}

    def _read(self) -> dict[str, float]:
        readings = {"dashboard": own_cpu_seconds()}
        for name, pids in self.pids.items():
            readings[name] = sum(process_cpu_seconds(pid) for pid in pids if is_alive(pid))
        return readings

    def start(self) -> None:
        self._wall, self._before = time.monotonic(), self._read()

    def stop(self) -> str:
        wall, after = time.monotonic() - self._wall, self._read()
        return ", ".join(f"{name} {(after[name] - self._before[name]) / wall:.2f}" for name in after)


def new_order() -> OrderInput:
    return OrderInput(
        order_id=f"bench-{uuid.uuid4().hex[:10]}",
        customer_id="bench",
        items=[{"sku": SKU, "quantity": 1, "unit_price_cents": 100}],
    )


async def submit_at(rate: float, seconds: float, facade, submitted: list[str]) -> None:
    """Open loop: an order every 1/rate seconds, whether or not the earlier ones were accepted yet."""
    interval, start = 1 / rate, time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        order = new_order()
        await facade.submit(order)
        submitted.append(order.order_id)

    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def keep_in_flight(concurrency: int, seconds: float, facade, submitted: list[str]) -> None:
    """Closed loop, as `checkout bench`: `concurrency` orders in flight, each lane starting the next
    order when its last one has ended (its result, from Temporal)."""
    deadline = time.monotonic() + seconds

    async def lane() -> None:
        while time.monotonic() < deadline:
            order = new_order()
            await facade.submit(order)
            submitted.append(order.order_id)
            with contextlib.suppress(CheckoutError):  # compensated: ended all the same
                await facade.result(order.order_id)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def start_driver(args: argparse.Namespace, seconds: float) -> asyncio.subprocess.Process:
    """The orders come from a process of their own (as from `checkout bench --attach` or another
    client): the dashboard's process does only what it does under `make run`."""
    load = ["--rate", str(args.rate)] if args.rate else ["--concurrency", str(args.concurrency)]
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--drive", "--seconds", str(seconds), *load, stdout=asyncio.subprocess.PIPE
    )


async def load_from_here(args: argparse.Namespace, seconds: float, facade, submitted: list[str]) -> None:
    if args.rate:
        await submit_at(args.rate, seconds, facade, submitted)
    else:
        await keep_in_flight(args.concurrency, seconds, facade, submitted)


async def drive(args: argparse.Namespace) -> None:
    """`--drive`: start orders for `--seconds` over the config's servers; print their ids."""
    submitted: list[str] = []
    async with connect(load_settings(), name="dashboard-load") as facade:
        await load_from_here(args, args.seconds, facade, submitted)
    print("\n".join(submitted))


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


def watch_arrivals(app: CheckoutApp) -> list[float]:
    """From now on, each step event's age (ms, by the workflow's clock) as it reaches the dashboard."""
    arrivals: list[float] = []
    add = app.feed.add

    def timed(item) -> None:
        if isinstance(item, StepEvent):
            arrivals.append((app.clock() - item.time).total_seconds() * 1000)
        add(item)

    app.feed.add = timed  # type: ignore[method-assign]
    return arrivals


async def loop_delays(stop: asyncio.Event, delays: list[float]) -> None:
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.05)
        delays.append((time.monotonic() - before - 0.05) * 1000)


def server_pids(stack) -> dict[str, list[int]]:
    servers = getattr(stack, "servers", None)
    pids = dict(servers.pids) if servers is not None else {}
    helpers = getattr(stack, "helpers", None)
    return {
        "worker processes": helpers.pids if helpers is not None else [],
        "Temporal": [pids["temporal"]] if "temporal" in pids else [],
        "NATS": [pids["nats"]] if "nats" in pids else [],
    }


async def measure(app: CheckoutApp, args: argparse.Namespace, extra_pids: dict[str, list[int]] | None = None) -> None:
    rate, seconds, warmup = args.rate, args.seconds, args.warmup
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while app.facade is None or app.status_line.health is None:
            if app.start_error is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stack did not start: {app.start_error or app.status_line.plain}")
            await pilot.pause(0.1)
        helpers = getattr(app.stack, "helpers", None)
        while app.feed.catching_up or (helpers is not None and helpers.pids == [] and app.owns_stack):
            await pilot.pause(0.1)  # the worker processes start after the first full screen
        app.action_show_tab(args.tab)
        started = [pid for pids in server_pids(app.stack).values() for pid in pids]
        submitted: list[str] = []
        if args.fake:  # the in-memory facade lives in this process: so do its orders
            driver = None
            submitter = asyncio.create_task(load_from_here(args, warmup + seconds, app.facade, submitted))
        else:
            driver = await start_driver(args, warmup + seconds)
        await asyncio.sleep(warmup)

        arrivals = watch_arrivals(app)
        app.metrics.lag_ms.clear()
        app.metrics.screen_ms.clear()
        app.metrics.largest_batch = 0
        finished_before = app.book.counts().finished
        delays: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(loop_delays(stop, delays))
        cpu = CpuMeter(server_pids(app.stack) | (extra_pids or {}))
        cpu.start()
        wall_before = time.monotonic()
        keys: dict[str, list[float]] = {"down/up": [], "s": []}
        table = app.orders_table
        while time.monotonic() - wall_before < seconds:
            move = "down" if table.cursor_row < table.row_count - 1 else "up"
            keys["down/up"].append(await key_to_screen(app, move, lambda: (table.cursor_row, app.selected_order)))
            await asyncio.sleep(0.25)
            keys["s"].append(await key_to_screen(app, "s", lambda: table.sort_mode))
            await asyncio.sleep(0.25)
        wall = time.monotonic() - wall_before
        cpu_line = cpu.stop()
        finished = app.book.counts().finished - finished_before
        stop.set()
        await ticker
        if driver is None:
            await submitter
        else:
            output, _ = await driver.communicate()
            submitted = output.decode().split()
        lags, screen = list(app.metrics.lag_ms), list(app.metrics.screen_ms)
        arrived = list(arrivals)
        await asyncio.sleep(args.drain)
        unfinished = [order_id for order_id in submitted if not app.book.is_terminal(order_id)]

        load = f"{rate:g} orders/s" if rate else f"{args.concurrency} orders in flight"
        print(f"{load}, {args.tab} tab shown, for {seconds:g}s after {warmup:g}s warm-up: {len(submitted)} submitted")
        print(
            f"event -> screen: p50 {statistics.median(lags):.0f} ms, p95 {percentile(lags, 0.95):.0f} ms,"
            f" max {max(lags):.0f} ms over {len(lags)} batches (largest {app.metrics.largest_batch} items)"
        )
        print(
            f"  event -> received: p50 {statistics.median(arrived):.0f} ms, p95 {percentile(arrived, 0.95):.0f} ms;"
            f" received -> screen (the dashboard's part): p50 {statistics.median(screen):.0f} ms,"
            f" p95 {percentile(screen, 0.95):.0f} ms"
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
        print(f"CPU (cores): {cpu_line}")
        print(
            f"sagas finished {finished / wall:.1f}/s; not finished on screen {args.drain:g}s after the last order:"
            f" {len(unfinished)}"
        )

        quit_began = time.monotonic()
        await pilot.press("q")
        await pilot.pause()
        if isinstance(app.screen, QuitScreen):  # orders still in flight: it asks once
            await pilot.press("q")
        while app.return_code is None and time.monotonic() - quit_began < 60:
            await pilot.pause(0.1)
        quit_seconds = time.monotonic() - quit_began
    await asyncio.sleep(0.5)
    left = [pid for pid in started if is_alive(pid)]
    print(f"quit in {quit_seconds:.1f}s; processes it started still running: {len(left)} {left or ''}")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = use_config(write_config(Path(data_dir), args))
        if args.fake:
            from tests.support.fake_facade import FakeFacade, FakeStack

            stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.05))
            await measure(CheckoutApp(stack, owns_stack=False), args)
            return
        if args.attach:
            with worker_process() as worker:
                only_connects = settings.model_copy(
                    update={"embedded": settings.embedded.model_copy(update={"mode": "never"})}
                )
                attached = dashboard_stack(only_connects, dashboard_settings(settings.dashboard), attach=True)
                await start_when_up(attached)
                await measure(CheckoutApp(attached, owns_stack=True), args, {"checkout worker": [worker.pid]})
            return
        stack = dashboard_stack(settings, dashboard_settings(settings.dashboard))
        await measure(CheckoutApp(stack, owns_stack=True), args)


@contextmanager
def worker_process() -> Iterator[subprocess.Popen[bytes]]:
    """`checkout worker` on the config file (it starts the embedded servers), stopped with Ctrl-C after."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "worker"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
    """Connect once the worker process has started the servers and polls the task queue."""
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
    parser.add_argument("--concurrency", type=int, default=20, help="orders in flight, as checkout bench (default: 20)")
    parser.add_argument("--rate", type=float, help="instead: start this many orders per second (open loop)")
    parser.add_argument("--seconds", type=float, default=30, help="measured time (default: 30)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default: 5)")
    parser.add_argument("--drain", type=float, default=5, help="seconds allowed after the last order (default: 5)")
    parser.add_argument("--hold", type=float, default=0, help="saga.hold_seconds (default: 0, as checkout bench)")
    parser.add_argument(
        "--worker-processes", type=int, help="dashboard.worker_processes (default: the config's default)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config key, e.g. dashboard.batch_ms=200"
    )
    parser.add_argument("--tab", choices=TABS, default="detail", help="the tab shown while measured (default: detail)")
    parser.add_argument("--fake", action="store_true", help="in-memory facade instead of the real stack")
    parser.add_argument(
        "--attach", action="store_true", help="`checkout worker` in its own process, the dashboard attached"
    )
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)  # the orders' own process
    args = parser.parse_args()
    asyncio.run(drive(args) if args.drive else run(args))


if __name__ == "__main__":
    main()
