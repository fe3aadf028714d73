"""Save the README's screenshot: the dashboard over the tests' in-memory facade, frozen at one moment.

Run from the repository root: `.venv/bin/python docs/screenshot.py` (writes docs/dashboard.svg).
No server is started; the orders are made up, with fixed times, so the picture changes only
when the dashboard does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.models import FaultSettings, OrderInput, OrderStatus, Reason, ServiceName  # noqa: E402
from tests.support.dashboard import fake_settings, wait_until  # noqa: E402
from tests.support.fake_facade import FakeFacade, FakeStack  # noqa: E402
from tui.app import CheckoutApp  # noqa: E402

NOW = datetime(2026, 3, 2, 14, 30, 0, tzinfo=UTC)
SIZE = (140, 40)
OUTPUT = ROOT / "docs" / "dashboard.svg"

# (order id, customer, sku, quantity, unit price, outcome, reason, seconds ago)
ORDERS: list[tuple[str, str, str, int, int, OrderStatus, Reason | None, int]] = [
    ("A1001", "alice", "golang-book", 1, 3999, OrderStatus.COMPLETED, None, 95),
    ("A1002", "bob", "python-book", 2, 4599, OrderStatus.COMPLETED, None, 88),
    ("A1003", "carol", "mechanical-keyboard", 1, 12900, OrderStatus.COMPENSATED, Reason.CARD_DECLINED, 80),
    ("A1004", "dave", "usb-cable", 3, 999, OrderStatus.COMPLETED, None, 71),
    ("A1005", "erin", "golang-book", 2, 3999, OrderStatus.COMPENSATED, Reason.CANCELLED, 64),
    ("A1006", "frank", "python-book", 1, 4599, OrderStatus.COMPLETED, None, 52),
    ("A1007", "grace", "mechanical-keyboard", 1, 12900, OrderStatus.COMPENSATED, Reason.CARD_DECLINED, 40),
    ("A1008", "heidi", "usb-cable", 5, 999, OrderStatus.COMPLETED, None, 31),
    ("A1009", "ivan", "golang-book", 1, 3999, OrderStatus.RUNNING, None, 6),
    ("A1010", "judy", "python-book", 1, 4599, OrderStatus.RUNNING, None, 3),
]


def order(order_id: str, customer: str, sku: str, quantity: int, price: int) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": price}],
        }
    )


def frozen_app() -> CheckoutApp:
    config = fake_settings(saga={"hold_seconds": 10})
    facade = FakeFacade(config, clock=lambda: NOW)
    for order_id, customer, sku, quantity, price, status, reason, ago in ORDERS:
        facade.add_finished(
            order(order_id, customer, sku, quantity, price), status, NOW - timedelta(seconds=ago), reason=reason
        )
    facade.stock = {"golang-book": 97, "python-book": 96, "mechanical-keyboard": 25, "usb-cable": 492}
    facade.requests.update(
        {
            ServiceName.INVENTORY: 10,
            ServiceName.PAYMENT: 9,
            ServiceName.REFUND: 1,
            ServiceName.RESTOCK: 3,
            ServiceName.SHIPPING: 6,
        }
    )
    facade.declines.update({ServiceName.PAYMENT: 2})
    facade._faults[ServiceName.PAYMENT] = FaultSettings(decline_rate=0.2)
    return CheckoutApp(FakeStack(config, facade), clock=lambda: NOW)


async def main() -> None:
    os.environ["TZ"] = "UTC"  # the times shown do not depend on where it runs
    time.tzset()
    app = frozen_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.orders_table.row_count == len(ORDERS), 20, "the orders")
        await wait_until(pilot, lambda: not app.numbers_bar.catching_up, 20, "caught up")
        app.show_order("A1003")
        await wait_until(pilot, lambda: app.detail_view.order_id == "A1003" and app.detail_view.saga, 20, "the Detail")
        await pilot.pause(0.3)
        OUTPUT.write_text(app.export_screenshot(title="checkout-ops"), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
