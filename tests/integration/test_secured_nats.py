"""Secured NATS against real nats-servers started with authorization or TLS: the right
credentials connect and work, anything else is one clear line, and no secret is ever shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nkeys
import pytest

from engine.config import NatsSettings, Settings
from engine.errors import AccessDenied, Unreachable
from engine.nats_client import connect_nats
from engine.runtime import EmbeddedServers, free_port
from tests.integration.conftest import pid_alive
from tests.support.nats_servers import ConfiguredNatsServer
from tests.support.tls_certs import Certificates, make_certificates

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "s3cret-Pa55"
TOKEN = "t0ken-Zq81"
REFUSED = "refused the credentials (authorization violation)"


@pytest.fixture
def password_server(tmp_path: Path) -> Iterator[ConfiguredNatsServer]:
    with ConfiguredNatsServer(tmp_path, f'authorization {{ user: {USER}, password: "{PASSWORD}" }}') as server:
        yield server


async def connects(settings: NatsSettings) -> bool:
    """Connect, use JetStream (authorized for real, not only the handshake), close."""
    nc = await connect_nats(settings)
    try:
        await nc.jetstream().account_info()
        return True
    finally:
        await nc.close()


async def refused(settings: NatsSettings, expected: type[Unreachable] = AccessDenied) -> str:
    started = time.monotonic()
    with pytest.raises(expected) as error:
        await connect_nats(settings)
    assert time.monotonic() - started < 10
    message = error.value.message
    assert "\n" not in message and error.value.exit_code == 3
    for secret in (PASSWORD, TOKEN, "wrong-pass", "wrong-token"):
        assert secret not in message
    return message


async def test_user_and_password(password_server: ConfiguredNatsServer) -> None:
    url = password_server.url
    assert await connects(NatsSettings(url=url, user=USER, password=PASSWORD))
    assert await refused(NatsSettings(url=url, user=USER, password="wrong-pass")) == f"NATS at {url} {REFUSED}"
    assert await refused(NatsSettings(url=url)) == f"NATS at {url} {REFUSED}"  # no credentials at all


async def test_credentials_in_the_url_are_redacted(password_server: ConfiguredNatsServer) -> None:
    host = password_server.url.removeprefix("nats://")
    assert await connects(NatsSettings(url=f"nats://{USER}:{PASSWORD}@{host}"))
    message = await refused(NatsSettings(url=f"nats://{USER}:wrong-pass@{host}"))
    assert message == f"NATS at nats://{USER}:***@{host} {REFUSED}"


async def test_token(tmp_path: Path) -> None:
    with ConfiguredNatsServer(tmp_path, f'authorization {{ token: "{TOKEN}" }}') as server:
        assert await connects(NatsSettings(url=server.url, token=TOKEN))
        assert REFUSED in await refused(NatsSettings(url=server.url, token="wrong-token"))


async def test_nkey_seed_file(tmp_path: Path) -> None:
    def user_seed(name: str) -> tuple[Path, str]:
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        path = tmp_path / f"{name}.nk"
        path.write_bytes(seed)
        return path, nkeys.from_seed(bytearray(seed)).public_key.decode()

    known, public_key = user_seed("known")
    stranger, _ = user_seed("stranger")
    with ConfiguredNatsServer(tmp_path, f"authorization {{ users: [ {{ nkey: {public_key} }} ] }}") as server:
        assert await connects(NatsSettings(url=server.url, nkey_seed_file=known))
        assert REFUSED in await refused(NatsSettings(url=server.url, nkey_seed_file=stranger))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("other"), ca_name="some other CA")


async def test_tls_with_client_certificates(tmp_path: Path, certs: Certificates, other_certs: Certificates) -> None:
    tls = (
        f'tls {{ cert_file: "{certs.server_cert}", key_file: "{certs.server_key}", '
        f'ca_file: "{certs.ca}", verify: true }}'
    )
    with ConfiguredNatsServer(tmp_path, tls) as server:
        url = server.url
        mutual = {"tls_cert_file": certs.client_cert, "tls_key_file": certs.client_key}
        assert await connects(NatsSettings(url=url, tls_ca_file=certs.ca, **mutual))
        assert await connects(NatsSettings(url=f"tls://127.0.0.1:{server.port}", tls_ca_file=certs.ca, **mutual))

        # The server's certificate is not trusted: nats-py would wait forever here.
        untrusted = await refused(NatsSettings(url=url, tls_ca_file=other_certs.ca, **mutual), Unreachable)
        assert "TLS handshake failed" in untrusted and "certificate" in untrusted
        assert "TLS handshake failed" in await refused(NatsSettings(url=url), Unreachable)
        # The server refuses a client without a certificate, or with one from another CA.
        assert "TLS handshake failed" in await refused(NatsSettings(url=url, tls_ca_file=certs.ca), Unreachable)
        stranger = {"tls_cert_file": other_certs.client_cert, "tls_key_file": other_certs.client_key}
        assert "TLS handshake failed" in await refused(
            NatsSettings(url=url, tls_ca_file=certs.ca, **stranger), Unreachable
        )


async def test_tls_settings_refuse_a_server_without_tls(tmp_path: Path, certs: Certificates) -> None:
    """nats-py would talk plain text to a server that does not ask for TLS: the settings ask for it."""
    with ConfiguredNatsServer(tmp_path) as server:
        message = await refused(NatsSettings(url=server.url, tls_ca_file=certs.ca), Unreachable)
        assert message == f"NATS at {server.url} does not offer TLS, which the settings require"


# --- the checkout command, as a user runs it, against an authorizing NATS ------------------


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[Settings]:
    """A real Temporal dev server (only Temporal) on free ports; settings that point at it."""
    import asyncio

    settings = Settings(
        temporal={"host": f"127.0.0.1:{free_port()}", "ui_port": free_port(), "task_queue": "secured-orders"},
        embedded={"mode": "always", "data_dir": tmp_path / "temporal"},
    )
    servers = EmbeddedServers(settings, nats=False)
    asyncio.run(servers.start())  # a sync fixture: the test's own loop is not running yet
    pids = list(servers.pids.values())
    try:
        yield settings
    finally:
        asyncio.run(servers.stop())
    assert not [pid for pid in pids if pid_alive(pid)], "the Temporal server was left running"


def checkout_env(temporal: Settings, nats_url: str, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "NATS_", "TEMPORAL_"))}
    return environment | {
        "TEMPORAL_HOST": temporal.temporal.host,
        "CHECKOUT_TEMPORAL__TASK_QUEUE": temporal.temporal.task_queue,
        "CHECKOUT_EMBEDDED__MODE": "auto",  # Temporal answers, NATS is secured: nothing is embedded
        "CHECKOUT_EMBEDDED__DATA_DIR": str(Path(temporal.embedded.data_dir).parent / "worker"),
        "CHECKOUT_SAGA__HOLD_SECONDS": "0.2",
        "NATS_URL": nats_url,
        **extra,
    }


def checkout(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, env=env, timeout=60)


def test_worker_and_commands_over_an_authorizing_nats(
    password_server: ConfiguredNatsServer, temporal: Settings
) -> None:
    host = password_server.url.removeprefix("nats://")
    good = checkout_env(temporal, f"nats://{USER}:{PASSWORD}@{host}")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "worker"],
        env=good,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    running = threading.Event()

    def read() -> None:
        assert worker.stdout is not None
        for line in worker.stdout:
            output.append(line)
            if "worker running" in line:
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert running.wait(60), "".join(output)
        banner = "".join(output)
        assert f"NATS nats://{USER}:***@{host}" in banner and PASSWORD not in banner

        triggered = checkout(good, "trigger", "--json")
        assert triggered.returncode == 0, triggered.stderr
        assert json.loads(triggered.stdout)["status"] == "COMPLETED"
        shown = checkout(good, "faults", "show", "--json")
        assert shown.returncode == 0 and "payment" in json.loads(shown.stdout)

        for env in (
            checkout_env(temporal, f"nats://{USER}:wrong-pass@{host}"),
            checkout_env(temporal, password_server.url, CHECKOUT_NATS__USER=USER, CHECKOUT_NATS__PASSWORD="wrong-pass"),
            checkout_env(temporal, password_server.url),  # no credentials
        ):
            result = checkout(env, "faults", "show")
            assert result.returncode == 3, (result.stdout, result.stderr)
            assert "Traceback" not in result.stderr and "wrong-pass" not in result.stderr + result.stdout
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and REFUSED in lines[0], result.stderr
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        reader.join(timeout=5)
    assert PASSWORD not in "".join(output)
