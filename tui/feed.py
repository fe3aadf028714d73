"""The event feed: step events and order listings buffered, then handed out in batches.

A plain class, no Textual: the dashboard runs `follow()` in a worker and calls `take()`
from a timer. It keeps the subscription going (reconnecting with backoff, replaying from
the last event seen), spaces batches by how busy the event loop and the stream are, and
guesses when a subscription has silently gone quiet.

At start it subscribes once Temporal's listing of the orders is in (or has not come in
time): the listing knows which orders ended, and a terminal status is final, so the replay
can no longer show an ended order as running; and when the listing was cut at the table's
`max_rows`, the replay starts at the oldest order listed, not hours back (10,000 orders of
the last hour would be 100,000 events read at start, for rows the table would drop). Until
the subscription says the replay is through (CAUGHT_UP) and those events are handed out,
it is `catching_up`, and the dashboard says so instead of showing numbers still being rebuilt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import datetime, timedelta

from engine.errors import CheckoutError
from engine.models import CaughtUp, OrderStatus, OrderSummary, StepEvent
from tui.format import one_line
from tui.state import Clock

EventSource = Callable[[float | None], AsyncIterator[StepEvent | CaughtUp]]
Item = StepEvent | OrderSummary

TICK_SECONDS = 0.05  # how often the dashboard calls `take()`
CONGESTED_SECONDS = 0.02  # the tick running this late, smoothed, means the loop is saturated
MAX_INTERVAL_SECONDS = 0.5
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
QUIET_AFTER_SECONDS = 2.0  # a resubscription that has not failed for this long is not a problem
STALE_SLACK_SECONDS = 2  # clocks of worker, Temporal and dashboard may differ a little
STALE_GRACE_SECONDS = 5
LISTING_WAIT_SECONDS = 5.0  # events are held back this long at most for the first listing
REPLAY_WAIT_SECONDS = 10.0  # numbers are held back this long at most for the replay to come through


class EventFeed:
    def __init__(
        self,
        *,
        replay_hours: float,
        batch_ms: int,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial_replay_hours = replay_hours
        self.batch_seconds = batch_ms / 1000
        self.clock = clock
        self.monotonic = monotonic
        self.pending: list[Item | CaughtUp] = []
        self.buffered_at: float | None = None  # monotonic time the oldest pending item came in
        self.batch_buffered_at: float | None = None  # the same for the batch `take()` handed out last
        self.problem = ""  # why the subscription is down, while it is
        self.last_event_time: datetime | None = None  # of the newest event taken
        self.started_at = clock()
        self._attempt_began: float | None = None
        self._last_take = 0.0
        self._last_tick = 0.0
        self._lateness = 0.0  # seconds, smoothed
        self.listed = False  # the first listing of orders is in (or did not come in time)
        self._replay_from: datetime | None = None  # the oldest order of a first listing cut at its limit
        self._listing_in = asyncio.Event()
        self._listed_at: float | None = None  # when the first listing came in (the replay starts then)
        self._hold_until = monotonic() + LISTING_WAIT_SECONDS
        self.replayed = False  # the first subscription's replay is through and handed out

    # --- the subscription -----------------------------------------------------------------

    def replay_hours(self) -> float | None:
        """How much history a (re)subscription replays: from the last event seen, else the configured hours."""
        if self.last_event_time is not None:
            behind = (self.clock() - self.last_event_time).total_seconds()
            return max(behind, 0.0) / 3600 + 1 / 60  # a minute of overlap: applying twice changes nothing
        if not self.initial_replay_hours:
            return None
        if self._replay_from is not None:
            since_oldest = max((self.clock() - self._replay_from).total_seconds(), 0.0) / 3600
            return min(self.initial_replay_hours, since_oldest)
        return self.initial_replay_hours

    async def follow(self, source: EventSource) -> None:
        """Buffer events from `source` forever; after a failure, subscribe again with backoff.
        The first subscription waits for the first listing (at most until the hold ends)."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._listing_in.wait(), max(0.0, self._hold_until - self.monotonic()))
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            self._attempt_began = self.monotonic()
            try:
                async for event in source(self.replay_hours()):
                    self.add(event)
                    if self.problem:
                        self.problem = ""
                        backoff = FIRST_BACKOFF_SECONDS
                problem = "event stream ended"
            except CheckoutError as error:
                problem = error.message
            except Exception as error:  # the stream's library failed: reconnect, never crash
                problem = f"event stream: {one_line(str(error)) or type(error).__name__}"
            self.problem = f"{problem}; reconnecting"
            self._attempt_began = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def quiet_problem(self) -> None:
        """NATS answers and the current attempt has not failed for a while: not a problem any more."""
        began = self._attempt_began
        if self.problem and began is not None and self.monotonic() - began > QUIET_AFTER_SECONDS:
            self.problem = ""

    # --- batches -------------------------------------------------------------------------

    def add_listing(self, summaries: list[OrderSummary] | None, *, limit: int | None = None) -> None:
        """A listing of orders (None: it failed). The first one goes before every event buffered so far;
        if it holds `limit` orders (older ones were left out), the replay starts at its oldest order."""
        if summaries is not None and not self.listed and limit is not None and len(summaries) >= limit:
            started = [summary.started_at for summary in summaries if summary.started_at is not None]
            if started:
                self._replay_from = min(started) - timedelta(seconds=STALE_SLACK_SECONDS)
        if summaries is not None:
            listing: list[Item | CaughtUp] = list(reversed(summaries))  # oldest first: table order follows start order
            if not self.pending:
                self.buffered_at = self.monotonic()
            self.pending = listing + self.pending if not self.listed else self.pending + listing
        if not self.listed and self.initial_replay_hours:
            self._listed_at = self.monotonic()
        self.listed = True
        self._listing_in.set()

    @property
    def catching_up(self) -> bool:
        """Still rebuilding what happened before the start: the listing or the replay is not in yet."""
        if not self.listed:
            return self.monotonic() < self._hold_until
        if self.replayed or self.problem:  # through, or not coming soon (NATS away): show what there is
            return False
        return self._listed_at is not None and self.monotonic() - self._listed_at < REPLAY_WAIT_SECONDS

    def add(self, item: Item | CaughtUp) -> None:
        """Buffer an event or a listing's summary; CAUGHT_UP marks where the replay ends (it stays in the
        buffer only to say when everything before it has been handed out)."""
        if not self.pending:
            self.buffered_at = self.monotonic()
        self.pending.append(item)

    def take(self) -> list[Item] | None:
        """Called every TICK_SECONDS: the buffered items when a batch is due, else None.

        A batch is due every `batch_ms`, and when the event loop runs late, up to every
        MAX_INTERVAL_SECONDS. (Spacing batches 1.5 times wider while events poured in was
        measured at the engine's full rate: the same CPU, 40 ms more lag at the median.)"""
        now = self.monotonic()
        late = max(0.0, now - self._last_tick - TICK_SECONDS) if self._last_tick else 0.0
        self._last_tick = now
        self._lateness = 0.8 * self._lateness + 0.2 * late
        if not self.pending or (not self.listed and now < self._hold_until):
            return None
        interval = self.batch_seconds
        if self._lateness > CONGESTED_SECONDS:
            # The loop is saturated (a worker in this process under heavy load): redraw less,
            # leaving the time to the worker; sagas timing out would be worse than a slower screen.
            interval = min(MAX_INTERVAL_SECONDS, interval * (1 + self._lateness / CONGESTED_SECONDS))
        if now - self._last_take < interval * 0.95:
            return None
        self._last_take = now
        buffered, self.pending = self.pending, []
        self.batch_buffered_at, self.buffered_at = self.buffered_at, None
        batch = [item for item in buffered if not isinstance(item, CaughtUp)]
        if len(batch) < len(buffered):
            self.replayed = True
        events = [item for item in batch if isinstance(item, StepEvent)]
        if events:
            newest = max(event.time for event in events)
            if self.last_event_time is None or newest > self.last_event_time:
                self.last_event_time = newest
        return batch or None

    # --- staleness -----------------------------------------------------------------------

    def looks_stale(self, summaries: list[OrderSummary]) -> bool:
        """Temporal saw orders finish well after the last step event: the subscription went quiet.

        (Completed and compensated orders always publish a final event.) The engine's
        subscription outlives a NATS restart, but not one that comes back with an empty store:
        it then waits for stream sequence numbers the new stream has yet to reach."""
        seen = max(filter(None, (self.last_event_time, self.started_at)))
        after = seen + timedelta(seconds=STALE_SLACK_SECONDS)  # its final event would be newer than any seen
        before = self.clock() - timedelta(seconds=STALE_GRACE_SECONDS)  # and has had time to arrive
        return any(
            summary.closed_at is not None
            and summary.status in (OrderStatus.COMPLETED, OrderStatus.COMPENSATED)
            and after < summary.closed_at < before
            for summary in summaries
        )
