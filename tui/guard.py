"""Read-only mode: which dashboard actions and `checkout` commands change anything, and their refusal.

`checkout --read-only`, `CHECKOUT_READ_ONLY=1` and `dashboard.read_only` take every one of them
away: the dashboard shows no key, palette entry or button for them, and the methods behind them
refuse as well, so a message that slips through changes nothing.
"""

from __future__ import annotations

import argparse
import inspect
import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from engine.errors import InvalidInput

WRITE_ACTIONS = frozenset(
    {
        "new_order",
        "bulk_submit",
        "cancel_order",
        "terminate_order",
        "retry_order",
        "cancel_matching",
        "change_stock",
        "reset_faults",
        "apply_preset",
        "pause_step",
        "resume_step",
        "run_scenario",
        "stop_scenario",
    }
)
"""The dashboard's actions that change orders, stock or faults (binding actions and palette commands)."""

READ_ONLY_ENV = "CHECKOUT_READ_ONLY"
READ_ONLY_LINE = "read-only: this dashboard does not change orders, stock or faults"


class ReadOnlyRefused(InvalidInput):
    """A write asked of a read-only dashboard or command: refused, nothing changed."""

    title = "Read-only"


def read_only_from_env() -> bool:
    """`CHECKOUT_READ_ONLY`: 1/true/yes/on, or 0/false/no/off (unset or empty: off)."""
    value = os.environ.get(READ_ONLY_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise InvalidInput(f"{READ_ONLY_ENV}={value[:20]!r}: use 1 or 0")


def write_command(args: argparse.Namespace) -> str | None:
    """The `checkout` command line as the operator typed it, when it would change anything; else None."""
    command = args.command or "dashboard"
    action = getattr(args, "action", None)
    if command in ("trigger", "cancel", "terminate", "resume"):
        return command
    if command == "pause" and getattr(args, "step", None) is not None:
        return "pause"
    if command == "faults" and action in ("set", "clear"):
        return f"faults {action}"
    if command == "stock" and action in ("set", "add"):
        return f"stock {action}"
    if command == "scenario" and action == "run":
        return "scenario run"  # it sets faults and submits orders (attached: on the cluster)
    if command == "bench" and getattr(args, "attach", False):
        return "bench --attach"  # it submits orders to the configured cluster
    return None


def refuse_write_command(args: argparse.Namespace) -> None:
    """Raises ReadOnlyRefused (one line, exit code 2) for a write command in read-only mode."""
    if not getattr(args, "read_only", False):
        return
    command = write_command(args)
    if command is not None:
        raise ReadOnlyRefused(f"read-only: `checkout {command}` changes the cluster and is refused")


def action_name(callback: Callable[..., object]) -> str:
    """The action a palette callback runs: `action_new_order` and partial(apply_preset, ...) alike."""
    function = getattr(callback, "func", callback)
    return str(getattr(function, "__name__", "")).removeprefix("action_")


F = TypeVar("F", bound=Callable[..., Any])


def writes(method: F) -> F:
    """A dashboard method that changes something: in read-only mode (`self.read_only`) it says so
    and does nothing (a coroutine function's coroutine then does nothing)."""

    def refused(self: Any) -> bool:
        if self.read_only:
            self.say(READ_ONLY_LINE, title="Read-only", severity="warning")
        return bool(self.read_only)

    if inspect.iscoroutinefunction(method):

        @wraps(method)
        async def guarded_coroutine(self: Any, *args: Any, **kwargs: Any) -> Any:
            return None if refused(self) else await method(self, *args, **kwargs)

        guarded: Callable[..., Any] = guarded_coroutine
    else:

        @wraps(method)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            return None if refused(self) else method(self, *args, **kwargs)

    guarded.__writes__ = True  # type: ignore[attr-defined]
    return cast(F, guarded)
