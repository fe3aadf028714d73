"""The operator's actions: forms and confirmations, and the facade calls behind them.

A base of the dashboard App: it holds what the operator does to orders and faults,
while `tui/app.py` holds the stack's lifecycle and how events reach the screen.
"""

from __future__ import annotations

from textual import on, work

from engine.errors import CheckoutError
from engine.facade import CheckoutFacade
from engine.models import FaultSettings, OrderInput, OrderStatus, OrderSummary, ServiceName, Step
from tui.format import duration
from tui.messages import ActionDone, FaultChanged, FaultsRefused, PresetChosen, ResetRequested
from tui.navigation import Navigation
from tui.presets import PRESETS, describe
from tui.screens.bulk_submit import BulkPlan, BulkResult, BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.new_order import NewOrderScreen
from tui.state import Clock


class OperatorActions(Navigation):
    # Set by the dashboard App.
    clock: Clock

    def __init__(self) -> None:
        super().__init__()
        self.bulk_plan = BulkPlan(self.dashboard.bulk_count, self.dashboard.bulk_rate)

    # --- submitting ---------------------------------------------------------------------------

    async def submit(self, order: OrderInput) -> None:
        """Submit through the facade; the order shows in the table at once, before its first event."""
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

    def action_new_order(self) -> None:
        facade = self._need_facade()
        if facade is None:
            return

        def submitted(order: OrderInput | None) -> None:
            if order is not None:
                self.say(f"Order {order.order_id} submitted", title="New order")
                self.show_order(order.order_id)

        self.push_screen(NewOrderScreen(facade.catalogue, self.submit, customer=self.dashboard.customer), submitted)

    def action_bulk_submit(self) -> None:
        facade = self._need_facade()
        if facade is None:
            return

        def closed(result: BulkResult | None) -> None:
            if result is None:
                return
            self.bulk_plan = result.plan  # the form opens with these values next time
            if result.planned:
                self.say(result.summary(), title="Bulk submit")

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
    async def _cancel(self, order_id: str) -> None:
        assert self.facade is not None
        result = await self.facade.cancel(order_id)
        if result.accepted:
            text = f"Order {order_id}: cancel accepted ({result.reason})"
            self.post_message(ActionDone(text, title="Cancel", order_id=order_id))
        else:
            text = f"Order {order_id}: cancel rejected: {result.reason}"
            self.post_message(ActionDone(text, title="Cancel", severity="warning", order_id=order_id))

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
            ),
            answered,
        )

    @work(group="operate", exit_on_error=False)
    async def _terminate(self, order_id: str) -> None:
        assert self.facade is not None
        await self.facade.terminate(order_id, "terminated from the dashboard")
        # No step event says so: the order book learns it like a listing would tell it.
        self.feed.add(OrderSummary(order_id=order_id, status=OrderStatus.TERMINATED, closed_at=self.clock()))
        text = f"Order {order_id} terminated: no compensation ran"
        self.post_message(ActionDone(text, title="Terminate", severity="warning", order_id=order_id))

    # --- faults -------------------------------------------------------------------------------

    @on(FaultChanged)
    def _fault_changed(self, message: FaultChanged) -> None:
        self._set_faults({message.service: message.settings}, f"{message.service.value}: {describe(message.settings)}")

    @on(PresetChosen)
    def _preset(self, message: PresetChosen) -> None:
        self.apply_preset(message.name)

    def apply_preset(self, name: str) -> None:
        if self._need_facade() is not None:
            self._set_faults(PRESETS[name], f"preset {name!r} applied")

    @on(ResetRequested)
    def action_reset_faults(self) -> None:
        if self._need_facade() is not None:
            self._clear_faults()

    @work(group="faults", exit_on_error=False)
    async def _set_faults(self, faults: dict[ServiceName, FaultSettings], what: str) -> None:
        assert self.facade is not None
        for service, settings in faults.items():
            try:
                await self.facade.set_faults(service, settings)
            except CheckoutError as error:
                self.post_message(FaultsRefused(service, error))
                return
        self.post_message(ActionDone(what, title="Faults", refresh=True))

    @on(FaultsRefused)
    def _faults_refused(self, message: FaultsRefused) -> None:
        self.say(message.error.message, title=message.error.title, severity="error")
        self.faults_panel.restore(message.service)
        self.refresh_now()

    @work(group="faults", exit_on_error=False)
    async def _clear_faults(self) -> None:
        assert self.facade is not None
        await self.facade.clear_faults()
        self.post_message(ActionDone("every fault cleared", title="Faults", refresh=True))
