"""The figures of a run, from what the driver saw of each order and the services' counters: plain data, no I/O.

What each metric of a check means (`engine.scenarios.expressions`):
- compensated_ratio: orders compensated for a cause other than the scenario's own cancel
  (a decline, a failed step) over the orders that ended;
- failed_ratio: orders that ended FAILED or TERMINATED over the orders that ended;
- p50/p95/p99_latency_ms: from the submit to the end, of every order that ended (any outcome);
- stuck_orders: orders in flight for longer than the scenario's `stuck_after_s`;
- lost_orders: orders Temporal accepted whose end the run never saw (unknown to Temporal,
  or still in flight when the drain timed out): 0 until the run's end;
- throughput: completed orders per second, over the last 10 s while running, over the whole
  run (first start to last end) at the end;
- error_rate(ENDPOINT): error replies over requests of that endpoint since the run began
  (0 while it has had none);
- audit: clean (1) or not (0); known only at the end.
The ratios are not known (their checks wait) until `MIN_ENDED` orders have ended, so that the
first two orders do not decide a run; at the end they are known once one order has ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from engine.bench.stats import percentile
from engine.scenarios.expressions import Check
from engine.scenarios.report import Percentiles, Totals, WindowFigures

Outcome = Literal["completed", "compensated", "cancelled", "failed", "lost"]
WINDOW_S = 10.0
MIN_ENDED = 10


@dataclass
class OrderRecord:
    order_id: str
    started_s: float
    ended_s: float | None = None
    outcome: Outcome | None = None

    def in_flight_at(self, moment: float) -> bool:
        return self.started_s <= moment and (self.ended_s is None or self.ended_s > moment)


@dataclass(frozen=True)
class EndpointCounts:
    requests: int = 0
    errors: int = 0
    lost_replies: int = 0


@dataclass
class Tally:
    """Everything the figures come from; the runner appends, the figures read."""

    stuck_after_s: float = 60.0
    orders: list[OrderRecord] = field(default_factory=list)
    counters: list[tuple[float, dict[str, EndpointCounts]]] = field(default_factory=list)
    """The services' counters since the run began, at each second they answered."""
    offered: list[tuple[float, float]] = field(default_factory=list)
    """(moment, orders the load had asked for by then)."""
    submit_failures: int = 0
    audit_clean: bool | None = None

    # --- the metrics of the checks ------------------------------------------------------

    def value(self, check: Check, now: float, *, final: bool) -> float | None:
        ended = [order for order in self.orders if order.ended_s is not None and order.outcome != "lost"]
        enough = len(ended) >= (1 if final else MIN_ENDED)
        metric = check.metric
        if metric in ("compensated_ratio", "failed_ratio"):
            if not enough:
                return None
            wanted = "compensated" if metric == "compensated_ratio" else "failed"
            return sum(order.outcome == wanted for order in ended) / len(ended)
        if metric.endswith("_latency_ms"):
            fraction = {"p50": 0.50, "p95": 0.95, "p99": 0.99}[metric.split("_", 1)[0]]
            found = percentile(_latencies(ended), fraction)
            return None if found is None else found * 1000
        if metric == "stuck_orders":
            return float(
                sum(order.ended_s is None and now - order.started_s > self.stuck_after_s for order in self.orders)
            )
        if metric == "lost_orders":
            return float(sum(order.outcome == "lost" for order in self.orders))
        if metric == "throughput":
            return self.throughput(now, final=final)
        if metric == "error_rate":
            counts = self.counts_at(now).get(check.argument or "", EndpointCounts())
            return counts.errors / counts.requests if counts.requests else 0.0
        if metric == "audit":
            return None if self.audit_clean is None else float(self.audit_clean)
        raise ValueError(f"unknown metric {metric}")

    def stuck(self, now: float) -> int:
        return sum(order.ended_s is None and now - order.started_s > self.stuck_after_s for order in self.orders)

    def throughput(self, now: float, *, final: bool) -> float | None:
        completed = [order for order in self.orders if order.outcome == "completed"]
        if not final:
            return (
                sum(1 for order in completed if order.ended_s is not None and order.ended_s > now - WINDOW_S) / WINDOW_S
            )
        if not completed or not self.orders:
            return 0.0
        first = min(order.started_s for order in self.orders)
        last = max(order.ended_s or 0.0 for order in completed)
        return len(completed) / (last - first) if last > first else None

    # --- windows and totals -----------------------------------------------------------------

    def counts_at(self, moment: float) -> dict[str, EndpointCounts]:
        """The counters as last read at or before `moment` (none read yet: zeros)."""
        found: dict[str, EndpointCounts] = {}
        for at, counts in self.counters:
            if at > moment:
                break
            found = counts
        return found

    def offered_at(self, moment: float) -> float:
        found = 0.0
        for at, total in self.offered:
            if at > moment:
                break
            found = total
        return found

    def window(self, start: float, end: float, *, partial: bool = False) -> WindowFigures:
        ended = [o for o in self.orders if o.ended_s is not None and start <= o.ended_s < end and o.outcome != "lost"]
        before, after = self.counts_at(start), self.counts_at(end)
        requests, errors, lost, rates = {}, {}, {}, {}
        for name, counts in after.items():
            earlier = before.get(name, EndpointCounts())
            requests[name] = max(0, counts.requests - earlier.requests)
            errors[name] = max(0, counts.errors - earlier.errors)
            lost[name] = max(0, counts.lost_replies - earlier.lost_replies)
            rates[name] = round(errors[name] / requests[name], 4) if requests[name] else 0.0
        length = max(end - start, 1e-9)
        return WindowFigures(
            start_s=round(start, 3),
            end_s=round(end, 3),
            offered_rate=round((self.offered_at(end) - self.offered_at(start)) / length, 3),
            started=sum(1 for order in self.orders if start <= order.started_s < end),
            completed=sum(order.outcome == "completed" for order in ended),
            compensated=sum(order.outcome == "compensated" for order in ended),
            cancelled=sum(order.outcome == "cancelled" for order in ended),
            failed=sum(order.outcome == "failed" for order in ended),
            in_flight=sum(order.in_flight_at(end) for order in self.orders),
            latency_ms=_percentiles(_latencies(ended)) if ended else None,
            requests=requests,
            errors=errors,
            lost_replies=lost,
            error_rate=rates,
            partial=partial,
        )

    def totals(self, now: float) -> Totals:
        ended = [order for order in self.orders if order.ended_s is not None and order.outcome != "lost"]
        outcomes = [order.outcome for order in self.orders]
        return Totals(
            started=len(self.orders),
            completed=outcomes.count("completed"),
            compensated=outcomes.count("compensated"),
            cancelled=outcomes.count("cancelled"),
            failed=outcomes.count("failed"),
            stuck=self.stuck(now),
            lost=outcomes.count("lost"),
            submit_failures=self.submit_failures,
            latency_ms=_percentiles(_latencies(ended)),
            throughput=_rounded(self.throughput(now, final=True)),
        )


def _latencies(orders: Iterable[OrderRecord]) -> list[float]:
    return [order.ended_s - order.started_s for order in orders if order.ended_s is not None]


def _percentiles(latencies: list[float]) -> Percentiles:
    def ms(fraction: float) -> float | None:
        found = percentile(latencies, fraction)
        return None if found is None else round(found * 1000, 1)

    return Percentiles(p50=ms(0.50), p95=ms(0.95), p99=ms(0.99))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
