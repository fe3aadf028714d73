"""How money and durations read, for the CLI and the dashboard alike."""

from __future__ import annotations

from tui.format import duration, money


def test_money_is_exact_integer_arithmetic_with_separators() -> None:
    assert money(0) == "$0.00"
    assert money(5) == "$0.05"
    assert money(3999) == "$39.99"
    assert money(123456789) == "$1,234,567.89"
    assert money(-50) == "-$0.50"
    assert money(None) == "—"
    # a float division would round this one: 2**53 + 1 cents
    assert money(9007199254740993) == "$90,071,992,547,409.93"


def test_durations() -> None:
    assert duration(None) == "—"
    assert duration(4.04) == "4.0s"
    assert duration(42) == "42s"
    assert duration(7 * 60 + 2) == "7m02s"
    assert duration(2 * 3600 + 5 * 60) == "2h05m"
