"""The `dashboard` section of the config (`Settings.dashboard` is a free dict the engine does not read)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.config import unknown_key
from engine.errors import ConfigError

DEFAULT_CUSTOMER = "customer-1"
# The product's own command: its `worker` is what `checkout bench` and the worker processes run.
CHECKOUT_COMMAND = [sys.executable, "-m", "tui.cli"]


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> keys, e.g. {new_order: "n,ctrl+n"}; ids are listed on the help screen (`?`)."""
    replay_hours: float = Field(1.0, ge=0, le=24 * 7)
    """How much step-event history to replay when the dashboard starts (0: none)."""
    max_rows: int = Field(1000, ge=10, le=100_000)
    """Orders kept in the table; the oldest finished ones go first."""
    batch_ms: int = Field(50, ge=50, le=1000)
    """Step events are buffered and applied to the screen in one batch this often."""
    refresh_seconds: float = Field(1.0, ge=0.2, le=60)
    """How often health, services and faults are read."""
    reconcile_seconds: float = Field(10.0, ge=1, le=3600)
    """How often running and terminated orders are listed from Temporal (catches orders without events)."""
    worker_processes: int = Field(1, ge=0, le=16)
    """More `checkout worker` processes the dashboard starts beside its own worker (0: none), stopped
    with it: they take most of the saga work, so the screen keeps up at the engine's full rate."""
    bulk_count: int = Field(20, ge=1, le=10_000)
    """Bulk submit: default number of orders."""
    bulk_rate: float = Field(5.0, gt=0, le=500)
    """Bulk submit: default orders per second."""
    customer: str = DEFAULT_CUSTOMER
    """Default customer id of the new order form and of `checkout trigger`."""
    read_only: bool = False
    """Watch only, as `checkout dashboard --read-only`: every action that changes anything is gone."""
    confirm_quit: bool = True
    """Quitting with orders in flight says how many and what becomes of them, and asks once (q, ctrl+q;
    a SIGTERM or a hang-up never asks)."""
    theme: str | None = None
    """A Textual theme name, e.g. textual-dark, nord, gruvbox."""
    web_token: SecretStr | None = None
    """`dashboard --web`: the operator token (default: a random one per start; `--token-file` wins)."""
    web_read_only_token: SecretStr | None = None
    """`dashboard --web`: the read-only token, for wall screens (default: random; `--read-only-token-file` wins)."""
    scenario_dirs: list[Path] = Field(default_factory=list)
    """More directories of scenario files (`*.yaml`), listed in the Scenarios tab beside configs/scenarios."""


def dashboard_settings(raw: dict[str, Any] | None) -> DashboardSettings:
    """Parse `Settings.dashboard`; raises ConfigError naming the bad key."""
    try:
        return DashboardSettings.model_validate(raw or {})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            what = unknown_key(DashboardSettings, first).replace("did you mean ", "did you mean dashboard.")
            raise ConfigError(f"config key dashboard.{key}: {what}") from None
        raise ConfigError(f"config key dashboard.{key}: {first['msg']}") from None
