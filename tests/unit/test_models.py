"""Order validation: what the workflow, CLI and dashboard accept."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.errors import first_validation_error
from engine.models import OrderInput

GOOD = {
    "order_id": "o-1",
    "customer_id": "c_1",
    "items": [{"sku": "golang-book", "quantity": 2, "unit_price_cents": 3999}],
}


def test_total_is_integer_cents() -> None:
    order = OrderInput.model_validate(GOOD)
    assert order.total_cents == 7998 and isinstance(order.total_cents, int)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"order_id": "has space"}, "order_id"),
        ({"order_id": "a.b"}, "order_id"),  # would split a NATS subject
        ({"order_id": "x" * 65}, "order_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"items": []}, "items"),
        ({"items": [{"sku": "golang-book", "quantity": 0, "unit_price_cents": 1}]}, "items.0.quantity"),
        ({"items": [{"sku": "golang-book", "quantity": 1, "unit_price_cents": -1}]}, "items.0.unit_price_cents"),
        ({"items": [{"sku": "golang-book", "quantity": 1, "unit_price_cents": 9.99}]}, "items.0.unit_price_cents"),
        ({"items": [{"sku": "golang-book", "quantity": "2", "unit_price_cents": 1}]}, "items.0.quantity"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_orders_are_rejected_with_the_field(change: dict, where: str) -> None:
    with pytest.raises(ValidationError) as error:
        OrderInput.model_validate(GOOD | change)
    assert first_validation_error(error.value).startswith(where)
