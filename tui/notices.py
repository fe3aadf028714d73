"""One place where the dashboard speaks to the operator: notifications, and failed workers turned into them.

The base of the dashboard App; every notification is also kept in `notices` (tests read them).
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import App
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from engine.errors import CheckoutError
from tui.format import one_line
from tui.messages import Severity


class Notices(App[int]):
    def __init__(self) -> None:
        super().__init__()
        self.notices: deque[tuple[str, str, str]] = deque(maxlen=200)  # (severity, title, message)
        self.stopping = False

    # --- one place where failures become notifications ----------------------------------------

    def say(
        self, message: str, *, title: str = "", severity: Severity = "information", timeout: float | None = None
    ) -> None:
        """A notification in plain text (error messages may hold brackets), remembered in `notices`."""
        self.notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is one line and is remembered in `notices`, as the operator reads it."""
        shown = one_line(message, 300)
        self.notices.append((severity, title, Text.from_markup(shown).plain if markup else shown))
        super().notify(shown, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR or self.stopping:
            return
        error = event.worker.error
        if isinstance(error, CheckoutError):
            self.say(error.message, title=error.title, severity="error")
        else:
            self.say(one_line(f"{type(error).__name__}: {error}"), title="Unexpected error", severity="error")
        self.log.error(f"worker {event.worker.name} failed: {error!r}")
