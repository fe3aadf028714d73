"""Secured connections: settings from the environment, what reaches the clients, and secrets never shown."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from engine import temporal_client
from engine.config import EmbeddedMode, NatsSettings, Settings, TemporalSettings, load_settings, redact_url
from engine.errors import AccessDenied, ConfigError, ServerStartError
from engine.nats_client import connect_options
from engine.runtime import EmbeddedServers
from tests.support.tls_certs import Certificates, make_certificates
from tui import cli

SECRET = "pa55-w0rd-XYZ"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/config.yaml: only what a test sets
    for key in ("TEMPORAL_HOST", "NATS_URL", "CHECKOUT_CONFIG"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://alice:secret@h:4222", "nats://alice:***@h:4222"),
        ("nats://t0ken@h:4222", "nats://***@h:4222"),
        ("nats://h:4222", "nats://h:4222"),
        ("nats://a:b@h:1,nats://c:d@i:2", "nats://a:***@h:1,nats://c:***@i:2"),
        ("nats://u:with,comma@h:1, nats://i:2", "nats://u:***@h:1,nats://i:2"),
        ("nats://u:p w@h", "nats://u:***@h"),  # malformed, as an error message might quote it
        ("nats://u:a@b@h:1", "nats://u:***@h:1"),
    ],
)
def test_urls_are_shown_without_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seed = tmp_path / "user.nk"
    seed.write_text("SU...")
    monkeypatch.setenv("NATS_URL", "nats://n1:4222, nats://n2:4222,nats://n3:4222")
    monkeypatch.setenv("CHECKOUT_NATS__NKEY_SEED_FILE", str(seed))
    monkeypatch.setenv("CHECKOUT_NATS__REPLICAS", "3")
    monkeypatch.setenv("CHECKOUT_TEMPORAL__API_KEY", SECRET)
    settings = load_settings()
    assert settings.nats.servers == ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]
    assert (settings.nats.hostname, settings.nats.port, settings.nats.replicas) == ("n1", 4222, 3)
    assert settings.nats.nkey_seed_file == seed and settings.nats.secured
    assert settings.temporal.api_key.get_secret_value() == SECRET and settings.temporal.uses_tls


def test_defaults_are_plain_and_unauthenticated() -> None:
    settings = load_settings()
    assert not settings.nats.secured and not settings.temporal.uses_tls
    assert settings.nats.replicas == 1
    assert connect_options(settings.nats) == {}
    assert temporal_client.tls_config(settings.temporal) is False


def test_repr_and_str_never_show_a_secret() -> None:
    settings = Settings(
        nats={"url": f"nats://alice:{SECRET}@h:4222"},
        temporal={"api_key": SECRET},
    )
    other = Settings(nats={"user": "bob", "password": SECRET})
    token = Settings(nats={"token": SECRET})
    web = Settings(dashboard={"web_token": SECRET, "web_read_only_token": SECRET, "theme": "nord"})
    shown_all = (repr(settings), str(settings), repr(other), repr(other.nats), repr(token), str(token.nats), repr(web))
    for shown in (*shown_all, str(web)):
        assert SECRET not in shown
    assert "alice:***@h:4222" in repr(settings)
    assert "'theme': 'nord'" in repr(web)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"NATS_URL": f"nats://alice:{SECRET}@no-port"}, "nats.url"),
        ({"NATS_URL": f"http://alice:{SECRET}@h:1"}, "nats.url"),
        ({"CHECKOUT_NATS__PASSWORD": SECRET}, "nats.user"),
        ({"CHECKOUT_NATS__USER": "u", "CHECKOUT_NATS__PASSWORD": SECRET, "CHECKOUT_NATS__TOKEN": SECRET}, "token"),
        ({"NATS_URL": f"nats://u:{SECRET}@h:1", "CHECKOUT_NATS__USER": "u"}, "credentials in nats.url"),
        ({"CHECKOUT_NATS__CREDS_FILE": "/no/such.creds"}, "nats.creds_file"),
        ({"CHECKOUT_NATS__TLS_CERT_FILE": "/etc/hostname"}, "nats.tls_key_file"),
        ({"CHECKOUT_NATS__REPLICAS": "0"}, "nats.replicas"),
        ({"CHECKOUT_NATS__REPLICAS": "6"}, "nats.replicas"),
        ({"CHECKOUT_TEMPORAL__TLS_KEY_FILE": "/etc/hostname"}, "temporal.tls_cert_file"),
        ({"CHECKOUT_TEMPORAL__TLS_CA_FILE": "/no/ca.pem"}, "temporal.tls_ca_file"),
    ],
)
def test_bad_security_settings_are_one_line_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], key: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = error.value.message
    assert key in message and "\n" not in message and SECRET not in message
    assert error.value.exit_code == 2


def test_a_secret_of_the_wrong_type_in_yaml_is_not_quoted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("nats:\n  user: u\n  password: [982451653]\n")
    monkeypatch.setenv("CHECKOUT_CONFIG", str(config))
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "nats.password" in error.value.message and "982451653" not in error.value.message


def test_nats_options_carry_each_way_to_authenticate(tmp_path: Path) -> None:
    creds = tmp_path / "user.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----")
    assert connect_options(NatsSettings(user="alice", password=SECRET)) == {"user": "alice", "password": SECRET}
    assert connect_options(NatsSettings(token=SECRET)) == {"token": SECRET}
    assert connect_options(NatsSettings(creds_file=creds)) == {"user_credentials": str(creds)}
    assert connect_options(NatsSettings(nkey_seed_file=creds)) == {"nkeys_seed": str(creds)}
    assert connect_options(NatsSettings(token="")) == {}  # an empty variable means unset


def test_nats_tls_context_trusts_the_ca_and_presents_the_client_certificate(certs: Certificates) -> None:
    options = connect_options(
        NatsSettings(tls_ca_file=certs.ca, tls_cert_file=certs.client_cert, tls_key_file=certs.client_key)
    )
    context = options["tls"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "checkout-ops test CA"),),)]
    assert isinstance(connect_options(NatsSettings(url="tls://h:4222"))["tls"], ssl.SSLContext)


def test_unreadable_tls_files_are_a_config_error(tmp_path: Path, certs: Certificates) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match="nats.tls"):
        connect_options(NatsSettings(tls_ca_file=certs.ca, tls_cert_file=garbage, tls_key_file=garbage))


class ConnectSpy:
    """Stands in for Client.connect, the boundary to Temporal: records what it is given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error

    async def __call__(self, target_host: str, **kwargs: object) -> str:
        self.calls.append({"target_host": target_host, **kwargs})
        if self.error:
            raise self.error
        return "client"


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ConnectSpy:
    spy = ConnectSpy()
    monkeypatch.setattr(Client, "connect", spy)
    return spy


async def test_temporal_plain_by_default(spy: ConnectSpy) -> None:
    await temporal_client.connect_temporal(TemporalSettings(host="t:7233"))
    assert spy.calls[0]["tls"] is False and spy.calls[0]["api_key"] is None


async def test_temporal_api_key_turns_tls_on(spy: ConnectSpy) -> None:
    await temporal_client.connect_temporal(TemporalSettings(host="ns.acct.tmprl.cloud:7233", api_key=SECRET))
    assert spy.calls[0]["tls"] is True and spy.calls[0]["api_key"] == SECRET


async def test_temporal_mtls_sends_the_files_contents(spy: ConnectSpy, certs: Certificates) -> None:
    settings = TemporalSettings(
        host="t:7233",
        tls_ca_file=certs.ca,
        tls_cert_file=certs.client_cert,
        tls_key_file=certs.client_key,
        tls_server_name="temporal.internal",
    )
    await temporal_client.connect_temporal(settings)
    tls = spy.calls[0]["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == certs.ca.read_bytes()
    assert tls.client_cert == certs.client_cert.read_bytes()
    assert tls.client_private_key == certs.client_key.read_bytes()
    assert tls.domain == "temporal.internal"
    assert spy.calls[0]["api_key"] is None


async def test_temporal_refused_credentials_are_one_line_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ConnectSpy(RPCError("Request unauthorized.", RPCStatusCode.UNAUTHENTICATED, b""))
    monkeypatch.setattr(Client, "connect", spy)
    with pytest.raises(AccessDenied) as error:
        await temporal_client.connect_temporal(TemporalSettings(host="t:7233", api_key=SECRET))
    assert error.value.message == "Temporal at t:7233 refused the credentials (unauthenticated)"
    assert error.value.exit_code == 3


async def test_secured_or_clustered_servers_are_never_embedded(tmp_path: Path) -> None:
    auto = {"mode": EmbeddedMode.AUTO, "data_dir": tmp_path}
    cases = [
        Settings(embedded=auto, nats={"url": "nats://127.0.0.1:1", "token": "t"}),
        Settings(embedded=auto, nats={"url": "nats://127.0.0.1:1,nats://127.0.0.1:2"}),
        Settings(embedded=auto, temporal={"host": "127.0.0.1:1", "tls": True}),
    ]
    for settings in cases:
        servers = EmbeddedServers(settings)
        name = "temporal" if settings.temporal.uses_tls else "nats"
        host, port = (settings.temporal.hostname, settings.temporal.port) if name == "temporal" else ("127.0.0.1", 1)
        assert not await servers._should_start(name, host, port)
        always = settings.model_copy(update={"embedded": settings.embedded.model_copy(update={"mode": "always"})})
        with pytest.raises(ServerStartError, match="cannot serve"):
            await EmbeddedServers(always)._should_start(name, host, port)


def test_help_shows_no_secret(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NATS_URL", f"nats://alice:{SECRET}@h:4222")
    monkeypatch.setenv("CHECKOUT_TEMPORAL__API_KEY", SECRET)
    for command in ([], ["worker"], ["trigger"], ["faults"]):
        with pytest.raises(SystemExit) as done:
            cli.main([*command, "--help"])
        assert done.value.code == 0
    assert SECRET not in capsys.readouterr().out
