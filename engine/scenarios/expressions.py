"""The checks of a scenario (`hypothesis`, `abort_when`): `METRIC OP NUMBER`, parsed here, never eval'd.

    compensated_ratio < 0.1          p95_latency_ms <= 2500        error_rate(payment) < 0.5
    audit == clean                   stuck_orders == 0             throughput >= 5

Metrics (what each means is in `engine.scenarios.figures`): compensated_ratio, failed_ratio,
p50_latency_ms, p95_latency_ms, p99_latency_ms, stuck_orders, lost_orders, throughput,
error_rate(ENDPOINT) and audit (compared with `clean` by == or != only).
Operators: < <= > >= == !=.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.models import ServiceName

METRICS = (
    "compensated_ratio",
    "failed_ratio",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "stuck_orders",
    "lost_orders",
    "throughput",
    "error_rate",
    "audit",
)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CHECK = re.compile(
    r"""^\s*(?P<metric>[a-z_0-9]+)\s*(?:\(\s*(?P<argument>[a-z_]+)\s*\)\s*)?
        (?P<op><=|>=|==|!=|<|>)\s*(?P<value>[^\s]+)\s*$""",
    re.VERBOSE,
)
MAX_EXPRESSION = 200


@dataclass(frozen=True)
class Check:
    """One parsed check. `threshold` is None for `audit`, whose value is clean (1) or not (0)."""

    text: str
    metric: str
    op: str
    threshold: float | None
    argument: str | None = None  # error_rate's endpoint

    @property
    def key(self) -> str:
        """The figure it reads: `error_rate(payment)`, `audit`, `p95_latency_ms`."""
        return f"{self.metric}({self.argument})" if self.argument else self.metric

    def holds(self, value: float | None) -> bool | None:
        """Whether the check holds for `value`; None while the figure is not known yet."""
        if value is None:
            return None
        if self.metric == "audit":
            clean = value >= 1
            return clean if self.op == "==" else not clean
        assert self.threshold is not None
        return OPERATORS[self.op](value, self.threshold)


def parse_check(text: str) -> Check:
    """The check `text` says, or ValueError with the reason (one line)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a check is a text such as `compensated_ratio < 0.1`")
    if len(text) > MAX_EXPRESSION or "\n" in text:
        raise ValueError(f"a check is one line of at most {MAX_EXPRESSION} characters")
    match = _CHECK.match(text)
    if match is None:
        raise ValueError(
            f"{text.strip()!r}: write METRIC OP NUMBER, e.g. `p95_latency_ms < 2000` (OP: < <= > >= == !=)"
        )
    metric, argument, op, value = match["metric"], match["argument"], match["op"], match["value"]
    if metric not in METRICS:
        raise ValueError(f"{text.strip()!r}: unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if metric == "error_rate":
        if argument is None:
            raise ValueError(f"{text.strip()!r}: error_rate takes an endpoint, e.g. error_rate(payment)")
        if argument not in {service.value for service in ServiceName}:
            known = ", ".join(service.value for service in ServiceName)
            raise ValueError(f"{text.strip()!r}: unknown endpoint {argument!r} (known: {known})")
    elif argument is not None:
        raise ValueError(f"{text.strip()!r}: {metric} takes no argument")
    if metric == "audit":
        if value != "clean" or op not in ("==", "!="):
            raise ValueError(f"{text.strip()!r}: write `audit == clean` (or `audit != clean`)")
        return Check(text.strip(), metric, op, None)
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(f"{text.strip()!r}: {value[:20]!r} is not a number") from None
    if not math.isfinite(threshold):
        raise ValueError(f"{text.strip()!r}: the threshold must be a finite number")
    return Check(text.strip(), metric, op, threshold, argument)
