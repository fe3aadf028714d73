"""Disk used per 10,000 orders: Temporal's SQLite file, and each JetStream stream (figures, not pass/fail).

    .venv/bin/python benchmarks/disk_usage.py --orders 10000

Starts a private stack (free ports, a temporary directory, hold 0 s), runs the orders to their
end, and prints the bytes each store holds, scaled to 10,000 orders. The events stream and
the request records are bounded by age (`nats.events_max_age_hours`, `nats.records_ttl_hours`),
so these figures times the orders of that many hours is what they settle at.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from engine.config import Settings
from engine.events import STREAM
from engine.models import OrderInput
from engine.runtime import private_server_settings
from engine.services.store import FAULTS_BUCKET, LEDGER_BUCKET, REQUESTS_BUCKET, STOCK_BUCKET
from engine.stack import Stack

PER = 10_000


async def run(orders: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        base = Settings(
            saga={"hold_seconds": 0},
            catalogue={"disk-item": {"name": "Disk", "price_cents": 100, "stock": 10_000_000}},
        )
        settings = private_server_settings(base, Path(directory))
        async with Stack(settings) as stack:
            ops, gate = stack.facade, asyncio.Semaphore(concurrency)
            began = time.monotonic()

            async def one() -> None:
                async with gate:
                    order = OrderInput(
                        order_id=uuid.uuid4().hex[:12],
                        customer_id="disk",
                        items=[{"sku": "disk-item", "quantity": 1, "unit_price_cents": 100}],
                    )
                    await ops.submit(order)
                    await ops.result(order.order_id)

            await asyncio.gather(*(one() for _ in range(orders)))
            print(f"{orders} orders in {time.monotonic() - began:.0f} s")
            assert stack.nc is not None
            js = stack.nc.jetstream()
            rows = []
            for stream in (
                STREAM,
                *(f"KV_{bucket}" for bucket in (REQUESTS_BUCKET, STOCK_BUCKET, LEDGER_BUCKET, FAULTS_BUCKET)),
            ):
                state = (await js.stream_info(stream)).state
                rows.append((stream, state.bytes, state.messages))
        sqlite = sum(path.stat().st_size for path in Path(directory).glob("temporal.db*"))
        print(f"{'store':<26} {'bytes':>12} {'messages':>9} {'per 10k orders':>15}")
        for name, size, messages in [*rows, ("temporal.db (SQLite + WAL)", sqlite, 0)]:
            print(f"{name:<26} {size:>12,} {messages:>9,} {size * PER / orders / 1e6:>12.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.concurrency))


if __name__ == "__main__":
    main()
