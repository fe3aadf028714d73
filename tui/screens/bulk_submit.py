"""Bulk submit: N orders at R per second, with progress bars; can be stopped.

An order Temporal refused is not submitted: the bar counts only the submitted ones, and the
dialog and the closing notification say how many were refused and why."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Select
from textual.worker import Worker

from engine.config import CatalogueItem
from engine.errors import CheckoutError
from engine.models import OrderInput
from tui.format import one_line
from tui.messages import Severity

Submit = Callable[[OrderInput], Awaitable[None]]
IsTerminal = Callable[[str], bool]

ANY_SKU = "*"
MAX_COUNT = 10_000
MAX_RATE = 500.0
MAX_CONCURRENT = 64


@dataclass(frozen=True)
class BulkPlan:
    """What the form asks for; the dashboard hands the last one back next time."""

    count: int = 20
    rate: float = 5.0
    sku: str = ANY_SKU


@dataclass
class BulkResult:
    plan: BulkPlan
    planned: int = 0  # orders asked for, over every run of the form
    submitted: list[str] = field(default_factory=list)
    stopped: bool = False
    background: BulkSubmitScreen | None = None  # still submitting: the dashboard follows it
    refused: Counter[str] = field(default_factory=Counter)  # why -> how many orders

    def summary(self) -> str:
        count = len(self.submitted)
        if self.stopped:
            text = f"Bulk submit stopped: {count} of {self.planned} orders submitted"
        elif self.refused:
            text = f"{count} of {self.planned} orders submitted"
        else:
            text = f"{count} orders submitted"
        if self.refused:
            text += "; " + refusals(self.refused)
        return text

    @property
    def severity(self) -> Severity:
        return "error" if self.refused else "information"


def refusals(refused: Counter[str]) -> str:
    """`52 refused: Temporal at … is unreachable (…)`, the most frequent reason first."""
    total = sum(refused.values())
    reasons = "; ".join(why if len(refused) == 1 else f"{count}× {why}" for why, count in refused.most_common())
    return f"{total} refused: {reasons}"


def parse_plan(count: str, rate: str) -> tuple[int, float]:
    """Raises ValueError with a one-line message."""
    try:
        number = int(count.strip())
    except ValueError:
        raise ValueError("count: a whole number") from None
    if not 1 <= number <= MAX_COUNT:
        raise ValueError(f"count: between 1 and {MAX_COUNT}")
    try:
        per_second = float(rate.strip())
    except ValueError:
        raise ValueError("rate: a number of orders per second") from None
    if not 0 < per_second <= MAX_RATE:
        raise ValueError(f"rate: more than 0 and at most {MAX_RATE:g}")
    return number, per_second


class BulkSubmitScreen(ModalScreen[BulkResult]):
    """Dismisses with what it submitted. Stopping (or closing) starts no new order; the ones on
    their way are waited for and counted, since they exist in Temporal whatever happens here."""

    DEFAULT_CSS = """
    BulkSubmitScreen { align: center middle; }
    BulkSubmitScreen > #dialog {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    BulkSubmitScreen .field { height: 1; margin-top: 1; }
    BulkSubmitScreen .field > Label { width: 10; }
    BulkSubmitScreen .field > Input, BulkSubmitScreen .field > Select { width: 1fr; }
    BulkSubmitScreen #problem { color: $error; height: auto; }
    BulkSubmitScreen .bar { height: 1; margin-top: 1; }
    BulkSubmitScreen .bar > Label { width: 10; }
    BulkSubmitScreen #progress-text { margin-top: 1; height: auto; width: 1fr; }
    BulkSubmitScreen #close-hint { margin-top: 1; height: auto; color: $text-muted; }
    BulkSubmitScreen #buttons { height: 1; margin-top: 1; align-horizontal: right; }
    BulkSubmitScreen #buttons > Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("escape", "close", "Stop & close", id="dialog.close", tooltip="Stop submitting and close"),
    ]
    HINT = "Esc or Stop & close stops submitting; Background goes on, with its progress in the numbers line."

    def __init__(
        self,
        catalogue: dict[str, CatalogueItem],
        submit: Submit,
        is_terminal: IsTerminal,
        plan: BulkPlan | None = None,
    ) -> None:
        super().__init__()
        self.catalogue = catalogue
        self.submit = submit
        self.is_terminal = is_terminal
        self.plan = plan or BulkPlan()
        self.planned = 0
        self.submitted: list[str] = []
        self.refused: Counter[str] = Counter()  # why -> how many orders
        self.running = False
        self.stopped = False
        self._stop = asyncio.Event()
        self._runner: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        options = [("any (round robin)", ANY_SKU)] + [(item.name, sku) for sku, item in self.catalogue.items()]
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Bulk submit"
            with Horizontal(classes="field"):
                yield Label("orders")
                yield Input(str(self.plan.count), id="count", compact=True)
            with Horizontal(classes="field"):
                yield Label("per sec")
                yield Input(f"{self.plan.rate:g}", id="rate", compact=True)
            with Horizontal(classes="field"):
                yield Label("SKU")
                sku = self.plan.sku if self.plan.sku in self.catalogue else ANY_SKU
                yield Select(options, value=sku, allow_blank=False, id="sku", compact=True)
            yield Label("", id="problem")
            with Horizontal(classes="bar"):
                yield Label("submitted")
                yield ProgressBar(total=1, show_eta=False, id="submitted-bar")
            with Horizontal(classes="bar"):
                yield Label("finished")
                yield ProgressBar(total=1, show_eta=False, id="finished-bar")
            yield Label("", id="progress-text")
            yield Label(self.HINT, id="close-hint")
            with Horizontal(id="buttons"):
                yield Button("Stop & close", id="close", compact=True)
                yield Button("Background", id="background", compact=True, disabled=True)
                yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
                yield Button("Start", id="start", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#problem", Label).display = False
        self.query_one("#count", Input).focus()
        self.set_interval(0.25, self._show_progress)

    # --- progress -------------------------------------------------------------------------

    @property
    def failed(self) -> int:
        """Orders refused (not submitted)."""
        return sum(self.refused.values())

    @property
    def finished(self) -> int:
        return sum(1 for order_id in self.submitted if self.is_terminal(order_id))

    @property
    def done(self) -> bool:
        """Submitting is over and every submitted order is terminal."""
        return not self.running and bool(self.submitted) and self.finished == len(self.submitted)

    def _show_progress(self) -> None:
        if not self.planned:
            return
        finished = self.finished
        self.query_one("#submitted-bar", ProgressBar).update(total=self.planned, progress=len(self.submitted))
        self.query_one("#finished-bar", ProgressBar).update(total=max(1, len(self.submitted)), progress=finished)
        state = "running" if self.running else ("stopped" if self.stopped else "submitted")
        text = f"{state}: {len(self.submitted)} of {self.planned} submitted, {finished} finished"
        if self.done:
            text += " — all finished"
        if self.refused:
            text += "\n" + refusals(self.refused)
        self.query_one("#progress-text", Label).update(text)

    # --- actions --------------------------------------------------------------------------

    @on(Button.Pressed, "#start")
    @on(Input.Submitted)
    def action_start(self) -> None:
        if self.running:
            return
        problem = self.query_one("#problem", Label)
        try:
            count, rate = parse_plan(self.query_one("#count", Input).value, self.query_one("#rate", Input).value)
        except ValueError as error:
            problem.update(str(error))
            problem.display = True
            return
        problem.display = False
        sku = self.query_one("#sku", Select).value
        self.plan = BulkPlan(count, rate, sku if isinstance(sku, str) else ANY_SKU)
        self.planned += count
        self.stopped = False
        self._stop = asyncio.Event()
        self._set_running(True)
        # The app's worker, not the dialog's: it goes on when the dialog goes to the background.
        self._runner = self.app.run_worker(self._run(count, rate, self.plan.sku), group="bulk", exit_on_error=False)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if self.running and not self.stopped:
            self.stopped = True
            self._stop.set()  # orders already on their way finish; no new ones start

    @on(Button.Pressed, "#close")
    async def action_close(self) -> None:
        self.action_stop()
        if self._runner is not None:
            await self._runner.wait()  # the orders on their way: they exist, so they count
        self.dismiss(self.outcome())

    @on(Button.Pressed, "#background")
    def action_background(self) -> None:
        """Back to the table while the orders go on being submitted."""
        if self.running:
            self.dismiss(BulkResult(self.plan, self.planned, list(self.submitted), self.stopped, background=self))

    def outcome(self) -> BulkResult:
        """What a bulk submit in the background did, once it is over."""
        return BulkResult(self.plan, self.planned, list(self.submitted), self.stopped, refused=Counter(self.refused))

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.query_one("#start", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running
        self.query_one("#background", Button).disabled = not running
        self._show_progress()

    def _order(self, batch: str, index: int, sku: str) -> OrderInput:
        skus = list(self.catalogue)
        chosen = skus[index % len(skus)] if sku == ANY_SKU else sku
        item = self.catalogue[chosen]
        return OrderInput.model_validate(
            {
                "order_id": f"{batch}-{index:04d}",
                "customer_id": f"bulk-{index % 10}",
                "items": [{"sku": chosen, "quantity": 1, "unit_price_cents": item.price_cents}],
            }
        )

    async def _run(self, count: int, rate: float, sku: str) -> None:
        batch = secrets.token_hex(3)
        loop = asyncio.get_running_loop()
        start = loop.time()
        slots = asyncio.Semaphore(MAX_CONCURRENT)
        pending: set[asyncio.Task[None]] = set()

        async def one(order: OrderInput) -> None:
            try:
                await self.submit(order)
            except CheckoutError as error:
                self.refused[one_line(error.message, 160)] += 1
            else:
                self.submitted.append(order.order_id)
            finally:
                slots.release()

        stop = self._stop
        try:
            for index in range(count):
                delay = start + index / rate - loop.time()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                    except TimeoutError:
                        pass
                if stop.is_set():
                    break
                await slots.acquire()
                task = asyncio.create_task(one(self._order(batch, index, sku)))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.gather(*pending)
        finally:
            for task in pending:  # only when this worker itself is cancelled (the app quits)
                task.cancel()
            self.running = False
            if self.is_mounted:
                self._set_running(False)
