"""Hostile input for property tests: strategies that make valid and invalid orders and
service requests, and oracles, written independently of the pydantic models, that say
which are valid."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from engine.models import MAX_LINE_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE_CENTS

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # ASCII only; fullmatch, so no trailing newline slips through
ITEM_KEYS = {"sku", "quantity", "unit_price_cents"}
ORDER_KEYS = {"order_id", "customer_id", "items"}
REQUEST_KEYS = {"idempotency_key", "order_id", "customer_id", "items", "amount_cents"}


# --- oracles ---------------------------------------------------------------------------------


def is_id(value: object) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def is_int(value: object, low: int, high: int | None = None) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


def is_item(item: object) -> bool:
    return (
        type(item) is dict
        and set(item) == ITEM_KEYS
        and is_id(item["sku"])
        and is_int(item["quantity"], 1, MAX_QUANTITY)
        and is_int(item["unit_price_cents"], 0, MAX_UNIT_PRICE_CENTS)
    )


def are_items(items: object) -> bool:
    return type(items) is list and 1 <= len(items) <= MAX_LINE_ITEMS and all(is_item(item) for item in items)


def total_cents(items: list[dict[str, Any]]) -> int:
    return sum(item["quantity"] * item["unit_price_cents"] for item in items)


def is_order(raw: object) -> bool:
    return (
        type(raw) is dict
        and set(raw) == ORDER_KEYS
        and is_id(raw["order_id"])
        and is_id(raw["customer_id"])
        and are_items(raw["items"])
    )


def is_request(raw: object, step: str) -> bool:
    """A request `service.<endpoint>` must apply: its idempotency key names its order and this step,
    and the amount is exactly the items' total."""
    return (
        type(raw) is dict
        and set(raw) == REQUEST_KEYS
        and is_id(raw["order_id"])
        and is_id(raw["customer_id"])
        and are_items(raw["items"])
        and raw["idempotency_key"] == f"{raw['order_id']}:{step}"
        and is_int(raw["amount_cents"], 0)
        and raw["amount_cents"] == total_cents(raw["items"])
    )


# --- strategies ------------------------------------------------------------------------------

valid_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
hostile_ids: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=80),  # unicode, control characters, empty
    st.text(alphabet="abcXYZ019_-", min_size=65, max_size=200),  # over-long
    st.sampled_from(["", " ", "a b", "a:b", "a.b", "a/b", "a*", "a>", "abc\n", "\nabc", "ü", "١٢", "𝟙", "a\x00b"]),
    valid_ids.map(lambda v: v + "\n"),
    st.integers(),
    st.none(),
    st.booleans(),
    st.lists(valid_ids, max_size=2),
)
any_ids = st.one_of(valid_ids, hostile_ids)

JSON_NUMBERS_OVERFLOW = [2**31, 2**53 + 1, 2**63, 2**64, 2**70, -(2**63), -(2**70), 10**30]
valid_quantities = st.integers(1, MAX_QUANTITY)
hostile_quantities: st.SearchStrategy[Any] = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=MAX_QUANTITY + 1),
    st.sampled_from(JSON_NUMBERS_OVERFLOW),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 2.5, "1", "one", True, False, None, [1], {"n": 1}]),
)
valid_prices = st.integers(0, MAX_UNIT_PRICE_CENTS)
hostile_prices: st.SearchStrategy[Any] = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=MAX_UNIT_PRICE_CENTS + 1),
    st.sampled_from(JSON_NUMBERS_OVERFLOW),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 39.99, "3999", True, None]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def items(skus: st.SearchStrategy[str], hostile: bool) -> st.SearchStrategy[Any]:
    """A list of line items: valid ones (duplicate SKUs allowed), or one made hostile in one way."""
    item = st.fixed_dictionaries({"sku": skus, "quantity": valid_quantities, "unit_price_cents": valid_prices})
    valid = st.lists(item, min_size=1, max_size=4)
    if not hostile:
        return valid

    @st.composite
    def spoiled(draw: st.DrawFn) -> Any:
        way = draw(st.sampled_from(["field", "extra", "missing", "empty", "too_many", "not_a_list", "not_a_dict"]))
        chosen = draw(valid)
        if way == "empty":
            return []
        if way == "too_many":
            return chosen * (MAX_LINE_ITEMS // len(chosen) + 1)
        if way == "not_a_list":
            return draw(
                st.one_of(st.dictionaries(st.text(max_size=5), json_values, max_size=2), st.text(), st.integers())
            )
        index = draw(st.integers(0, len(chosen) - 1))
        target = dict(chosen[index])
        if way == "field":
            field = draw(st.sampled_from(sorted(ITEM_KEYS)))
            target[field] = draw(
                {"sku": hostile_ids, "quantity": hostile_quantities, "unit_price_cents": hostile_prices}[field]
            )
        elif way == "extra":
            target[draw(st.text(max_size=10).filter(lambda k: k not in ITEM_KEYS))] = draw(json_values)
        elif way == "missing":
            del target[draw(st.sampled_from(sorted(ITEM_KEYS)))]
        else:
            target = draw(st.one_of(st.text(max_size=5), st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
        chosen[index] = target
        return chosen

    return spoiled()


@st.composite
def orders(draw: st.DrawFn, skus: st.SearchStrategy[str] = valid_ids) -> dict[str, Any] | Any:
    """A workflow input: valid, or spoiled in one way (a field, the items, an extra or missing key, not an object)."""
    way = draw(st.sampled_from(["valid", "valid", "order_id", "customer_id", "items", "extra", "missing", "type"]))
    order: dict[str, Any] = {
        "order_id": draw(hostile_ids if way == "order_id" else valid_ids),
        "customer_id": draw(hostile_ids if way == "customer_id" else valid_ids),
        "items": draw(items(skus, hostile=way == "items")),
    }
    if way == "extra":
        order[draw(st.text(max_size=12).filter(lambda k: k not in ORDER_KEYS))] = draw(json_values)
    elif way == "missing":
        del order[draw(st.sampled_from(sorted(ORDER_KEYS)))]
    elif way == "type":
        return draw(st.one_of(json_values.filter(lambda v: not isinstance(v, dict)), st.just({})))
    return order
