"""The operator's actions on orders: forms and confirmations, and the facade calls behind them.

A base of the dashboard App: new orders, bulk submit, cancel (one, or every order the
filter shows), terminate, retry, and opening an order in the Temporal Web UI.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import webbrowser
from collections import Counter

from textual import work

from engine.errors import CheckoutError, InvalidInput
from engine.facade import CheckoutFacade
from engine.models import OrderInput, OrderStatus, OrderSummary, Step
from tui.format import duration, one_line
from tui.guard import READ_ONLY_LINE, ReadOnlyRefused, writes
from tui.messages import ActionDone
from tui.navigation import Navigation
from tui.screens.bulk_submit import BulkPlan, BulkResult, BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.new_order import NewOrderScreen
from tui.state import Clock

RETRYABLE = (OrderStatus.COMPENSATED, OrderStatus.FAILED, OrderStatus.TERMINATED)
TYPE_TO_CANCEL_OVER = 10  # a bulk cancel of more orders asks the operator to type `cancel`


class OperatorActions(Navigation):
    # Set by the dashboard App.
    clock: Clock

    def __init__(self) -> None:
        super().__init__()
        self.bulk_plan = BulkPlan(self.dashboard.bulk_count, self.dashboard.bulk_rate)
        self.bulk_in_background: BulkSubmitScreen | None = None

    # --- submitting ---------------------------------------------------------------------------

    async def submit(self, order: OrderInput) -> None:
        """Submit through the facade; the order shows in the table at once, before its first event."""
        if self.read_only:
            raise ReadOnlyRefused(READ_ONLY_LINE)
        if self.facade is None:
            raise CheckoutError("not connected yet")
        await self.facade.submit(order)
        self.feed.add(
            OrderSummary(
                order_id=order.order_id,
                customer_id=order.customer_id,
                total_cents=order.total_cents,
                status=OrderStatus.RUNNING,
                started_at=self.clock(),
            )
        )

    def _need_facade(self) -> CheckoutFacade | None:
        if self.facade is None:
            self.say("Not connected yet: the servers are starting", severity="warning")
        return self.facade

    @writes
    def action_new_order(self) -> None:
        facade = self._need_facade()
        if facade is None:
            return

        def submitted(order: OrderInput | None) -> None:
            if order is not None:
                self.say(f"Order {order.order_id} submitted", title="New order")
                self.show_order(order.order_id)

        self.push_screen(NewOrderScreen(facade.catalogue, self.submit, customer=self.dashboard.customer), submitted)

    @writes
    def action_bulk_submit(self) -> None:
        facade = self._need_facade()
        if facade is None:
            return
        if self.bulk_in_background is not None:
            self._offer_to_stop_the_bulk(self.bulk_in_background)
            return

        def closed(result: BulkResult | None) -> None:
            if result is None:
                return
            if result.background is not None:
                self.bulk_in_background, self.bulk_plan = result.background, result.plan
                self.say("Goes on in the background: progress in the numbers line; b stops it", title="Bulk submit")
                return
            self.bulk_plan = result.plan  # the form opens with these values next time
            if result.planned:
                self.say(result.summary(), title="Bulk submit", severity=result.severity)

        self.push_screen(BulkSubmitScreen(facade.catalogue, self.submit, self.book.is_terminal, self.bulk_plan), closed)

    # --- cancel and terminate -----------------------------------------------------------------

    def _selected_for(self, verb: str) -> str | None:
        """The selected order, if it can still be acted on; else None, having said why."""
        if self._need_facade() is None:
            return None
        order_id = self.selected_order
        if order_id is None:
            self.say(f"Select an order to {verb} first", severity="warning")
            return None
        row = self.book.orders.get(order_id)
        if row is not None and row.status.is_terminal:
            self.say(f"Order {order_id} has already ended: {row.status.value}", severity="warning")
            return None
        return order_id

    def _offer_to_stop_the_bulk(self, bulk: BulkSubmitScreen) -> None:
        def answered(stop: bool | None) -> None:
            if stop:
                bulk.action_stop()  # the orders on their way finish; the numbers line says when it is over

        def progress() -> tuple[str, bool]:
            return f"{len(bulk.submitted)} of {bulk.planned} submitted", bulk.running

        body = "A bulk submit runs in the background. Stop it? No new order starts; the ones started go on."
        self.push_screen(
            ConfirmScreen("Bulk submit", body, confirm="Stop it", keep="Let it run", live=progress), answered
        )

    def bulk_progress(self) -> str:
        """The numbers line's word on a bulk submit in the background; its summary once it is over."""
        bulk = self.bulk_in_background
        if bulk is None:
            return ""
        if bulk.running:
            return f"bulk {len(bulk.submitted)}/{bulk.planned}"
        self.bulk_in_background = None
        self.say(bulk.outcome().summary(), title="Bulk submit")
        return ""

    @writes
    def action_cancel_order(self) -> None:
        order_id = self._selected_for("cancel")
        if order_id is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(order_id)

        self.push_screen(
            ConfirmScreen(
                f"Cancel order {order_id}?",
                "The order compensates: payment refunded, stock returned.\nAccepted until the order starts shipping.",
                confirm="Cancel order",
                keep="Keep",
                live=lambda: self._cancel_outlook(order_id),
            ),
            answered,
        )

    def _cancel_outlook(self, order_id: str) -> tuple[str, bool]:
        """For the cancel dialog, while it is open: the hold's countdown, or why a cancel is no longer possible."""
        row = self.book.orders.get(order_id)
        if row is not None and row.status.is_terminal:
            return f"Order {order_id} has ended: {row.status.value}", False
        saga = self.detail_view.saga if self.detail_view.order_id == order_id else None
        if (row is not None and row.step == Step.SHIP.value) or (saga is not None and saga.current_step is Step.SHIP):
            return "Shipping has started: too late to cancel", False
        if saga is not None and saga.hold_until is not None:
            left = (saga.hold_until - self.clock()).total_seconds()
            if left > 0:
                return f"Cancellable for {duration(left)} more", True
        return "", True

    @work(group="operate", exit_on_error=False)
    @writes
    async def _cancel(self, order_id: str) -> None:
        assert self.facade is not None
        result = await self.facade.cancel(order_id)
        if result.accepted:
            text = f"Order {order_id}: cancel accepted ({result.reason})"
            self.post_message(ActionDone(text, title="Cancel", order_id=order_id))
        else:
            text = f"Order {order_id}: cancel rejected: {result.reason}"
            self.post_message(ActionDone(text, title="Cancel", severity="warning", order_id=order_id))

    @writes
    def action_terminate_order(self) -> None:
        order_id = self._selected_for("terminate")
        if order_id is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._terminate(order_id)

        self.push_screen(
            ConfirmScreen(
                f"Terminate order {order_id}?",
                "Terminate stops the workflow at once. A charged card is not refunded and "
                "reserved stock is not returned. Use Cancel to undo an order safely.",
                confirm="Terminate (unsafe)",
                keep="Keep running",
                unsafe=True,
                must_type=order_id,
            ),
            answered,
        )

    @work(group="operate", exit_on_error=False)
    @writes
    async def _terminate(self, order_id: str) -> None:
        assert self.facade is not None
        await self.facade.terminate(order_id, "terminated from the dashboard")
        # No step event says so: the order book learns it like a listing would tell it.
        self.feed.add(OrderSummary(order_id=order_id, status=OrderStatus.TERMINATED, closed_at=self.clock()))
        text = f"Order {order_id} terminated: no compensation ran"
        self.post_message(ActionDone(text, title="Terminate", severity="warning", order_id=order_id))

    # --- retry, cancel what matches, open in the Web UI ---------------------------------------

    @writes
    def action_retry_order(self) -> None:
        """Submit an order that did not complete again, as a new order with the same items (id `<old>-r1`)."""
        if self._need_facade() is None or self.selected_order is None:
            if self.facade is not None:
                self.say("Select an order to retry first", severity="warning")
            return
        row = self.book.orders.get(self.selected_order)
        if row is None or row.status not in RETRYABLE:
            state = row.status.value if row else "unknown"
            self.say(f"Only a compensated, failed or terminated order can be retried ({state})", severity="warning")
            return
        self._retry(self.selected_order)

    @work(group="operate", exit_on_error=False)
    @writes
    async def _retry(self, order_id: str) -> None:
        assert self.facade is not None
        old = (await self.facade.state(order_id)).order
        for attempt in range(1, 10):
            new_id = retry_id(order_id, attempt)
            if new_id in self.book.orders:
                continue
            order = OrderInput(order_id=new_id, customer_id=old.customer_id, items=old.items)
            try:
                await self.submit(order)
            except InvalidInput:  # taken by an order the table does not show
                continue
            text = f"Order {order_id} retried as {new_id}"
            self.post_message(ActionDone(text, title="Retry", select=new_id))
            return
        self.post_message(ActionDone(f"Order {order_id}: no free retry id", title="Retry", severity="error"))

    @writes
    def action_cancel_matching(self) -> None:
        """Cancel every order in flight that the table shows (the current filter). The confirmation
        counts them live, as orders end or start; past TYPE_TO_CANCEL_OVER the operator types `cancel`."""
        if self._need_facade() is None:
            return
        if not self._matching_in_flight():
            self.say("No order in flight matches the filter", severity="warning")
            return
        described = describe_filter(self.orders_table.status_filter.label, self.orders_table.text_filter)

        def outlook() -> tuple[str, bool]:
            count = len(self._matching_in_flight())
            return f"{count} {'order' if count == 1 else 'orders'} in flight match now", count > 0

        def must_type() -> str | None:
            return "cancel" if len(self._matching_in_flight()) > TYPE_TO_CANCEL_OVER else None

        def answered(yes: bool | None) -> None:
            order_ids = self._matching_in_flight()  # those that match as the operator confirms
            if yes and order_ids:
                self._cancel_many(order_ids)

        self.push_screen(
            ConfirmScreen(
                "Cancel the orders the filter shows?",
                f"Every order in flight that matches {described} compensates: payments refunded, "
                "stock returned. Orders already shipping refuse.",
                confirm="Cancel them",
                keep="Keep",
                live=outlook,
                must_type=must_type,
            ),
            answered,
        )

    def _matching_in_flight(self) -> list[str]:
        return [i for i in self.orders_table.shown_ids() if not self.book.orders[i].status.is_terminal]

    @work(group="operate", exit_on_error=False)
    @writes
    async def _cancel_many(self, order_ids: list[str]) -> None:
        assert self.facade is not None
        facade = self.facade
        slots = asyncio.Semaphore(8)
        refusals: Counter[str] = Counter()

        async def one(order_id: str) -> None:
            async with slots:
                try:
                    result = await facade.cancel(order_id)
                except CheckoutError as error:
                    refusals[error.title.lower()] += 1
                    return
                if not result.accepted:
                    refusals[refusal_kind(result.reason)] += 1

        await asyncio.gather(*(one(order_id) for order_id in order_ids))
        refused = refusals.total()
        accepted = len(order_ids) - refused
        text = f"{len(order_ids)} cancels: {accepted} accepted, {refused} refused"
        if refusals:
            text += f" ({', '.join(f'{count} {kind}' for kind, count in refusals.most_common())})"
        self.post_message(ActionDone(text, title="Cancel", severity="information" if accepted else "warning"))

    def action_copy_order_id(self) -> None:
        """The selected order's id to the clipboard (OSC 52: the terminal's, or the browser's with --web)."""
        if self.selected_order is None:
            self.say("No order selected: pick one in the table first", severity="warning")
            return
        self.copy_to_clipboard(self.selected_order)
        self.say(f"Copied {self.selected_order} to the clipboard", title="Order id")

    def action_open_web_ui(self) -> None:
        """The selected order's history in the Temporal Web UI: in a browser, else its link on the clipboard."""
        if self._need_facade() is None:
            return
        assert self.facade is not None
        url = self.facade.web_ui_url(self.selected_order)
        if url is None:
            self.say("No Temporal Web UI address is known (temporal.ui_url)", severity="warning")
            return
        if self.is_web:
            self.open_url(url)  # the browser showing the dashboard opens it
            self.say(f"Opened {url}", title="Web UI")
            return
        try:
            opened = can_open_a_browser() and webbrowser.open(url)
        except webbrowser.Error:
            opened = False
        if opened:
            self.say(f"Opened {url}", title="Web UI")
        else:
            self.copy_to_clipboard(url)
            self.say(f"Copied to the clipboard (no browser here): {url}", title="Web UI")


def retry_id(order_id: str, attempt: int) -> str:
    """`<order>-r<n>`: the retry's id says what it retries (an id is at most 64 characters)."""
    base = re.sub(r"-r\d+$", "", order_id)
    suffix = f"-r{attempt}"
    return base[: 64 - len(suffix)] + suffix


def refusal_kind(reason: str) -> str:
    """A refused cancel's reason, short enough to be counted: `already shipping`, `ended`, or the reason."""
    text = reason.lower()
    if "shipping" in text:
        return "already shipping"
    if "not started" in text:
        return "not started"
    if any(word in text for word in ("already", "finished", "ended")):
        return "ended"
    return one_line(reason, 60)


def describe_filter(status: str, text: str) -> str:
    return f"'{status}' and '{text.strip()}'" if text.strip() else f"'{status}'"


def can_open_a_browser() -> bool:
    """A console browser (lynx, w3m) would take over the dashboard's terminal: only a graphical one will do."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER"))
