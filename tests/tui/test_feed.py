"""The event feed without Textual: replay hours, reconnecting, batch spacing, staleness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import Unreachable
from engine.models import CAUGHT_UP, ORDER_STEP, EventKind, OrderStatus, OrderSummary, StepEvent
from tui import feed as feed_module
from tui.feed import EventFeed

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class Clocks:
    def __init__(self) -> None:
        self.wall = T0
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def event(order_id: str, seconds: float, kind: EventKind = EventKind.STARTED) -> StepEvent:
    return StepEvent(
        order_id=order_id, step=ORDER_STEP, kind=kind, time=T0 + timedelta(seconds=seconds), status=OrderStatus.RUNNING
    )


def a_feed(clocks: Clocks, *, listed: bool = True, **kw: object) -> EventFeed:
    values: dict = {"replay_hours": 1.0, "batch_ms": 100} | kw
    feed = EventFeed(clock=clocks.now, monotonic=clocks.monotonic, **values)
    if listed:
        feed.add_listing([])
    return feed


def test_replayed_events_wait_for_the_first_listing_which_goes_first() -> None:
    clocks = Clocks()
    feed = a_feed(clocks, listed=False)
    feed.add(event("a", -600))
    assert feed.take() is None and feed.catching_up
    feed.add_listing([OrderSummary(order_id="a", status=OrderStatus.COMPLETED)])
    batch = feed.take() or []
    assert [type(item).__name__ for item in batch] == ["OrderSummary", "StepEvent"]
    assert feed.catching_up, "replayed events still arrive"
    feed.add(event("b", -300))
    feed.add(CAUGHT_UP)
    feed.add(event("c", 0))
    clocks.advance(1)
    assert feed.catching_up, "the end of the replay has come in, but the events before it are not shown yet"
    assert [item.order_id for item in feed.take() or []] == ["b", "c"]
    assert not feed.catching_up


def test_without_the_end_of_the_replay_the_numbers_show_after_a_while() -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    assert feed.catching_up
    clocks.advance(feed_module.REPLAY_WAIT_SECONDS + 0.1)
    assert not feed.catching_up, "a replay that never says it is through holds nothing back for ever"
    stuck = a_feed(clocks)
    stuck.problem = "nats: connection refused; reconnecting"
    assert not stuck.catching_up, "no replay is coming while the subscription is down"


def test_without_a_listing_events_flow_after_a_while() -> None:
    clocks = Clocks()
    feed = a_feed(clocks, listed=False)
    feed.add(event("a", 0))
    assert feed.take() is None
    clocks.advance(feed_module.LISTING_WAIT_SECONDS + 0.1)
    assert feed.take() is not None and not feed.catching_up


def test_replay_hours_start_from_the_config_then_from_the_last_event_taken() -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    assert feed.replay_hours() == 1.0
    assert a_feed(clocks, replay_hours=0).replay_hours() is None
    feed.add(event("a", -600))
    assert feed.take() is not None
    clocks.advance(1)
    # ten minutes and a second behind, plus a minute of overlap
    assert feed.replay_hours() == pytest.approx((601 + 60) / 3600)


def listed(order_id: str, started_seconds_ago: float, clocks: Clocks) -> OrderSummary:
    started_at = clocks.now() - timedelta(seconds=started_seconds_ago)
    return OrderSummary(order_id=order_id, status=OrderStatus.COMPLETED, started_at=started_at)


def test_a_first_listing_cut_at_its_limit_bounds_the_replay_to_its_oldest_order() -> None:
    clocks = Clocks()
    cut = a_feed(clocks, listed=False)
    cut.add_listing([listed("new", 60, clocks), listed("old", 600, clocks)], limit=2)
    # From the oldest listed order (ten minutes ago) and the clocks' slack, not the configured hour.
    assert cut.replay_hours() == pytest.approx((600 + feed_module.STALE_SLACK_SECONDS) / 3600)
    whole = a_feed(clocks, listed=False)
    whole.add_listing([listed("new", 60, clocks), listed("old", 600, clocks)], limit=3)
    assert whole.replay_hours() == 1.0, "every order was listed: their events of the last hour all count"
    ancient = a_feed(clocks, listed=False)
    ancient.add_listing([listed("a", 7200, clocks), listed("b", 9000, clocks)], limit=2)
    assert ancient.replay_hours() == 1.0, "never further back than the configured hours"
    later = a_feed(clocks)  # a first listing (empty) is in: later ones change nothing
    later.add_listing([listed("new", 60, clocks)], limit=1)
    assert later.replay_hours() == 1.0


async def test_the_first_subscription_waits_for_the_first_listing() -> None:
    clocks = Clocks()
    feed = a_feed(clocks, listed=False)
    asked: list[float | None] = []

    async def source(since_hours: float | None) -> AsyncIterator[StepEvent]:
        asked.append(since_hours)
        await asyncio.sleep(3600)
        yield event("a", 0)

    task = asyncio.create_task(feed.follow(source))
    try:
        await asyncio.sleep(0.2)
        assert asked == [], "subscribed before the listing was in"
        feed.add_listing([listed("new", 60, clocks), listed("old", 360, clocks)], limit=2)
        for _ in range(100):
            if asked:
                break
            await asyncio.sleep(0.01)
        assert asked == [pytest.approx((360 + feed_module.STALE_SLACK_SECONDS) / 3600)]
        assert feed.catching_up, "the replay has only just been asked for: no numbers yet"
    finally:
        task.cancel()


def test_a_batch_is_handed_out_at_most_every_batch_ms() -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    assert feed.take() is None  # nothing buffered
    feed.add(event("a", 0))
    first = feed.take()
    assert first is not None and len(first) == 1
    feed.add(event("b", 0))
    clocks.advance(0.05)
    assert feed.take() is None, "too soon after the last batch"
    clocks.advance(0.05)
    assert [item.order_id for item in feed.take() or []] == ["b"]


def test_batches_are_spaced_when_the_loop_runs_late() -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    feed.add(event("a", 0))
    feed.take()
    for _ in range(20):  # the timer fires 0.2 s late every time: a saturated loop
        clocks.advance(feed_module.TICK_SECONDS + 0.2)
        feed.take()
    feed.add(event("b", 0))
    assert feed.take() is not None
    feed.add(event("c", 0))
    clocks.advance(0.15)
    assert feed.take() is None, "a late loop spaces batches beyond batch_ms"
    clocks.advance(feed_module.MAX_INTERVAL_SECONDS)
    assert feed.take() is not None


def test_listings_are_buffered_oldest_first() -> None:
    feed = a_feed(Clocks(), listed=False)
    newest_first = [OrderSummary(order_id=name, status=OrderStatus.RUNNING) for name in ("c", "b", "a")]
    feed.add_listing(newest_first)
    assert [item.order_id for item in feed.take() or []] == ["a", "b", "c"]


async def test_follow_reconnects_with_backoff_and_replays_from_the_last_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    monkeypatch.setattr(feed_module, "FIRST_BACKOFF_SECONDS", 0.01)
    asked: list[float | None] = []
    failures = 2

    async def source(since_hours: float | None) -> AsyncIterator[StepEvent]:
        nonlocal failures
        asked.append(since_hours)
        if failures:
            failures -= 1
            raise Unreachable("NATS is down")
        yield event("a", 0)
        await asyncio.sleep(3600)

    task = asyncio.create_task(feed.follow(source))
    try:
        for _ in range(200):
            if feed.pending:
                break
            await asyncio.sleep(0.01)
        assert [item.order_id for item in feed.pending] == ["a"]
        assert feed.problem == "", "a delivered event clears the problem"
        assert asked == [1.0, 1.0, 1.0]
    finally:
        task.cancel()


async def test_a_failing_stream_is_a_problem_until_it_delivers(monkeypatch: pytest.MonkeyPatch) -> None:
    feed = a_feed(Clocks())
    monkeypatch.setattr(feed_module, "FIRST_BACKOFF_SECONDS", 60)

    async def broken(since_hours: float | None) -> AsyncIterator[StepEvent]:
        raise Unreachable("lost the NATS connection")
        yield  # pragma: no cover

    task = asyncio.create_task(feed.follow(broken))
    try:
        await asyncio.sleep(0.05)
        assert feed.problem == "lost the NATS connection; reconnecting"
    finally:
        task.cancel()


def test_quiet_problem_clears_only_after_the_attempt_has_lasted() -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    feed.problem = "event stream ended; reconnecting"
    feed._attempt_began = clocks.monotonic()
    feed.quiet_problem()
    assert feed.problem
    clocks.advance(feed_module.QUIET_AFTER_SECONDS + 0.1)
    feed.quiet_problem()
    assert feed.problem == ""


def test_staleness_is_orders_finishing_well_after_the_last_event_seen() -> None:
    clocks = Clocks()
    feed = a_feed(clocks)
    feed.add(event("a", 0))
    feed.take()
    clocks.advance(60)

    def closed(seconds: float, status: OrderStatus = OrderStatus.COMPLETED) -> OrderSummary:
        return OrderSummary(order_id="x", status=status, closed_at=T0 + timedelta(seconds=seconds))

    assert not feed.looks_stale([closed(1)]), "within the clocks' slack"
    assert not feed.looks_stale([closed(58)]), "too recent: its event may be on its way"
    assert not feed.looks_stale([closed(30, OrderStatus.TERMINATED)]), "a terminate publishes no event"
    assert feed.looks_stale([closed(30)])
