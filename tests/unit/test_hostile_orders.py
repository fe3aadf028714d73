"""Hostile orders, property-tested: OrderInput refuses every invalid one with one line and accepts
every valid one; `checkout trigger` refuses bad arguments with one line, exit code 2, before
contacting any server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.errors import first_validation_error
from engine.models import MAX_QUANTITY, OrderInput
from tests.support.hostile import hostile_ids, is_id, is_order, orders, valid_ids
from tui import cli


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
def test_order_input_accepts_exactly_the_valid_orders(raw: object) -> None:
    try:
        order = OrderInput.model_validate(raw)
    except ValidationError as error:
        assert not is_order(raw), f"a valid order was refused: {raw!r}"
        message = first_validation_error(error)
        assert message and "\n" not in message and len(message) < 200
    else:
        assert is_order(raw), f"an invalid order was accepted: {raw!r}"
        assert order.total_cents == sum(i["quantity"] * i["unit_price_cents"] for i in raw["items"])  # type: ignore[index]


# --- checkout trigger, in-process, without servers ------------------------------------------

CATALOGUE = ["golang-book", "python-book", "mechanical-keyboard", "usb-cable"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that accepts connections and never answers: any contact shows in its backlog."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def contacted(sock: socket.socket) -> bool:
    """Whether anything connected since the last call (the backlog is emptied)."""
    count = 0
    while True:
        try:
            connection, _ = sock.accept()
        except BlockingIOError:
            return count > 0
        connection.close()
        count += 1


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the default catalogue, no config file
    for key in ("CHECKOUT_CONFIG", "TEMPORAL_HOST", "NATS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CHECKOUT_EMBEDDED__MODE", "never")


quantity_texts = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["0", "1", str(MAX_QUANTITY), str(MAX_QUANTITY + 1), "99999999999999999999", str(2**70)]),
    st.sampled_from(["", " 5", "5 ", "+5", "5.0", "1e3", "0x10", "1_000", "١٢", "𝟝", "five", "--"]),
    st.text(max_size=12),
)


def is_quantity(text: str) -> bool:
    return re.fullmatch(r"[0-9]{1,12}", text) is not None and 1 <= int(text) <= MAX_QUANTITY


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["sku", "quantity", "customer", "order-id"]),
    sku=st.one_of(st.sampled_from(CATALOGUE), hostile_ids.filter(lambda v: isinstance(v, str)), valid_ids),
    quantity=quantity_texts,
    identifier=st.one_of(valid_ids, hostile_ids.filter(lambda v: isinstance(v, str))),
)
def test_trigger_refuses_bad_arguments_before_any_server(
    no_config: None,
    listener: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    field: str,
    sku: str,
    quantity: str,
    identifier: str,
) -> None:
    value = {"sku": sku, "quantity": quantity, "customer": identifier, "order-id": identifier}[field]
    assume(value != "--")  # argparse reserves "--" (end of options) even in --name=--
    valid = {
        "sku": sku in CATALOGUE,
        "quantity": is_quantity(quantity),
        "customer": is_id(identifier),
        "order-id": is_id(identifier),
    }[field]
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    if valid:  # a valid order goes on to connect: let it be refused at once instead of hanging
        address = "127.0.0.1:1"
    monkeypatch.setenv("TEMPORAL_HOST", address)
    monkeypatch.setenv("NATS_URL", f"nats://{address}")
    contacted(listener)  # start from an empty backlog

    code = cli.main(["trigger", f"--{field}={value}", "--no-wait"])

    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    if valid:
        assert code == 3 and "unreachable" in lines[0], err  # accepted: it went on to connect
    else:
        assert code == 2, (field, value, err)
        assert not contacted(listener), "an invalid order contacted a server"
