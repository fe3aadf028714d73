"""Saga throughput and latency on the real embedded stack (figures, not pass/fail).

    .venv/bin/python benchmarks/saga_throughput.py --orders 300 --concurrency 50

Starts its own Temporal dev server and nats-server on free ports in a temporary
directory (hold 0 s), submits the orders, waits for every one to end, and prints
completed sagas per second with p50/p95 end-to-end latency. Stops everything after.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from engine.config import Settings
from engine.models import OrderInput, OrderStatus
from engine.stack import Stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run(orders: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            temporal={"host": f"127.0.0.1:{free_port()}", "ui_port": free_port()},
            nats={"url": f"nats://127.0.0.1:{free_port()}"},
            embedded={"mode": "always", "data_dir": Path(data_dir)},
            saga={"hold_seconds": 0},
            catalogue={"bench-item": {"name": "Bench", "price_cents": 100, "stock": 10_000_000}},
        )
        started = time.perf_counter()
        async with Stack(settings) as stack:
            print(f"stack up in {time.perf_counter() - started:.2f}s")
            ops = stack.facade
            gate = asyncio.Semaphore(concurrency)
            latencies: list[float] = []
            outcomes: dict[OrderStatus, int] = {}

            async def one() -> None:
                async with gate:
                    order = OrderInput(
                        order_id=uuid.uuid4().hex[:16],
                        customer_id="bench",
                        items=[{"sku": "bench-item", "quantity": 1, "unit_price_cents": 100}],
                    )
                    begin = time.perf_counter()
                    await ops.submit(order)
                    state = await ops.result(order.order_id)
                    latencies.append(time.perf_counter() - begin)
                    outcomes[state.status] = outcomes.get(state.status, 0) + 1

            begin = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(orders)))
            elapsed = time.perf_counter() - begin
            latencies.sort()
            p95 = latencies[int(len(latencies) * 0.95) - 1]
            print(f"{orders} orders, concurrency {concurrency}: {elapsed:.1f}s, {orders / elapsed:.1f} sagas/s")
            print(f"latency p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
            print("outcomes:", {status.value: count for status, count in outcomes.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.concurrency))


if __name__ == "__main__":
    main()
