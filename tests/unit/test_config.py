"""Config: YAML file, environment overrides, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import TemporalSettings, load_settings
from engine.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("TEMPORAL_HOST", "NATS_URL", "CHECKOUT_CONFIG"):
        monkeypatch.delenv(key, raising=False)


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/config.yaml here: pure defaults
    settings = load_settings()
    assert settings.temporal.host == "localhost:7233"
    assert settings.temporal.namespace == "default"
    assert settings.temporal.task_queue == "ORDER_QUEUE"
    assert settings.nats.url == "nats://localhost:4222"
    assert settings.embedded.mode == "auto"
    assert settings.saga.hold_seconds == 10
    assert settings.catalogue["golang-book"].name == "Golang Book"


def test_yaml_file_then_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "other.yaml"
    config.write_text("saga:\n  hold_seconds: 42\ntemporal:\n  task_queue: Q1\n  host: example:7000\n")
    monkeypatch.setenv("CHECKOUT_CONFIG", str(config))
    assert load_settings().saga.hold_seconds == 42
    monkeypatch.setenv("CHECKOUT_SAGA__HOLD_SECONDS", "7")
    monkeypatch.setenv("TEMPORAL_HOST", "10.0.0.5:7233")
    monkeypatch.setenv("NATS_URL", "nats://nats:4222")
    settings = load_settings()
    assert settings.saga.hold_seconds == 7
    assert settings.temporal.host == "10.0.0.5:7233"
    assert settings.temporal.task_queue == "Q1"  # untouched keys keep the file's value
    assert settings.nats.hostname == "nats" and settings.nats.port == 4222


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("CHECKOUT_SAGA__HOLD_SECONDS", "-1", "saga.hold_seconds"),
        ("CHECKOUT_RETRY__MAXIMUM_ATTEMPTS", "many", "retry.maximum_attempts"),
        ("CHECKOUT_EMBEDDED__MODE", "sometimes", "embedded.mode"),
        ("TEMPORAL_HOST", "no-port", "TEMPORAL_HOST"),
        ("NATS_URL", "http://x:1", "NATS_URL"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert key in error.value.message and "\n" not in error.value.message
    assert error.value.exit_code == 2


def test_bad_yaml_and_unknown_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("saga: [unclosed\n")
    monkeypatch.setenv("CHECKOUT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_settings()
    config.write_text("sagas:\n  hold_seconds: 1\n")
    with pytest.raises(ConfigError, match="sagas"):
        load_settings()
    config.write_text("catalogue:\n  'bad sku': {name: x, price_cents: 1, stock: 1}\n")
    with pytest.raises(ConfigError, match="catalogue"):
        load_settings()


def test_web_ui_address_follows_the_temporal_host_unless_configured() -> None:
    assert TemporalSettings(host="127.0.0.1:7233").web_ui_url == "http://127.0.0.1:8233"
    assert TemporalSettings(host="example:7000", ui_port=9000).web_ui_url == "http://example:9000"
    assert TemporalSettings(host="example:7000", ui_url="https://ui.example/").web_ui_url == "https://ui.example"
