"""Settings for a private embedded stack: free ports, its own data dir and task queue, short timings."""

from __future__ import annotations

import uuid
from pathlib import Path

from engine.config import Settings
from engine.runtime import free_port


def stack_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "temporal": {
            "host": f"127.0.0.1:{free_port()}",
            "ui_port": free_port(),
            "task_queue": f"orders-{uuid.uuid4().hex[:8]}",
        },
        "nats": {"url": f"nats://127.0.0.1:{free_port()}", "request_timeout_seconds": 1},
        "embedded": {"mode": "always", "data_dir": data_dir},
        "saga": {"hold_seconds": 1.5, "step_timeout_seconds": 2},
        "retry": {
            "initial_interval_seconds": 0.1,
            "maximum_interval_seconds": 0.3,
            "maximum_attempts": 3,
            "compensation_maximum_interval_seconds": 0.3,
        },
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
