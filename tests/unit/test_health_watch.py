"""What health says is down, and what changed since the reading before."""

from __future__ import annotations

from engine.models import Health
from tui.health_watch import HealthWatch


def test_health_names_the_cause_first_and_not_what_hides_behind_it() -> None:
    services = {"inventory": True, "payment": False}
    assert Health(temporal=True, nats=True, worker=True, services=services).down() == {
        "payment": "payment service not answering"
    }
    assert Health(temporal=False, nats=False, worker=False, services={}).down("orders") == {
        "nats": "NATS not answering",
        "temporal": "Temporal not answering",
    }
    assert Health(temporal=True, nats=True, worker=False, services=services).down("orders")["worker"] == (
        "no worker polling task queue orders"
    )


def test_health_watch_tells_down_and_back_once_and_not_what_it_cannot_know() -> None:
    watch = HealthWatch("orders")
    healthy = Health(temporal=True, nats=True, worker=True, services={"payment": True})
    assert watch.update(healthy) == []
    payment_down = healthy.model_copy(update={"services": {"payment": False}})
    assert [(c.part, c.down) for c in watch.update(payment_down)] == [("payment", True)]
    assert watch.update(payment_down) == []
    nats_down = Health(temporal=True, nats=False, worker=True, services={})
    assert [(c.part, c.down) for c in watch.update(nats_down)] == [("nats", True)]  # payment: unknown, not back
    changes = watch.update(healthy)
    assert [(c.part, c.down, c.message) for c in changes] == [
        ("nats", False, "NATS answers again"),
        ("payment", False, "payment service answers again"),
    ]
    assert watch.down == {}
