"""Guarded fault injection without servers: `faults.enabled` and its default, what the controls and
the cache do when it is off, and how a refused publish is recognised."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from engine.config import NatsSettings, Settings, load_settings
from engine.errors import ConfigError
from engine.models import FaultSettings, ServiceName, ServiceReply
from engine.nats_client import _identity, _Refusals
from engine.services.faults import FAULTS_DISABLED, FaultsCache, FaultsControl


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/config.yaml: defaults
    for key in ("TEMPORAL_HOST", "NATS_URL", "CHECKOUT_CONFIG", "CHECKOUT_FAULTS__ENABLED", "CHECKOUT_EMBEDDED__MODE"):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize(("mode", "enabled"), [("auto", True), ("always", True), ("never", False)])
def test_fault_injection_is_on_where_servers_may_be_embedded_and_off_on_a_cluster(mode: str, enabled: bool) -> None:
    assert Settings(embedded={"mode": mode}).faults_enabled is enabled


def test_faults_enabled_overrides_the_default_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(embedded={"mode": "never"}, faults={"enabled": True}).faults_enabled is True
    assert Settings(embedded={"mode": "auto"}, faults={"enabled": False}).faults_enabled is False
    monkeypatch.setenv("CHECKOUT_FAULTS__ENABLED", "false")
    assert load_settings().faults_enabled is False
    monkeypatch.setenv("CHECKOUT_FAULTS__ENABLED", "maybe")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert error.value.message.startswith("config key faults.enabled:") and "\n" not in error.value.message


@pytest.mark.parametrize("enabled", [True, False, None])
def test_a_process_on_this_ones_servers_applies_faults_as_this_one_decided(enabled: bool | None) -> None:
    """Helper workers, the soak's and the bench's only connect (embedded.mode never), whose own
    default would turn fault injection off beside a parent that has it on."""
    parent = Settings(embedded={"mode": "auto"}, faults={"enabled": enabled})
    helper = parent.connecting_only()
    assert helper.embedded.mode == "never"
    assert helper.faults_enabled is parent.faults_enabled is (enabled is not False)


class UntouchableKV:
    """A KV bucket that fails the test if anything reads or writes it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the faults bucket was used ({name}) although fault injection is off")


@pytest.mark.parametrize(
    "request_",
    [
        {"action": "get"},
        {"action": "clear"},
        {"action": "set", "service": "payment", "settings": {"error_rate": 1}},
        {"action": "set", "service": "bank", "settings": []},
    ],
)
def test_the_faults_control_with_faults_off_refuses_everything_and_touches_no_setting(request_: object) -> None:
    control = FaultsControl(UntouchableKV(), enabled=False)  # type: ignore[arg-type]
    reply = asyncio.run(control.handle(json.dumps(request_).encode()))
    assert reply == ServiceReply(ok=False, code="faults_disabled", message=FAULTS_DISABLED)


def test_the_faults_cache_with_faults_off_reads_nothing_and_applies_nothing() -> None:
    cache = FaultsCache(UntouchableKV(), enabled=False)  # type: ignore[arg-type]

    async def run() -> None:
        await cache.start()
        await cache.stop()

    asyncio.run(run())
    assert all(cache.get(service) == FaultSettings() for service in ServiceName)


def test_a_refused_publish_wakes_only_the_requests_on_that_subject() -> None:
    async def run() -> None:
        refusals = _Refusals("user viewer")
        faults, stock = refusals.watch("checkout.control.faults"), refusals.watch("checkout.control.stock")
        # nats-py lowercases the server's -ERR line
        refusals.refused(Exception('nats: permissions violation for publish to "checkout.control.faults"'))
        assert faults.is_set() and not stock.is_set()
        refusals.refused(Exception('nats: permissions violation for subscription to "service.>"'))
        assert not stock.is_set()
        jetstream = refusals.watch("$JS.API.STREAM.CREATE.KV_checkout_stock")
        refusals.refused(
            Exception('nats: permissions violation for publish to "$js.api.stream.create.kv_checkout_stock"')
        )
        assert jetstream.is_set()

    asyncio.run(run())


def test_a_refusal_names_the_user_never_a_secret() -> None:
    assert _identity(NatsSettings(user="viewer", password="pw-1")) == "user viewer"
    assert _identity(NatsSettings(url="nats://operator:pw-2@127.0.0.1:4222")) == "user operator"
    assert _identity(NatsSettings(token="tok-3")) == "this connection's identity"
