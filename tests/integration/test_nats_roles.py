"""NATS roles and guarded fault injection against real servers: a nats-server started with the
shipped `configs/nats/cluster.conf` (its users and permissions, included as they are, not written
again), a Temporal dev server, real services and workers.

- a `viewer` cannot set faults or stock, nor write the KV behind them: one line, nothing changes;
  it still reads (faults, stock, the audit, the events an attached dashboard follows);
- a `worker` runs orders, and cannot set faults or stock the way an operator does;
- an `operator` sets faults (which the workers apply) and stock;
- services with `faults.enabled` off (the default with `embedded.mode: never`) apply no fault
  left in KV, take no new one, and say that the cluster does not allow fault injection.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr

from engine.config import Settings
from engine.errors import AccessDenied
from engine.models import CAUGHT_UP, FaultSettings, ServiceName, StepEvent
from engine.nats_client import connect_nats, request
from engine.runtime import EmbeddedServers, free_port
from engine.services.faults import FAULTS_DISABLED, read_faults
from engine.services.store import FAULTS_BUCKET, open_buckets
from engine.stack import Stack
from tests.support.nats_servers import ConfiguredNatsServer
from tests.support.servers import pid_alive

pytestmark = pytest.mark.integration

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "nats" / "cluster.conf"
PASSWORDS = {role: f"{role}-{secrets.token_hex(8)}" for role in ("worker", "operator", "viewer")}
ROLE_ENV = {f"NATS_{role.upper()}_PASSWORD": password for role, password in PASSWORDS.items()}


@pytest_asyncio.fixture(scope="module")
async def temporal(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """A real Temporal dev server (only Temporal) on free ports."""
    settings = Settings(
        temporal={"host": f"127.0.0.1:{free_port()}", "ui_port": free_port()},
        embedded={"mode": "always", "data_dir": tmp_path_factory.mktemp("temporal")},
    )
    servers = EmbeddedServers(settings, nats=False)
    await servers.start()
    pids = list(servers.pids.values())
    try:
        yield settings
    finally:
        await servers.stop()
    assert not [pid for pid in pids if pid_alive(pid)], "the Temporal server was left running"


@pytest.fixture(scope="module")
def roles_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfiguredNatsServer]:
    directory = tmp_path_factory.mktemp("roles-nats")
    # nats-server resolves an include against the including file's directory, also an absolute one
    shipped = os.path.relpath(SHIPPED_CONFIG, directory)
    with ConfiguredNatsServer(directory, f'include "{shipped}"', env=ROLE_ENV) as server:
        yield server
    assert not server.running


def role_settings(temporal: Settings, nats_url: str, role: str | None, data_dir: Path, **more: object) -> Settings:
    """Settings of a process in a cluster (nothing embedded) connecting to NATS as `role`."""
    nats: dict[str, object] = {"url": nats_url, "request_timeout_seconds": 2}
    if role is not None:
        nats |= {"user": role, "password": PASSWORDS[role]}
    values: dict[str, object] = {
        "temporal": {"host": temporal.temporal.host, "task_queue": f"roles-{uuid.uuid4().hex[:8]}"},
        "nats": nats,
        "embedded": {"mode": "never", "data_dir": data_dir},
        "saga": {"hold_seconds": 0.2, "step_timeout_seconds": 2},
        "retry": {"initial_interval_seconds": 0.1, "maximum_interval_seconds": 0.3, "maximum_attempts": 3},
        **more,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="module")
async def worker(
    temporal: Settings, roles_nats: ConfiguredNatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A worker (Temporal worker and services) connected as `worker`, fault injection allowed."""
    settings = role_settings(
        temporal, roles_nats.url, "worker", tmp_path_factory.mktemp("worker"), faults={"enabled": True}
    )
    async with Stack(settings) as stack:
        yield stack


async def checkout(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The `checkout` command as a user runs it, with the settings' task queue and NATS identity."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "NATS_", "TEMPORAL_"))}
    environment |= {
        "TEMPORAL_HOST": settings.temporal.host,
        "CHECKOUT_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
        "CHECKOUT_EMBEDDED__MODE": "never",
        "CHECKOUT_EMBEDDED__DATA_DIR": str(settings.embedded.data_dir),
        "NATS_URL": settings.nats.url,
    }
    if settings.nats.user:
        assert settings.nats.password is not None
        environment |= {
            "CHECKOUT_NATS__USER": settings.nats.user,
            "CHECKOUT_NATS__PASSWORD": settings.nats.password.get_secret_value(),
        }
    command = [sys.executable, "-m", "tui.cli", *args]
    # In a thread: the worker under test runs on this event loop.
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=environment, timeout=90)


def one_line_error(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for password in PASSWORDS.values():
        assert password not in result.stdout + result.stderr
    return lines[0].removeprefix("error: ")


def as_role(worker: Stack, role: str) -> Settings:
    """The worker's settings (servers, task queue) for another process, connecting as `role`."""
    nats = worker.settings.nats.model_copy(update={"user": role, "password": SecretStr(PASSWORDS[role])})
    return worker.settings.model_copy(update={"nats": nats})


async def faults_and_stock(settings: Settings) -> tuple[object, object]:
    faults, stock = await checkout(settings, "faults", "show", "--json"), await checkout(settings, "stock", "--json")
    assert faults.returncode == 0 and stock.returncode == 0, (faults.stderr, stock.stderr)
    return json.loads(faults.stdout), json.loads(stock.stdout)


async def test_a_viewer_cannot_set_faults_or_stock_and_nothing_changes(worker: Stack) -> None:
    viewer, operator = as_role(worker, "viewer"), as_role(worker, "operator")
    before = await faults_and_stock(operator)

    refused = {
        "faults": "NATS refused: user viewer may not publish to checkout.control.faults",
        "stock": "NATS refused: user viewer may not publish to checkout.control.stock",
    }
    assert one_line_error(await checkout(viewer, "faults", "set", "payment", "error_rate=1"), 3) == refused["faults"]
    assert one_line_error(await checkout(viewer, "faults", "clear"), 3) == refused["faults"]
    assert one_line_error(await checkout(viewer, "stock", "add", "golang-book", "-5"), 3) == refused["stock"]
    assert one_line_error(await checkout(viewer, "stock", "set", "golang-book", "0"), 3) == refused["stock"]

    # Nor around the controls, straight into the KV behind them, or by serving a service's requests.
    nc = await connect_nats(viewer.nats)
    try:
        payload = FaultSettings(error_rate=1).model_dump_json().encode()
        with pytest.raises(AccessDenied, match=r"user viewer may not publish to \$KV.checkout_faults.payment"):
            await request(nc, f"$KV.{FAULTS_BUCKET}.payment", payload, 2)
        with pytest.raises(AccessDenied, match="may not publish to checkout.events.forged"):
            await request(nc, "checkout.events.forged", b"{}", 2)
    finally:
        await nc.close()

    # Read back: nothing changed, and the viewer reads it too (faults from KV, as the services say they apply).
    assert await faults_and_stock(operator) == before
    assert await faults_and_stock(viewer) == before


async def test_a_worker_runs_orders_but_cannot_set_faults_or_stock(worker: Stack) -> None:
    own = worker.settings
    triggered = await checkout(own, "trigger", "--json")
    assert triggered.returncode == 0, triggered.stderr
    assert json.loads(triggered.stdout)["status"] == "COMPLETED"
    refused = one_line_error(await checkout(own, "faults", "set", "payment", "decline_rate=1"), 3)
    assert refused == "NATS refused: user worker may not publish to checkout.control.faults"
    refused = one_line_error(await checkout(own, "stock", "add", "golang-book", "3"), 3)
    assert refused == "NATS refused: user worker may not publish to checkout.control.stock"


async def test_an_operator_sets_faults_the_workers_apply_and_changes_stock(worker: Stack) -> None:
    operator = as_role(worker, "operator")
    assert (await checkout(operator, "faults", "set", "payment", "decline_rate=1")).returncode == 0
    try:
        declined = await checkout(operator, "trigger", "--json")
        assert declined.returncode == 1, declined.stderr
        assert json.loads(declined.stdout)["reason"] == "card_declined"
    finally:
        cleared = await checkout(operator, "faults", "clear")
        assert cleared.returncode == 0, cleared.stderr
    stock = json.loads((await checkout(operator, "stock", "--json")).stdout)
    added = await checkout(operator, "stock", "add", "golang-book", "3", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["units"] == stock["golang-book"] + 3
    completed = await checkout(operator, "trigger", "--json")
    assert json.loads(completed.stdout)["status"] == "COMPLETED", completed.stderr
    audit = await checkout(as_role(worker, "viewer"), "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_an_attached_dashboard_as_viewer_reads_everything_it_shows(worker: Stack) -> None:
    """What `checkout dashboard --attach` starts, as a viewer: health, services, faults, step events."""
    triggered = await checkout(as_role(worker, "operator"), "trigger", "--order-id", "watched", "--json")
    assert triggered.returncode == 0, triggered.stderr
    async with Stack(as_role(worker, "viewer"), worker=False, services=False) as attached:
        facade = attached.facade
        health = await facade.health()
        assert health.nats and health.temporal and all(health.services.values()), health
        assert await facade.faults() == dict.fromkeys(ServiceName, FaultSettings())
        assert (await facade.services_snapshot()).stock
        assert (await facade.state("watched")).status.value == "COMPLETED"
        events = facade.events(since_hours=1)
        seen: list[object] = []
        try:
            async with asyncio.timeout(10):
                async for item in events:
                    seen.append(item)
                    if CAUGHT_UP in seen and any(isinstance(e, StepEvent) and e.order_id == "watched" for e in seen):
                        break
        finally:
            await events.aclose()  # type: ignore[attr-defined]


async def test_one_worker_with_faults_off_makes_the_cluster_refuse_fault_injection(worker: Stack) -> None:
    """Faults set through the one worker that allows them would be applied by it alone: refused."""
    operator = as_role(worker, "operator")
    before = await faults_and_stock(operator)
    other = worker.settings.model_copy(update={"faults": worker.settings.faults.model_copy(update={"enabled": False})})
    async with Stack(other, worker=False):  # its services only
        mixed = "this cluster does not allow fault injection (faults.enabled is off on 1 of 2 workers)"
        for args in (("faults", "show"), ("faults", "set", "payment", "error_rate=1"), ("faults", "clear")):
            assert one_line_error(await checkout(operator, *args), 1) == mixed
            assert one_line_error(await checkout(as_role(worker, "viewer"), *args), 1) == mixed
    assert await faults_and_stock(operator) == before


# --- faults.enabled off, on real services ------------------------------------------------------


@pytest_asyncio.fixture
async def disallowing_worker(temporal: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    """A cluster worker with faults.enabled left at its default (off with embedded.mode never), on a
    NATS whose KV still holds faults set before: every payment declined, inventory erring, shipping down."""
    with ConfiguredNatsServer(tmp_path / "nats") as nats_server:
        settings = role_settings(temporal, nats_server.url, None, tmp_path / "worker")
        assert not settings.faults_enabled
        nc = await connect_nats(settings.nats)
        try:
            buckets = await open_buckets(nc.jetstream())
            left = {
                ServiceName.PAYMENT: FaultSettings(decline_rate=1),
                ServiceName.INVENTORY: FaultSettings(error_rate=1),
                ServiceName.SHIPPING: FaultSettings(down=True),
            }
            for service, faults in left.items():
                await buckets.faults.put(service.value, faults.model_dump_json().encode())
        finally:
            await nc.close()
        async with Stack(settings) as stack:
            yield stack


async def test_services_with_faults_disabled_apply_none_take_none_and_say_so(disallowing_worker: Stack) -> None:
    settings = disallowing_worker.settings
    nc = disallowing_worker.nc
    assert nc is not None
    kv = await nc.jetstream().key_value(FAULTS_BUCKET)
    in_kv = await read_faults(kv)

    for args in (("faults", "show"), ("faults", "set", "payment", "error_rate=0.5"), ("faults", "clear")):
        assert one_line_error(await checkout(settings, *args), 1) == FAULTS_DISABLED
    assert await read_faults(kv) == in_kv, "a refused faults command changed the settings"

    results = await asyncio.gather(*(checkout(settings, "trigger", "--json") for _ in range(3)))
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["status"] == "COMPLETED"  # no decline, no error, shipping answered
    stats = {s.endpoint: s for s in (await disallowing_worker.facade.services_snapshot()).endpoints}
    assert all(s.errors == 0 and s.declines == 0 for s in stats.values()), stats
