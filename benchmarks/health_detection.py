"""How soon the dashboard's health line names a failing embedded server, and how soon all is up again.

    .venv/bin/python benchmarks/health_detection.py --rounds 3

A dashboard over a supervised stack of its own (free ports, a temporary data directory) runs
headless; each round freezes the nats-server (SIGSTOP, then SIGCONT), then SIGKILLs the
Temporal server and the nats-server, and prints the seconds from the signal to the health line
naming the part, and from the thaw or the kill to every part answering again (the supervisor's
restart, whose first delay `--first-delay` sets, doubles when a server dies again within a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support.stack

from textual.pilot import Pilot

from engine import supervision
from engine.stack import Stack
from tests.support.stack import stack_settings
from tui.app import CheckoutApp

STEPS = (
    ("nats", signal.SIGSTOP, "NATS not answering"),
    ("temporal", signal.SIGKILL, "Temporal not answering"),
    ("nats", signal.SIGKILL, "NATS not answering"),
)


async def until(pilot: Pilot[int], predicate: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no change within {timeout:g} s")
        await pilot.pause(0.02)


async def measure(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        stack = Stack(stack_settings(Path(directory)), supervise=True)
        app = CheckoutApp(stack, owns_stack=True)
        async with app.run_test(size=(120, 40)) as pilot:

            def all_up() -> bool:
                return app.status_line.health is not None and not app.status_line.health.down()

            await until(pilot, lambda: app.facade is not None and all_up())
            for number in range(rounds):
                for name, sent, named in STEPS:
                    pid = stack.servers.pids[name]
                    os.kill(pid, sent)
                    signalled = time.monotonic()
                    await until(pilot, lambda named=named: named in app.status_line.plain)
                    seen = time.monotonic() - signalled
                    if sent is signal.SIGSTOP:
                        os.kill(pid, signal.SIGCONT)
                    back_from = time.monotonic()
                    await until(pilot, all_up)
                    print(
                        f"round {number} {name} {sent.name}: named after {seen:.2f} s, "
                        f"all up again after {time.monotonic() - back_from:.2f} s",
                        flush=True,
                    )
                    await pilot.pause(1.5)
            await pilot.press("q")
            await until(pilot, lambda: app.return_code is not None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-delay", type=float, default=2.5, help="the supervisor's first restart delay (s)")
    args = parser.parse_args()
    supervision.BACKOFF_SECONDS = args.first_delay
    asyncio.run(measure(args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
