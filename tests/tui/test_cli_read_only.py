"""`checkout --read-only` and CHECKOUT_READ_ONLY: every write command refuses in one line with exit
code 2 before it connects, so nothing changes; the reads work. Over the in-memory facade."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from engine.config import Settings
from engine.models import FaultSettings, OrderInput, ServiceName
from tests.support.dashboard import fake_settings
from tests.support.fake_facade import FakeFacade
from tui import cli, entry, web
from tui.guard import READ_ONLY_ENV

WRITES = [
    ["trigger", "--no-wait"],
    ["cancel", "ro-1"],
    ["terminate", "ro-1"],
    ["faults", "set", "payment", "down=1"],
    ["faults", "clear"],
    ["stock", "set", "golang-book", "7"],
    ["stock", "add", "golang-book", "-2"],
    ["bench", "--attach", "--orders", "1"],
    ["pause", "charge", "--reason", "provider down"],
    ["resume", "charge", "--rate", "5"],
]
READS = [
    ["orders"],
    ["show", "ro-1"],
    ["faults"],
    ["stock"],
    ["audit"],
    ["faults", "show", "--json"],
    ["pause"],  # no step: the paused steps
]


class Fake:
    def __init__(self, facade: FakeFacade) -> None:
        self.facade = facade
        self.connections = 0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    monkeypatch.setenv(READ_ONLY_ENV, "")  # off; and main() setting it is undone after the test
    settings = fake_settings()
    fake = Fake(FakeFacade(settings, step_seconds=0.0))

    @asynccontextmanager
    async def connect(_: Settings, **__: object) -> AsyncIterator[FakeFacade]:
        fake.connections += 1
        yield fake.facade

    monkeypatch.setattr(cli, "connect", connect)
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    order = OrderInput.model_validate(
        {
            "order_id": "ro-1",
            "customer_id": "alice",
            "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
        }
    )
    asyncio.run(fake.facade.submit(order))
    asyncio.run(fake.facade.set_faults(ServiceName.SHIPPING, FaultSettings(latency_ms=5)))
    fake.facade.calls.clear()
    yield fake


def state_of(facade: FakeFacade) -> tuple[object, ...]:
    return (
        dict(facade.stock),
        dict(facade._faults),
        {order_id: state.status for order_id, state in facade.states.items()},
        {order_id: state.cancel_requested for order_id, state in facade.states.items()},
    )


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize("command", WRITES, ids=" ".join)
def test_a_write_command_refuses_in_one_line_and_changes_nothing(
    fake: Fake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str], how: str
) -> None:
    before = state_of(fake.facade)
    if how == "environment":
        monkeypatch.setenv(READ_ONLY_ENV, "1")
        argv = command
    else:
        argv = ["--read-only", *command]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "read-only" in err and "refused" in err, err
    assert fake.connections == 0 and fake.facade.calls == []
    assert state_of(fake.facade) == before


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_the_reads_work_read_only(fake: Fake, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert cli.main(["--read-only", *command]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out
    assert fake.connections == 1


def test_the_environment_variable_s_values(
    fake: Fake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for off in ("0", "false", "off", ""):
        monkeypatch.setenv(READ_ONLY_ENV, off)
        assert cli.main(["stock", "add", "golang-book", "1"]) == 0, off
    monkeypatch.setenv(READ_ONLY_ENV, "sometimes")
    assert cli.main(["stock"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CHECKOUT_READ_ONLY" in err
    monkeypatch.setenv(READ_ONLY_ENV, "yes")
    assert cli.main(["stock", "add", "golang-book", "1"]) == 2
    assert fake.facade.stock["golang-book"] == 104, "the four allowed, the last refused"


def test_the_dashboard_gets_read_only_from_its_option_the_global_one_and_the_environment(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    def run_dashboard(_: Settings, attach: bool = False, read_only: bool = False) -> int:
        seen.append(read_only)
        return 0

    monkeypatch.setattr(entry, "run_dashboard", run_dashboard)
    assert cli.main(["dashboard"]) == 0
    assert cli.main(["dashboard", "--read-only"]) == 0
    assert cli.main(["--read-only", "dashboard", "--attach"]) == 0
    assert cli.main(["--read-only"]) == 0
    monkeypatch.setenv(READ_ONLY_ENV, "1")
    assert cli.main([]) == 0
    assert seen == [False, True, True, True, True]


def test_read_only_reaches_the_processes_it_starts(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web dashboard's tabs are `checkout dashboard` processes: they inherit CHECKOUT_READ_ONLY."""
    seen: list[str | None] = []

    def run_web(_: Settings, __: object, **___: object) -> int:
        seen.append(os.environ.get(READ_ONLY_ENV))
        return 0

    monkeypatch.setattr(web, "run_web", run_web)
    assert cli.main(["dashboard", "--web"]) == 0
    assert cli.main(["dashboard", "--web", "--read-only"]) == 0
    assert seen == ["", "1"]
