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
        ("payment", {"lost_reply_rate": 1.01}, "payment.lost_reply_rate: must be between 0 and 1"),
        ("refund", {"lost_reply_rate": -1}, "refund.lost_reply_rate: must be between 0 and 1"),
        ("shipping", {"lost_reply_rate": float("inf")}, "shipping.lost_reply_rate: must be between 0 and 1"),
        ("restock", {"lost_reply_rate": "often"}, "restock.lost_reply_rate: must be between 0 and 1"),
        (
            "shipping",
            {"speed": 1},
            "shipping.speed: unknown setting (known: error_rate, decline_rate, latency_ms, jitter_ms, down, "
            "lost_reply_rate)",
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


def test_every_endpoint_takes_a_lost_reply_rate():
    for service in ServiceName:
        _, settings = validate_faults(service.value, {"lost_reply_rate": "0.3"})
        assert settings == FaultSettings(lost_reply_rate=0.3)


def test_the_control_endpoint_takes_a_lost_reply_rate_as_a_json_number_only():
    assert validate_faults("payment", {"lost_reply_rate": 1}, strict=True)[1].lost_reply_rate == 1
    with pytest.raises(InvalidInput) as error:
        validate_faults("payment", {"lost_reply_rate": True}, strict=True)
    assert error.value.message == "payment.lost_reply_rate: must be between 0 and 1"


def test_compensations_accept_the_faults_that_apply_to_them():
    _, settings = validate_faults("refund", {"error_rate": 0.5, "latency_ms": 100, "down": True})
    assert settings.down and settings.decline_rate == 0
