"""What the Charts tab draws: orders by status and in flight over the last minutes, error rate per endpoint.

Plain Python, no Textual: the dashboard feeds it the order book's counts once a second and
each services snapshot as it is read.
"""

from __future__ import annotations

import time
from collections import deque

from engine.models import ServicesSnapshot
from tui.state import Counts


class History:
    def __init__(self, *, buckets: int = 60, bucket_seconds: int = 10, rate_samples: int = 120) -> None:
        self.bucket_seconds = bucket_seconds
        self.finished: dict[str, deque[float]] = {
            name: deque(maxlen=buckets) for name in ("completed", "compensated", "failed")
        }
        self.in_flight: deque[float] = deque(maxlen=buckets)
        self.bucket_times: deque[float] = deque(maxlen=buckets)  # when each bucket closed (monotonic)
        self.error_rate: dict[str, deque[float]] = {}
        self.error_times: dict[str, deque[float]] = {}  # when each error rate was read (monotonic)
        self._rate_samples = rate_samples
        self._bucket_started: float | None = None
        self._counts_then: Counts | None = None
        self._stats_then: dict[str, tuple[int, int]] = {}

    def tick(self, now: float, counts: Counts) -> None:
        """Once a second; every `bucket_seconds` closes a bucket: orders finished in it by status, and in flight."""
        if self._bucket_started is None or self._counts_then is None:
            self._bucket_started, self._counts_then = now, counts
            return
        if now - self._bucket_started < self.bucket_seconds:
            return
        before = self._counts_then
        self.finished["completed"].append(counts.completed - before.completed)
        self.finished["compensated"].append(counts.compensated - before.compensated)
        failed = counts.failed + counts.terminated - before.failed - before.terminated
        self.finished["failed"].append(failed)
        self.in_flight.append(counts.in_flight)
        self.bucket_times.append(now)
        self._bucket_started, self._counts_then = now, counts

    def add_snapshot(self, snapshot: ServicesSnapshot, now: float | None = None) -> None:
        """Errors per request of each endpoint since the previous snapshot (counters from `$SRV.STATS`)."""
        now = time.monotonic() if now is None else now
        for stats in snapshot.endpoints:
            requests, errors = self._stats_then.get(stats.endpoint, (stats.requests, stats.errors))
            new_requests = stats.requests - requests
            rate = (stats.errors - errors) / new_requests if new_requests > 0 else 0.0
            series = self.error_rate.setdefault(stats.endpoint, deque(maxlen=self._rate_samples))
            series.append(max(0.0, min(1.0, rate)))
            self.error_times.setdefault(stats.endpoint, deque(maxlen=self._rate_samples)).append(now)
            self._stats_then[stats.endpoint] = (stats.requests, stats.errors)
