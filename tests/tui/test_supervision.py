"""Self-healing over the REAL embedded servers: each one SIGKILLed under a running dashboard comes
back on the same data, and the health line goes down and up with the notifications; a frozen
nats-server is named within 2 s; `checkout worker` prints its servers' restarts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from engine import supervision
from engine.models import OrderInput, OrderStatus
from engine.runtime import free_port
from engine.stack import Stack
from tests.support.dashboard import wait_until
from tests.support.servers import pid_alive
from tests.support.stack import stack_settings
from tui.app import CheckoutApp

pytestmark = pytest.mark.integration

SIZE = (120, 40)
NAMED_WITHIN = 2.0  # seconds from the signal to the health line naming the part
PARTS = {"temporal": ("Temporal server", "Temporal"), "nats": ("nats-server", "NATS")}


def an_order() -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": f"sup-{uuid.uuid4().hex[:8]}",
            "customer_id": "cust-sup",
            "items": [{"sku": "golang-book", "quantity": 1, "unit_price_cents": 3999}],
        }
    )


def noticed(app: CheckoutApp, title: str, fragment: str) -> bool:
    return any(t == title and fragment in m for _, t, m in app.notices)


def all_up(app: CheckoutApp) -> bool:
    health = app.status_line.health
    return health is not None and not health.down() and "down" not in app.status_line.plain


async def ready(pilot, app: CheckoutApp) -> None:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: app.facade is not None and all_up(app), timeout=60, what="the stack up")


async def completes(pilot, app: CheckoutApp, stack: Stack) -> str:  # type: ignore[no-untyped-def]
    order = an_order()
    await stack.facade.submit(order)
    await wait_until(
        pilot,
        lambda: app.book.orders.get(order.order_id) and app.book.orders[order.order_id].status is OrderStatus.COMPLETED,
        timeout=60,
        what=f"order {order.order_id} completed",
    )
    return order.order_id


async def test_each_embedded_server_sigkilled_under_a_dashboard_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A first delay long enough that a health read every second sees the server gone.
    monkeypatch.setattr(supervision, "BACKOFF_SECONDS", 2.5)
    caplog.set_level(logging.INFO, logger="engine.supervision")
    caplog.set_level(logging.INFO, logger="tui.health")
    stack = Stack(stack_settings(tmp_path, saga={"hold_seconds": 0.5, "step_timeout_seconds": 2}), supervise=True)
    app = CheckoutApp(stack, owns_stack=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        before = await completes(pilot, app, stack)
        for name, (label, part) in PARTS.items():
            old = stack.servers.pids[name]
            os.kill(old, signal.SIGKILL)
            killed = time.monotonic()
            await wait_until(pilot, lambda part=part: f"{part} down" in app.status_line.plain, timeout=10)
            named = time.monotonic() - killed
            assert named < NAMED_WITHIN, f"{part} named down after {named:.2f} s"
            assert f"{part} not answering" in app.status_line.plain
            crashed = f"{label} exited (killed by SIGKILL)"
            await wait_until(pilot, lambda crashed=crashed: noticed(app, "Server down", crashed))
            await wait_until(
                pilot, lambda label=label: noticed(app, "Server restarted", f"{label} restarted"), timeout=60
            )
            new = stack.servers.pids[name]
            assert new != old and pid_alive(new) and not pid_alive(old)
            await wait_until(pilot, lambda: all_up(app), timeout=30, what=f"the health line up after {name}")
            assert noticed(app, "Down", f"{part} not answering") and noticed(app, "Back", f"{part} answers again")
        # The same data: the order from before is there, and new ones complete on the restarted servers.
        assert (await stack.facade.state(before)).status is OrderStatus.COMPLETED
        await completes(pilot, app, stack)
        report = await stack.facade.audit()
        assert report.discrepancies == [], report.discrepancies
        servers = list(stack.servers.pids.values())
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, timeout=60)
    logged = [record.getMessage() for record in caplog.records]
    for label, part in PARTS.values():
        assert any(line.startswith(f"{label} exited (killed by SIGKILL): restarting it on") for line in logged)
        assert any(line.startswith(f"{label} restarted (pid") for line in logged)
        assert f"{part} not answering" in logged and f"{part} answers again" in logged
    for _ in range(100):
        if not any(pid_alive(pid) for pid in servers):
            break
        await asyncio.sleep(0.1)
    assert not [pid for pid in servers if pid_alive(pid)], "quitting stops the restarted servers too"


async def test_a_frozen_nats_server_is_named_within_2_s_and_left_to_thaw(tmp_path: Path) -> None:
    stack = Stack(stack_settings(tmp_path), supervise=True)
    app = CheckoutApp(stack, owns_stack=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        pid = stack.servers.pids["nats"]
        os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            await wait_until(pilot, lambda: "NATS not answering" in app.status_line.plain, timeout=10)
            named = time.monotonic() - frozen
            assert named < NAMED_WITHIN, f"a frozen NATS named after {named:.2f} s"
            assert "NATS down" in app.status_line.plain and "Temporal down" not in app.status_line.plain
            assert noticed(app, "Down", "NATS not answering")
            await pilot.pause(6)  # the reads over NATS time out meanwhile: they must not blame a worker
            assert app.status_line.problem == "NATS not answering", app.status_line.problem
            assert stack.servers.pids["nats"] == pid and not noticed(app, "Server down", ""), "not a crash"
        finally:
            os.kill(pid, signal.SIGCONT)
        await wait_until(pilot, lambda: noticed(app, "Back", "NATS answers again"), timeout=15)
        await wait_until(pilot, lambda: all_up(app), timeout=30)
        await completes(pilot, app, stack)
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, timeout=60)


async def test_checkout_worker_restarts_its_embedded_nats_server_and_says_so(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_")} | {
        "TEMPORAL_HOST": f"127.0.0.1:{free_port()}",
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "CHECKOUT_TEMPORAL__UI_PORT": str(free_port()),
        "CHECKOUT_TEMPORAL__TASK_QUEUE": f"sup-{uuid.uuid4().hex[:8]}",
        "CHECKOUT_EMBEDDED__MODE": "always",
        "CHECKOUT_EMBEDDED__DATA_DIR": str(tmp_path),
        "COLUMNS": "300",  # one printed line per event
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    assert worker.stdout is not None
    stdout = worker.stdout
    seen: list[str] = []

    def until(fragment: str) -> str:
        for line in stdout:
            seen.append(line.rstrip())
            if fragment in line:
                return line.strip()
        raise AssertionError(f"the worker ended before printing {fragment!r}: {seen}")

    try:
        await asyncio.wait_for(asyncio.to_thread(until, "Ctrl-C"), 60)
        children = [int(p) for p in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
        nats_pid = next(p for p in children if "nats-server" in Path(f"/proc/{p}/cmdline").read_text())
        os.kill(nats_pid, signal.SIGKILL)
        exited = await asyncio.wait_for(asyncio.to_thread(until, "nats-server exited"), 30)
        assert exited.startswith("nats-server exited (killed by SIGKILL): restarting it on"), exited
        restarted = await asyncio.wait_for(asyncio.to_thread(until, "nats-server restarted"), 60)
        assert restarted.startswith("nats-server restarted (pid "), restarted
        new_pid = int(restarted.split("(pid ")[1].split(")")[0])
        assert new_pid != nats_pid and pid_alive(new_pid)
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait, 30)
    assert worker.returncode == 0, seen
