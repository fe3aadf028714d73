"""report.json dicts (schema_version 1) built by hand, for the report page's tests and its screenshot.

`sample_report()` is a plausible payment-brownout run: a ramp, a latency step that climbs past
the request timeout, a short inventory outage in parallel and a NATS pause; every part of the
schema is filled. Its keyword arguments replace parts, so a test states only what it varies.
"""

from __future__ import annotations

from typing import Any

WINDOW_S = 10.0
ENDPOINTS = ("inventory", "payment", "refund", "restock", "shipping")


def plan() -> list[dict[str, Any]]:
    return [
        {"index": 0, "name": "ramp to 8/s", "kind": "load", "start_s": 0.0, "end_s": 30.0, "lane": 0,
         "detail": "rate 2 -> 8 orders/s, linear"},
        {"index": 1, "name": "slow payments", "kind": "faults", "start_s": 30.0, "end_s": 70.0, "lane": 0,
         "detail": "payment: latency 2500±500 ms"},
        {"index": 2, "name": "inventory outage", "kind": "faults", "start_s": 45.0, "end_s": 60.0, "lane": 1,
         "detail": "inventory: error_rate 1.0"},
        {"index": 3, "name": "NATS blip", "kind": "pause", "start_s": 90.0, "end_s": 94.0, "lane": 0,
         "detail": "pause the embedded NATS server for 4 s"},
        {"index": 4, "name": "clear", "kind": "clear_faults", "start_s": 100.0, "end_s": None, "lane": 0,
         "detail": "clear every fault"},
    ]  # fmt: skip


def steps(plan_steps: list[dict[str, Any]], status: str = "done") -> list[dict[str, Any]]:
    """What ran: each planned step a few milliseconds late, all with `status`."""
    return [
        {
            "index": step["index"],
            "name": step["name"],
            "kind": step["kind"],
            "planned_start_s": step["start_s"],
            "started_s": step["start_s"] + 0.012,
            "ended_s": (step["end_s"] if step["end_s"] is not None else step["start_s"]) + 0.031,
            "status": status,
            "detail": step["detail"],
        }
        for step in plan_steps
    ]


def window(start_s: float, offered: float, slow: bool = False, outage: bool = False) -> dict[str, Any]:
    started = round(offered * WINDOW_S)
    compensated = started // 3 if outage else (2 if slow else 1)
    cancelled = 1
    completed = max(started - compensated - cancelled - (3 if slow else 0), 0)
    requests = {"inventory": started, "payment": started - (compensated if outage else 0), "refund": compensated,
                "restock": compensated, "shipping": completed}  # fmt: skip
    errors = {"inventory": compensated if outage else 0, "payment": 2 if slow else 0}
    latency = {"p50": 2700.0, "p95": 3400.0, "p99": 3900.0} if slow else {"p50": 180.0, "p95": 420.0, "p99": 610.0}
    return {
        "start_s": start_s,
        "end_s": start_s + WINDOW_S,
        "offered_rate": offered,
        "started": started,
        "completed": completed,
        "compensated": compensated,
        "cancelled": cancelled,
        "failed": 0,
        "in_flight": 24 if slow else 4,
        "latency_ms": latency,
        "requests": requests,
        "errors": {k: v for k, v in errors.items() if v},
        "lost_replies": {"payment": 1} if slow else {},
        "error_rate": {k: round(errors.get(k, 0) / n, 4) for k, n in requests.items() if n},
    }


def windows() -> list[dict[str, Any]]:
    offered = [2.0, 4.0, 6.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    return [window(i * WINDOW_S, rate, slow=3 <= i < 7, outage=i == 4 or i == 5) for i, rate in enumerate(offered)]


def checks() -> list[dict[str, Any]]:
    return [
        {"expression": "compensated_ratio < 0.1", "kind": "hypothesis", "passed": True, "value": 0.062,
         "threshold": 0.1, "first_failed_s": None},
        {"expression": "p95_latency_ms < 5000", "kind": "hypothesis", "passed": True, "value": 3400.0,
         "threshold": 5000.0, "first_failed_s": None},
        {"expression": "stuck_orders == 0", "kind": "hypothesis", "passed": True, "value": 0, "threshold": 0,
         "first_failed_s": None},
        {"expression": "audit == clean", "kind": "hypothesis", "passed": True, "value": 1.0,
         "threshold": None, "first_failed_s": None},  # audit: clean is 1, no threshold
        {"expression": "error_rate(payment) > 0.5", "kind": "abort_when", "passed": True, "value": 0.03,
         "threshold": 0.5, "first_failed_s": None},
    ]  # fmt: skip


def sample_report(**replace: Any) -> dict[str, Any]:
    """A whole report; `replace` sets top-level keys (`outcome=...`, `windows=[]`, ...)."""
    planned = plan()
    report: dict[str, Any] = {
        "schema_version": 1,
        "scenario": {
            "name": "payment-brownout",
            "description": "The payment provider slows past the request timeout, then recovers.",
            "seed": 7,
            "file": "configs/scenarios/payment-brownout.yaml",
            "duration_s": 120.0,
        },
        "started_at": "2026-12-04T22:10:00Z",
        "ended_at": "2026-12-04T22:12:10Z",
        "target": "embedded",
        "plan": planned,
        "steps": steps(planned),
        "windows": windows(),
        "checks": checks(),
        "outcome": {"verdict": "pass", "aborted_by": None, "stopped_at_s": None},
        "totals": {
            "started": 860,
            "completed": 781,
            "compensated": 53,
            "cancelled": 12,
            "failed": 0,
            "stuck": 0,
            "latency_ms": {"p50": 230.0, "p95": 3100.0, "p99": 3800.0},
        },  # fmt: skip
        "audit": {"clean": True, "records": 3412, "problems": []},
    }
    return report | replace
