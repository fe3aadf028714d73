"""Process entry of the dashboard: `checkout dashboard [--attach]` runs the App over a Stack it owns.

The stack holds the embedded servers (when needed), the dashboard's own worker and services,
and `dashboard.worker_processes` more `checkout worker` processes: Python runs one thread at a
time, so past about a dozen sagas per second a worker in the dashboard's process would take the
time the screen needs. The own worker takes a small share of the work (`SHARED_WORKER`) when
there are others. The embedded servers it starts are supervised: one that dies is restarted.
While the dashboard owns the terminal, log records go to `<data_dir>/logs/dashboard.log`, with
every incident line (a server restarted, a part of health down or back) whatever the log level.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.exceptions import ApplicationError

from engine.config import Settings
from engine.errors import CheckoutError
from engine.worker import WorkerLimits
from tui.config import CHECKOUT_COMMAND, DashboardSettings, dashboard_settings

if TYPE_CHECKING:
    from engine.stack import Stack

# The dashboard's own worker beside worker processes: the fewest pollers (2), few slots, so most sagas go to them.
SHARED_WORKER = WorkerLimits(workflow_task_polls=2, workflow_tasks=2, local_activities=8)
# Its worker processes yield the CPU to it when the machine is busy: a key press or a step event
# then waits less for the screen, and the sagas finish at the same rate (the README's Speed section).
HELPER_NICENESS = 5
# Loggers of incidents, kept at INFO in dashboard.log: the line saying a part came back belongs beside the one
# saying it went down.
INCIDENT_LOGGERS = ("engine.supervision", "tui.health")


class ExpectedFaultsInOneLine(logging.Filter):
    """An activity failing with an ApplicationError is a service's answer (a decline, an injected
    error, a timeout): expected, so one line with the error. Tracebacks stay for the unexpected."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ApplicationError):
            kind = f"{error.type}: " if error.type else ""
            record.msg, record.args = f"{record.getMessage()}: {kind}{error.message}", None
            record.exc_info = record.exc_text = None
        return True


@contextmanager
def logging_to(path: Path) -> Iterator[None]:
    """Log records go to `path` while the dashboard owns the terminal (stderr would draw over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ExpectedFaultsInOneLine())
    root = logging.getLogger()
    saved, root.handlers = root.handlers, [handler]
    incidents = [logging.getLogger(name) for name in INCIDENT_LOGGERS]
    levels = [logger.level for logger in incidents]
    for logger in incidents:
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.handlers = saved
        for logger, level in zip(incidents, levels, strict=True):
            logger.setLevel(level)
        handler.close()


def dashboard_stack(settings: Settings, dashboard: DashboardSettings, *, attach: bool = False) -> Stack:
    """What `checkout dashboard` runs: attached, only connections; else servers when needed, its own
    worker and services, and `dashboard.worker_processes` more worker processes, stopped with it."""
    from engine.stack import Stack
    from engine.worker_processes import WorkerProcesses

    if attach:
        return Stack(settings, worker=False, services=False)
    if not dashboard.worker_processes:
        return Stack(settings, supervise=True)
    helpers = WorkerProcesses(
        dashboard.worker_processes,
        CHECKOUT_COMMAND,
        settings.embedded.data_dir / "logs",
        faults_enabled=settings.faults_enabled,
        niceness=HELPER_NICENESS,
        metrics_port=settings.metrics.port,
    )
    return Stack(settings, worker_limits=SHARED_WORKER, helpers=helpers, supervise=True)


def _checked_stack(settings: Settings, attach: bool) -> Stack | int:
    """The dashboard's stack, or the exit code once a bad `dashboard` section is printed in one line."""
    try:
        dashboard = dashboard_settings(settings.dashboard)
    except CheckoutError as error:
        print(error.message, file=sys.stderr)
        return error.exit_code
    return dashboard_stack(settings, dashboard, attach=attach)


def terminal_gone() -> None:
    """The terminal hung up (a closed window, a dropped SSH session): point our standard streams at
    /dev/null. Textual's writes to a hung-up terminal fail, its writer thread dies of it, and the
    next writes then wait for that thread for ever; the dashboard would never get to stop what it
    started. With /dev/null they succeed, and the quit runs as after `q`."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def run_dashboard(settings: Settings, attach: bool = False, read_only: bool = False) -> int:
    """`checkout dashboard [--attach] [--read-only]`: run the app over a Stack it owns; returns the exit code."""
    from tui.app import CheckoutApp

    checked = _checked_stack(settings, attach)
    if isinstance(checked, int):
        return checked
    stack = checked  # narrowed, also inside the functions below
    app = CheckoutApp(stack, owns_stack=True, read_only=read_only)

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def hung_up(*_: object) -> None:
            terminal_gone()
            loop.call_soon_threadsafe(app.call_later, app.quit_now)

        # A plain handler, not the loop's: with a hang-up comes a SIGCONT, whose handler (Textual's)
        # starts drawing again, and Python runs the handlers of pending signals in signal-number
        # order, so this one goes first only when it is not deferred to the loop.
        if hasattr(signal, "SIGHUP"):  # not on Windows
            signal.signal(signal.SIGHUP, hung_up)
        try:
            loop.add_signal_handler(signal.SIGTERM, lambda: app.call_later(app.quit_now))  # never asks
        except (NotImplementedError, RuntimeError):
            pass
        try:
            await app.run_async()
        finally:
            await stack.stop()  # idempotent: also covers a crash or an exit before the quit action

    try:
        with logging_to(settings.embedded.data_dir / "logs" / "dashboard.log"):
            asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    if app.start_error is not None:
        print(f"{app.start_error.title}: {app.start_error.message}", file=sys.stderr)
    return app.return_code or 0
