"""Fault settings validation: one line naming the endpoint and the key."""

from __future__ import annotations

import pytest

from engine.errors import InvalidInput
from engine.models import FaultSettings, ServiceName
from engine.services import validate_faults


def test_valid_settings_are_accepted_as_given_on_a_command_line():
    service, settings = validate_faults("payment", {"error_rate": "0.25", "latency_ms": "300", "down": "false"})
    assert service is ServiceName.PAYMENT
    assert settings == FaultSettings(error_rate=0.25, latency_ms=300)


@pytest.mark.parametrize(
    ("service", "raw", "message"),
    [
        ("payment", {"error_rate": 1.5}, "payment.error_rate: must be between 0 and 1"),
        ("inventory", {"decline_rate": -0.1}, "inventory.decline_rate: must be between 0 and 1"),
        ("payment", {"error_rate": float("nan")}, "payment.error_rate: must be between 0 and 1"),
        (
            "shipping",
            {"latency_ms": 2.5},
            "shipping.latency_ms: must be a whole number of milliseconds between 0 and 60000",
        ),
        (
            "shipping",
            {"jitter_ms": 60_001},
            "shipping.jitter_ms: must be a whole number of milliseconds between 0 and 60000",
        ),
        ("shipping", {"down": "maybe"}, "shipping.down: must be true or false"),
        (
            "shipping",
            {"speed": 1},
            "shipping.speed: unknown setting (known: error_rate, decline_rate, latency_ms, jitter_ms, down)",
        ),
        (
            "refund",
            {"decline_rate": 0.5},
            "refund.decline_rate: a compensation never declines; use error_rate, latency_ms or down",
        ),
        (
            "restock",
            {"decline_rate": 1},
            "restock.decline_rate: a compensation never declines; use error_rate, latency_ms or down",
        ),
        ("bank", {}, "unknown service 'bank' (known: inventory, restock, payment, refund, shipping)"),
        ("payment", [1], "payment: settings must be a JSON object"),
    ],
)
def test_invalid_settings_name_the_key(service, raw, message):
    with pytest.raises(InvalidInput) as error:
        validate_faults(service, raw)
    assert error.value.message == message


def test_compensations_accept_the_faults_that_apply_to_them():
    _, settings = validate_faults("refund", {"error_rate": 0.5, "latency_ms": 100, "down": True})
    assert settings.down and settings.decline_rate == 0
