"""The orders the table shows, written to a CSV or JSON file (plain Python, no Textual)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from tui.state import OrderRow

FIELDS = (
    "order_id",
    "customer_id",
    "total_cents",
    "status",
    "reason",
    "step",
    "attempts",
    "started_at",
    "finished_at",
    "note",
)


def row_values(row: OrderRow) -> dict[str, object]:
    return {
        "order_id": row.order_id,
        "customer_id": row.customer_id,
        "total_cents": row.total_cents,
        "status": row.status.value,
        "reason": row.reason.value if row.reason else None,
        "step": row.step,
        "attempts": row.attempts,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "note": row.note,
    }


def export_orders(rows: Iterable[OrderRow], path: Path) -> int:
    """Write `rows` to `path`: JSON when it ends in .json, else CSV. Returns how many; raises OSError."""
    values = [row_values(row) for row in rows]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(values)
    return len(values)
