"""What changed in health since the last reading: the parts that went down, and those back up.

The dashboard turns each change into a notification and a log line (`tui.sync`).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.models import Health

BACK = {
    "nats": "NATS answers again",
    "temporal": "Temporal answers again",
    "worker": "a worker polls the task queue again",
}


@dataclass(frozen=True)
class HealthChange:
    part: str  # "nats", "temporal", "worker" or a service name
    down: bool
    message: str


class HealthWatch:
    """Compares each reading with the one before; the first reading reports what is down."""

    def __init__(self, task_queue: str | None = None) -> None:
        self.task_queue = task_queue
        self._down: dict[str, str] | None = None  # None: no reading yet

    @property
    def down(self) -> dict[str, str]:
        """What is down now, part -> the line to show, the cause first."""
        return dict(self._down or {})

    def update(self, health: Health) -> list[HealthChange]:
        now = health.down(self.task_queue)
        before = self._down or {}
        changes = [HealthChange(part, True, text) for part, text in now.items() if part not in before]
        for part in before:
            if part in now:
                continue
            if health.knows(part):
                changes.append(HealthChange(part, False, BACK.get(part, f"{part} service answers again")))
            else:  # hidden behind a part that went down: still down as far as anyone knows
                now[part] = before[part]
        self._down = now
        return changes
