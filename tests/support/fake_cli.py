"""`python -m tests.support.fake_cli N ARGS...`: the `checkout` console script over the in-memory
facade holding N finished orders, so a test can run the real command in a subprocess (a real
pipe, a real exit code) without servers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from engine.config import Settings
from engine.models import OrderInput, OrderStatus
from tests.support.dashboard import fake_settings
from tests.support.fake_facade import FakeFacade
from tui import cli


def facade_with_orders(count: int) -> FakeFacade:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.0)
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    for number in range(count):
        order = OrderInput.model_validate(
            {
                "order_id": f"order-{number:05d}",
                "customer_id": "alice",
                "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
            }
        )
        facade.add_finished(order, OrderStatus.COMPLETED, start + timedelta(seconds=number))
    return facade


def main() -> None:
    facade = facade_with_orders(int(sys.argv[1]))

    @asynccontextmanager
    async def connect(_: Settings, **__: object) -> AsyncIterator[FakeFacade]:
        yield facade

    def load_settings() -> Settings:
        return facade.settings

    setattr(cli, "connect", connect)  # noqa: B010 (what the in-process tests do with monkeypatch)
    setattr(cli, "load_settings", load_settings)  # noqa: B010
    sys.argv = ["checkout", *sys.argv[2:]]
    cli.entrypoint()


if __name__ == "__main__":
    main()
