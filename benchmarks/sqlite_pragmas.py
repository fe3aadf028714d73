"""Measure how SQLite pragmas change the throughput of `temporal server start-dev`.

For each candidate set of `--sqlite-pragma` values, start a fresh dev server (SQLite
file in a new temporary directory, free ports), then:

- starts/s: start N workflows concurrently with no worker polling their task queue,
  so the figure is the rate of the persistence writes a start makes;
- serial/s: start S workflows one after the other (the latency one user sees);
- runs/s: with a worker, run M trivial workflows (one activity each) to completion.

Rounds interleave the candidates and the median is reported, so a noisy neighbour
hurts every candidate alike. The frontend's rate limits are lifted so that the
figures measure persistence, not the limiter.

    .venv/bin/python benchmarks/sqlite_pragmas.py [--starts 300] [--serial 50] [--runs 200] \
        [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.binaries import find_binary

CANDIDATES: dict[str, list[str]] = {
    "file default": [],
    "journal_mode=wal": ["journal_mode=wal"],
    "wal + synchronous=normal": ["journal_mode=wal", "synchronous=normal"],
    "wal + normal + cache/temp/mmap": [
        "journal_mode=wal",
        "synchronous=normal",
        "cache_size=-65536",
        "temp_store=memory",
        "mmap_size=268435456",
    ],
    "wal + synchronous=off (UNSAFE, reference)": ["journal_mode=wal", "synchronous=off"],
}

NO_LIMITS = ["frontend.rps=100000", "frontend.namespaceRPS=100000", "history.rps=100000", "matching.rps=100000"]


@activity.defn
async def touch(n: int) -> int:
    return n + 1


@workflow.defn
class Trivial:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(touch, n, start_to_close_timeout=timedelta(seconds=30))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_server(directory: Path, pragmas: list[str]) -> tuple[subprocess.Popen[bytes], Client]:
    port = free_port()
    argv = [str(find_binary("temporal")), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    argv += ["--port", str(port), "--db-filename", str(directory / "temporal.db")]
    argv += [arg for pragma in pragmas for arg in ("--sqlite-pragma", pragma)]
    argv += [arg for value in NO_LIMITS for arg in ("--dynamic-config-value", value)]
    log = (directory / "temporal.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(directory / 'temporal.log').read_text()[-500:]}")
        try:
            return process, await Client.connect(f"127.0.0.1:{port}")
        except RuntimeError:
            await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not answer within 30 s")


async def measure_starts(client: Client, count: int) -> float:
    queue = f"nobody-{uuid.uuid4()}"
    began = time.perf_counter()
    await asyncio.gather(
        *(client.start_workflow("Trivial", i, id=f"{queue}-{i}", task_queue=queue) for i in range(count))
    )
    return count / (time.perf_counter() - began)


async def measure_serial(client: Client, count: int) -> float:
    queue = f"nobody-{uuid.uuid4()}"
    began = time.perf_counter()
    for i in range(count):
        await client.start_workflow("Trivial", i, id=f"{queue}-{i}", task_queue=queue)
    return count / (time.perf_counter() - began)


async def measure_runs(client: Client, count: int) -> float:
    queue = f"runs-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Trivial],
        activities=[touch],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_workflow_tasks=200,
        max_concurrent_activities=200,
    ):
        began = time.perf_counter()
        results = await asyncio.gather(
            *(client.execute_workflow(Trivial.run, i, id=f"{queue}-{i}", task_queue=queue) for i in range(count))
        )
        elapsed = time.perf_counter() - began
    assert results == [i + 1 for i in range(count)]
    return count / elapsed


async def one_round(name: str, pragmas: list[str], args: argparse.Namespace) -> tuple[float, float, float]:
    directory = Path(tempfile.mkdtemp(prefix="pragma-bench-", dir=args.dir))
    process, client = await start_server(directory, pragmas)
    try:
        await measure_starts(client, 20)  # warm up connections and caches
        starts = await measure_starts(client, args.starts)
        serial = await measure_serial(client, args.serial)
        runs = await measure_runs(client, args.runs)
        with sqlite3.connect(directory / "temporal.db") as db:
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        process.terminate()
        process.wait(timeout=15)
        shutil.rmtree(directory, ignore_errors=True)
    figures = f"{starts:6.0f} starts/s {serial:6.0f} serial/s {runs:5.0f} runs/s"
    print(f"  {name:44} {figures}  (journal_mode={mode})", flush=True)
    return starts, serial, runs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=300, help="workflows started concurrently")
    parser.add_argument("--serial", type=int, default=50, help="workflows started one after the other")
    parser.add_argument("--runs", type=int, default=200, help="workflow+activity runs to completion")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="parent of the temporary data dirs (pick the real disk)")
    args = parser.parse_args()

    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CANDIDATES}
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number}/{args.rounds}", flush=True)
        for name, pragmas in CANDIDATES.items():
            figures[name].append(await one_round(name, pragmas, args))

    base = [statistics.median(row[i] for row in figures["file default"]) for i in range(3)]
    sizes = f"{args.starts} concurrent starts, {args.serial} serial, {args.runs} runs"
    print(f"\nmedian of {args.rounds} rounds ({sizes}):")
    for name, rows in figures.items():
        starts, serial, runs = (statistics.median(row[i] for row in rows) for i in range(3))
        print(
            f"  {name:44} {starts:6.0f} starts/s ({starts / base[0]:3.1f}x) {serial:6.0f} serial/s"
            f" ({serial / base[1]:3.1f}x) {runs:5.0f} runs/s ({runs / base[2]:3.1f}x)"
        )


if __name__ == "__main__":
    asyncio.run(main())
