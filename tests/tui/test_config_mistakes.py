"""Config mistakes an operator made (issue 17, defect 5): each is refused in one line that says
what is wrong and where, and nothing starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.config import TemporalSettings, load_settings
from engine.errors import ConfigError, Unreachable
from engine.runtime import free_port
from engine.temporal_client import connect_temporal
from tui import cli
from tui.config import dashboard_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("TEMPORAL_HOST", "NATS_URL", "CHECKOUT_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no configs/config.yaml here


def config_error(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    config = tmp_path / "mine.yaml"
    config.write_text(text)
    monkeypatch.setenv("CHECKOUT_CONFIG", str(config))
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "\n" not in error.value.message
    return error.value.message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("saga:\n  hold_secs: 5\n", "config key saga.hold_secs: unknown key (did you mean saga.hold_seconds?)"),
        ("retry:\n  max_attempts: 2\n", "retry.max_attempts: unknown key (did you mean retry.maximum_attempts?)"),
        ("temporal:\n  hots: x:1\n", "temporal.hots: unknown key (did you mean temporal.host?)"),
        ("embedded:\n  durabel: false\n", "did you mean embedded.durable?"),
        ("sagas:\n  hold_seconds: 1\n", "config key sagas: unknown key (did you mean saga?)"),
        (
            "catalogue:\n  golang-book: {name: G, price: 1, stock: 1}\n",
            "catalogue.golang-book.price: unknown key (did you mean catalogue.golang-book.price_cents?)",
        ),
        ("saga:\n  zzz: 1\n", "saga.zzz: unknown key: hold_seconds, step_timeout_seconds are valid there"),
    ],
)
def test_an_unknown_key_is_refused_naming_it_and_the_nearest_valid_one(
    text: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert said in config_error(text, tmp_path, monkeypatch)


def test_an_unknown_dashboard_key_too() -> None:
    with pytest.raises(ConfigError) as error:
        dashboard_settings({"bulk_cuont": 5})
    assert error.value.message == "config key dashboard.bulk_cuont: unknown key (did you mean dashboard.bulk_count?)"


def test_a_yaml_error_says_its_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error("saga:\n  hold_seconds: 5\n  step_timeout_seconds: [1\n", tmp_path, monkeypatch)
    assert message.startswith(f"config file {tmp_path / 'mine.yaml'}: line 4, column 1: "), message
    message = config_error("saga:\n  hold_seconds: 5\n    x: 1\n", tmp_path, monkeypatch)
    assert "line 3, column 6: mapping values are not allowed here" in message, message


def test_config_after_the_subcommand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.yaml").write_text("saga:\n  hold_secs: 5\n")
    for argv in (["--config", "mine.yaml", "orders"], ["orders", "--config", "mine.yaml"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "saga.hold_secs: unknown key" in err, (argv, err)  # the file was read: not refused as an option


def test_a_missing_config_file_is_blamed_on_the_option_not_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["orders", "--config", "nowhere.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --config nowhere.yaml: no such file", err
    monkeypatch.setenv("CHECKOUT_CONFIG", "elsewhere.yaml")
    assert cli.main(["orders"]) == 2
    assert "CHECKOUT_CONFIG: no such file: elsewhere.yaml" in capsys.readouterr().err


async def test_another_program_on_the_temporal_port_is_named_as_such() -> None:
    async def speak_something_else(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(speak_something_else, "127.0.0.1", port)
    try:
        with pytest.raises(Unreachable) as error:
            await connect_temporal(TemporalSettings(host=f"127.0.0.1:{port}"))
    finally:
        server.close()
        await server.wait_closed()
    assert "something else answers there" in error.value.message, error.value.message
    assert "start `checkout worker`" not in error.value.message


async def test_a_closed_temporal_port_still_says_to_start_a_worker() -> None:
    with pytest.raises(Unreachable) as error:
        await connect_temporal(TemporalSettings(host=f"127.0.0.1:{free_port()}"))
    assert "connection refused" in error.value.message and "checkout worker" in error.value.message
