"""`Operations.list_orders` over a stand-in visibility store: newest first, exactly `limit`, windows
sized by counting, never reading far more orders than asked for."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from engine.config import Settings
from engine.models import OrderStatus, OrderSummary
from engine.operations import Operations

NOW = datetime.now(UTC)


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


class Visibility:
    """Answers the StartTime bounds of the queries `list_orders` sends, and counts what it reads."""

    def __init__(self, summaries: list[OrderSummary]) -> None:
        self.summaries = summaries
        self.read = 0

    def matching(self, query: str) -> list[OrderSummary]:
        lower = [parse(m) for m in re.findall(r"StartTime >= '([^']+)'", query)]
        upper = [parse(m) for m in re.findall(r"StartTime < '([^']+)'", query)]
        return [
            s
            for s in self.summaries
            if s.started_at is not None
            and all(s.started_at >= bound for bound in lower)
            and all(s.started_at < bound for bound in upper)
        ]

    async def count_workflows(self, query: str, **_: Any) -> SimpleNamespace:
        return SimpleNamespace(count=len(self.matching(query)))

    async def read_window(self, query: str) -> AsyncIterator[OrderSummary]:
        # Unsorted, as SQL visibility answers: the oldest first here.
        for summary in sorted(self.matching(query), key=lambda s: s.started_at or NOW):
            self.read += 1
            yield summary


def operations_over(visibility: Visibility) -> Operations:
    ops = Operations(Settings(), visibility, None)  # type: ignore[arg-type]
    ops._summaries = visibility.read_window  # type: ignore[method-assign]
    return ops


def orders(count: int, every: timedelta, newest: datetime = NOW) -> list[OrderSummary]:
    """`count` orders, the first started at `newest`, each next one `every` earlier."""
    return [
        OrderSummary(order_id=f"o{n:05}", status=OrderStatus.COMPLETED, customer_id="c", started_at=newest - n * every)
        for n in range(count)
    ]


@pytest.mark.parametrize("every", [timedelta(milliseconds=50), timedelta(seconds=7), timedelta(hours=3)])
@pytest.mark.parametrize("newest_ago", [timedelta(0), timedelta(hours=5)])
async def test_the_newest_orders_in_order_reading_little_more_than_asked(
    every: timedelta, newest_ago: timedelta
) -> None:
    visibility = Visibility(orders(5000, every, newest=NOW - newest_ago))
    listed = await operations_over(visibility).list_orders(limit=1000)
    assert [s.order_id for s in listed] == [f"o{n:05}" for n in range(1000)]
    assert visibility.read <= 1200, f"read {visibility.read} orders for 1000 (at most a fifth more)"


async def test_fewer_orders_than_the_limit_are_all_listed_in_one_read() -> None:
    visibility = Visibility(orders(300, timedelta(minutes=5)))
    listed = await operations_over(visibility).list_orders(limit=1000)
    assert len(listed) == 300 and visibility.read == 300


async def test_since_bounds_the_windows() -> None:
    visibility = Visibility(orders(5000, timedelta(seconds=1)))
    since = NOW - timedelta(seconds=2500)
    listed = await operations_over(visibility).list_orders(limit=4000, since=since)
    assert listed and all(s.started_at is not None and s.started_at >= since for s in listed)
    assert len(listed) == 2501


async def test_a_filter_visibility_cannot_apply_reads_further_windows() -> None:
    mixed = orders(3000, timedelta(seconds=1))
    for n, summary in enumerate(mixed):
        summary.customer_id = "wanted" if n % 3 == 0 else "other"
    listed = await operations_over(Visibility(mixed)).list_orders(limit=500, customer="wanted")
    assert [s.order_id for s in listed] == [f"o{n:05}" for n in range(0, 1500, 3)]
