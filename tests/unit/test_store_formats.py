"""Values written by earlier versions still read: they become opening balances and decided records."""

from __future__ import annotations

import json

from engine.services.store import Account, Record


def test_a_plain_stock_level_becomes_an_opening_balance() -> None:
    account = Account.decode(b"97")
    assert account.value("units") == 97 and account.opening["units"] == 97
    assert account.value("reserved") == account.value("restocked") == account.value("ops") == 0
    assert account.markers == {}


def test_plain_ledger_totals_become_an_opening_balance() -> None:
    account = Account.decode(json.dumps({"charged_cents": 1500, "refunded_cents": 500}).encode())
    assert (account.value("charged_cents"), account.value("refunded_cents")) == (1500, 500)
    assert account.opening == account.counters


def test_an_account_round_trips() -> None:
    account = Account.opened(units=10)
    assert Account.decode(account.encode()) == account


def test_an_earlier_versions_finished_record_keeps_its_answer() -> None:
    raw = {
        "state": "done",
        "reply": {"ok": True, "code": "ok", "data": {"charged_cents": 3999}},
        "at": "2026-11-01T00:00:00Z",
    }
    record = Record.decode(json.dumps(raw).encode())
    assert record.ok and record.legacy and not record.unfinished
    assert record.reply.data == {"charged_cents": 3999} and record.effects == {}


def test_an_earlier_versions_unfinished_claim_is_decided_void_and_flagged() -> None:
    record = Record.decode(json.dumps({"state": "pending", "at": "2026-11-01T00:00:00Z"}).encode())
    assert not record.ok and record.reply.code == "voided"
    assert record.legacy and record.unfinished  # the audit reports it: its effect is unknown
