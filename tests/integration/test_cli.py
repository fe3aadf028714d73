"""The `checkout` command as a user runs it: a subprocess against the real embedded stack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from engine.models import FaultSettings, OrderInput, OrderStatus, ServiceName, Step
from engine.processes import is_alive
from engine.runtime import free_port
from engine.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hold_seconds() -> float:
    return 6.0  # room for a `checkout cancel` subprocess to start within the hold


def checkout(stack: Stack | None, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_")}
    if stack is not None:
        environment |= {
            "TEMPORAL_HOST": stack.settings.temporal.host,
            "NATS_URL": stack.settings.nats.url,
            "CHECKOUT_TEMPORAL__TASK_QUEUE": stack.settings.temporal.task_queue,
            "CHECKOUT_EMBEDDED__MODE": "never",
        }
    environment |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, env=environment, timeout=60
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


async def in_thread(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(checkout, stack, *args)


async def test_trigger_waits_and_prints_json(stack: Stack) -> None:
    result = await in_thread(stack, "trigger", "--quantity", "2", "--customer", "cli-user", "--json")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["status"] == "COMPLETED"
    assert state["order"]["customer_id"] == "cli-user"
    assert state["order"]["items"][0] == {"sku": "golang-book", "quantity": 2, "unit_price_cents": 3999}


async def wait_for_hold(stack: Stack, order_id: str) -> None:
    for _ in range(100):
        state = await stack.facade.state(order_id)
        if state.current_step == Step.HOLD:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} never reached the hold")


async def test_show_orders_and_cancel(stack: Stack) -> None:
    order_id = f"cli-{uuid.uuid4().hex[:8]}"
    started = await in_thread(stack, "trigger", "--order-id", order_id, "--no-wait")
    assert started.returncode == 0, started.stderr
    await wait_for_hold(stack, order_id)
    cancelled = await in_thread(stack, "cancel", order_id)
    assert cancelled.returncode == 0 and "accepted" in cancelled.stdout
    final = await stack.facade.result(order_id)
    assert final.status is OrderStatus.COMPENSATED
    shown = await in_thread(stack, "show", order_id, "--json")
    assert json.loads(shown.stdout)["reason"] == "cancelled"
    text = await in_thread(stack, "show", order_id)
    assert "refund" in text.stdout and "restock" in text.stdout and "COMPENSATED" in text.stdout
    listed = await in_thread(stack, "orders", "--status", "compensated", "--json")
    assert order_id in {row["order_id"] for row in json.loads(listed.stdout)}
    again = await in_thread(stack, "cancel", order_id)
    assert_one_line_error(again, 1, "rejected")


async def test_faults_set_makes_the_next_order_compensate(stack: Stack) -> None:
    result = await in_thread(stack, "faults", "set", "payment", "decline_rate=1", "--json")
    try:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["payment"]["decline_rate"] == 1
        triggered = await in_thread(stack, "trigger", "--json")
        assert triggered.returncode == 1
        assert json.loads(triggered.stdout)["reason"] == "card_declined"
    finally:
        cleared = await in_thread(stack, "faults", "clear", "--json")
    assert cleared.returncode == 0
    assert all(not any(v for v in fault.values()) for fault in json.loads(cleared.stdout).values())


async def test_faults_set_takes_a_lost_reply_rate_and_shows_it(stack: Stack) -> None:
    result = await in_thread(stack, "faults", "set", "refund", "lost_reply_rate=0.3", "--json")
    try:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["refund"]["lost_reply_rate"] == 0.3
        shown = await in_thread(stack, "faults")
        assert "lost_reply_rate" in shown.stdout
        refund_row = next(line for line in shown.stdout.splitlines() if line.startswith("refund"))
        assert refund_row.split()[-1] == "0.3", shown.stdout
    finally:
        await in_thread(stack, "faults", "clear")


async def test_bad_input_is_one_line_and_changes_nothing(stack: Stack) -> None:
    before = await stack.facade.faults()
    assert_one_line_error(await in_thread(stack, "faults", "set", "payment", "error_rate=2"), 2, "payment.error_rate")
    assert_one_line_error(await in_thread(stack, "faults", "set", "teleport", "down=1"), 2, "unknown service")
    assert_one_line_error(await in_thread(stack, "faults", "set", "payment", "speed=3"), 2, "bad assignment")
    for bad in ("lost_reply_rate=1.5", "lost_reply_rate=-0.1", "lost_reply_rate=often", "lost_reply_rate=nan"):
        assert_one_line_error(await in_thread(stack, "faults", "set", "payment", bad), 2, "payment.lost_reply_rate")
    assert await stack.facade.faults() == before
    assert_one_line_error(await in_thread(stack, "show", "no-such-order"), 4, "no order no-such-order")
    assert_one_line_error(await in_thread(stack, "trigger", "--quantity", "0"), 2, "quantity")
    assert_one_line_error(await in_thread(stack, "trigger", "--sku", "unicorn"), 2, "unknown SKU")
    assert_one_line_error(await in_thread(stack, "trigger", "--order-id", "has space"), 2, "order_id")


def test_unreachable_server_is_one_line() -> None:
    port = free_port()
    result = checkout(None, "orders", env={"TEMPORAL_HOST": f"127.0.0.1:{port}", "CHECKOUT_EMBEDDED__MODE": "never"})
    assert_one_line_error(result, 3, "unreachable", str(port))


def test_bad_config_value_names_the_key() -> None:
    result = checkout(None, "orders", env={"CHECKOUT_SAGA__HOLD_SECONDS": "soon"})
    assert_one_line_error(result, 2, "saga.hold_seconds")
    missing = checkout(None, "orders", env={"CHECKOUT_CONFIG": "/nonexistent/config.yaml"})
    assert_one_line_error(missing, 2, "no such file")


def test_help_for_every_command() -> None:
    commands = ("dashboard", "worker", "servers", "trigger", "orders", "show", "cancel", "faults", "stock", "audit")
    for command in commands:
        result = checkout(None, command, "--help")
        assert result.returncode == 0 and "usage: checkout" in result.stdout


async def test_worker_with_more_processes_shares_the_queue_and_stops_them_all(stack: Stack, tmp_path: Path) -> None:
    """`checkout worker --processes 2` on the stack's servers, with a task queue of its own (and a
    data directory of its own, where the worker processes' logs go)."""
    queue = f"processes-{uuid.uuid4().hex[:8]}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_")} | {
        "TEMPORAL_HOST": stack.settings.temporal.host,
        "NATS_URL": stack.settings.nats.url,
        "CHECKOUT_TEMPORAL__TASK_QUEUE": queue,
        "CHECKOUT_EMBEDDED__MODE": "never",
        "CHECKOUT_EMBEDDED__DATA_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "worker", "--processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    try:
        assert worker.stdout is not None
        stdout = worker.stdout

        def banner() -> str:
            seen = ""
            while "Ctrl-C" not in seen:  # the last words of the banner, however the console wraps it
                seen += " " + next(stdout).strip()
            return seen

        assert "worker running in 2 processes" in await asyncio.to_thread(banner)
        children = [int(pid) for pid in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
        assert len(children) == 1
        results = await asyncio.gather(
            *(asyncio.to_thread(checkout, None, "trigger", "--json", env=environment) for _ in range(4))
        )
        assert all(json.loads(result.stdout)["status"] == "COMPLETED" for result in results), results
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait, 30)
    assert worker.returncode == 0
    assert not [pid for pid in children if is_alive(pid)], "a worker process was left running"
    assert "worker running" in (tmp_path / "logs" / "worker-2.log").read_text()


async def test_a_terminated_order_shows_terminated(stack: Stack) -> None:
    order_id = f"term-{uuid.uuid4().hex[:8]}"
    started = await in_thread(stack, "trigger", "--order-id", order_id, "--no-wait")
    assert started.returncode == 0, started.stderr
    await wait_for_hold(stack, order_id)
    terminated = await in_thread(stack, "terminate", order_id)
    assert terminated.returncode == 0, terminated.stderr
    shown = await in_thread(stack, "show", order_id, "--json")
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert state["status"] == "TERMINATED"
    assert state["current_step"] is None and state["finished_at"] is not None
    hold = next(step for step in state["steps"] if step["name"] == "hold")
    assert hold["status"] == "CUT_OFF" and hold["finished_at"] == state["finished_at"], hold
    assert all(step["status"] != "RUNNING" for step in state["steps"]), state["steps"]
    text = await in_thread(stack, "show", order_id)
    assert "status TERMINATED" in text.stdout
    hold_line = next(line for line in text.stdout.splitlines() if line.split()[:1] == ["hold"])
    assert "CUT_OFF" in hold_line and "RUNNING" not in hold_line, hold_line
    again = await in_thread(stack, "terminate", order_id)
    assert_one_line_error(again, 1, f"order {order_id} has already ended (TERMINATED)")


async def test_terminate_on_a_completed_order_says_it_has_ended(stack: Stack) -> None:
    order_id = f"done-{uuid.uuid4().hex[:8]}"
    await stack.facade.submit(
        OrderInput.model_validate(
            {
                "order_id": order_id,
                "customer_id": "cli-user",
                "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
            }
        )
    )
    hold = stack.settings.saga.hold_seconds
    assert (await asyncio.wait_for(stack.facade.result(order_id), hold + 20)).status is OrderStatus.COMPLETED
    result = await in_thread(stack, "terminate", order_id)
    assert_one_line_error(result, 1, f"order {order_id} has already ended (COMPLETED)")


async def test_orders_filter_by_status_before_the_limit_and_list_strictly_newest_first(stack: Stack) -> None:
    def order(order_id: str) -> OrderInput:
        return OrderInput.model_validate(
            {
                "order_id": order_id,
                "customer_id": "lister",
                "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
            }
        )

    tag = uuid.uuid4().hex[:6]
    held, declined, newest = f"held-{tag}", [f"declined-{tag}-{n}" for n in range(3)], f"newest-{tag}"
    await stack.facade.submit(order(held))  # runs on through the hold, ends after the declined ones
    await wait_for_hold(stack, held)
    await stack.facade.set_faults(ServiceName.PAYMENT, FaultSettings(decline_rate=1))
    try:
        for order_id in declined:
            await stack.facade.submit(order(order_id))
            await asyncio.sleep(0.05)
            assert (await stack.facade.result(order_id)).status is OrderStatus.COMPENSATED
    finally:
        await stack.facade.clear_faults()
    await stack.facade.submit(order(newest))

    compensated = await in_thread(stack, "orders", "--status", "compensated", "--limit", "3", "--json")
    assert compensated.returncode == 0, compensated.stderr
    assert [row["order_id"] for row in json.loads(compensated.stdout)] == declined[::-1]
    listed = await in_thread(stack, "orders", "--limit", "5", "--json")
    assert [row["order_id"] for row in json.loads(listed.stdout)] == [newest, *declined[::-1], held]
