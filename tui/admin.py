"""The operator's administration: faults, stock, the audit, exporting the orders shown.

A base of the dashboard App, above the actions on orders (`tui/actions.py`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textual import on, work

from engine.errors import CheckoutError
from engine.models import DEFAULT_RELEASE_RATE, FaultSettings, ServiceName, Step, StockChange
from tui.actions import OperatorActions
from tui.export import export_orders
from tui.guard import writes
from tui.messages import (
    ActionDone,
    AuditDone,
    AuditRequested,
    FaultChanged,
    FaultsRefused,
    PauseToggled,
    PresetChosen,
    ResetRequested,
    StockRequested,
)
from tui.presets import PRESETS, describe
from tui.screens.export import ExportScreen
from tui.screens.stock import StockScreen


class Administration(OperatorActions):
    # --- faults -------------------------------------------------------------------------------

    @on(FaultChanged)
    @writes
    def _fault_changed(self, message: FaultChanged) -> None:
        self._set_faults({message.service: message.settings}, f"{message.service.value}: {describe(message.settings)}")

    @on(PresetChosen)
    def _preset(self, message: PresetChosen) -> None:
        self.apply_preset(message.name)

    @writes
    def apply_preset(self, name: str) -> None:
        if self._need_facade() is not None:
            self._set_faults(PRESETS[name], f"preset {name!r} applied")

    @on(ResetRequested)
    @writes
    def action_reset_faults(self) -> None:
        if self._need_facade() is not None:
            self._clear_faults()

    @work(group="faults", exit_on_error=False)
    @writes
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
    @writes
    async def _clear_faults(self) -> None:
        assert self.facade is not None
        try:
            await self.facade.clear_faults()
        except CheckoutError as error:
            self.say(error.message, title=error.title, severity="error")
            return
        self.post_message(ActionDone("every fault cleared", title="Faults", refresh=True))

    # --- paused steps -------------------------------------------------------------------------

    @on(PauseToggled)
    def _pause_toggled(self, message: PauseToggled) -> None:
        if message.pause:
            self.action_pause_step(message.step.value)
        else:
            self.action_resume_step(message.step.value)

    @writes
    def action_pause_step(self, step: str = Step.CHARGE.value) -> None:
        """Orders wait before `step` until it is resumed (as `checkout pause STEP`)."""
        if self._need_facade() is not None:
            self._change_pause(Step(step), pause=True)

    @writes
    def action_resume_step(self, step: str = Step.CHARGE.value) -> None:
        """The orders waiting before `step` go on, DEFAULT_RELEASE_RATE a second (as `checkout resume STEP`)."""
        if self._need_facade() is not None:
            self._change_pause(Step(step), pause=False)

    @work(group="pauses", exit_on_error=False)
    @writes
    async def _change_pause(self, step: Step, *, pause: bool) -> None:
        assert self.facade is not None
        try:
            if pause:
                await self.facade.pause_step(step, "paused from the dashboard")
                what = f"{step.value} paused: orders wait before it"
            else:
                waiting = await self.facade.resume_step(step, DEFAULT_RELEASE_RATE)
                what = f"{step.value} resumed: {waiting} waiting order(s) go on at {DEFAULT_RELEASE_RATE:g}/s"
        except CheckoutError as error:
            self.say(error.message, title=error.title, severity="error")
            return
        self.post_message(ActionDone(what, title="Paused steps", refresh=True))

    # --- stock --------------------------------------------------------------------------------

    @on(StockRequested)
    @writes
    def action_change_stock(self) -> None:
        facade = self._need_facade()
        if facade is None:
            return
        snapshot = self.services_panel.snapshot
        levels = dict(snapshot.stock) if snapshot else {}
        levels |= {sku: levels.get(sku, 0) for sku in facade.catalogue}

        async def change(mode: str, sku: str, units: int) -> StockChange:
            if mode == "set":
                return await facade.set_stock(sku, units)
            return await facade.add_stock(sku, units)

        def changed(change: StockChange | None) -> None:
            if change is not None:
                self.say(f"{change.sku}: {change.units} units ({change.delta:+d})", title="Stock")
                self.refresh_now()

        self.push_screen(StockScreen(dict(sorted(levels.items())), change), changed)

    # --- the audit ----------------------------------------------------------------------------

    @on(AuditRequested)
    def action_run_audit(self) -> None:
        if self._need_facade() is not None:
            self.services_panel.show_audit(self.services_panel.audit, "running…")
            self._audit()

    @work(exclusive=True, group="audit", exit_on_error=False)
    async def _audit(self) -> None:
        assert self.facade is not None
        try:
            report = await self.facade.audit()
        except CheckoutError as error:
            self.post_message(AuditDone(None, error))
            return
        except Exception as error:  # the engine's audit may not be there yet: say so, never crash
            self.post_message(AuditDone(None, CheckoutError(f"failed: {type(error).__name__}: {error}")))
            return
        self.post_message(AuditDone(report))

    @on(AuditDone)
    def _audit_done(self, message: AuditDone) -> None:
        if message.report is None:
            error = message.error or CheckoutError("audit failed")
            self.services_panel.show_audit(None, error.message)
            self.say(error.message, title="Audit", severity="error")
            return
        report = message.report
        self.services_panel.show_audit(report)
        if report.clean:
            self.say(f"clean: {report.orders} orders, {report.records} records checked", title="Audit")
        else:
            first = report.discrepancies[0].message
            self.say(f"{len(report.discrepancies)} discrepancies; first: {first}", title="Audit", severity="error")

    # --- export -------------------------------------------------------------------------------

    def action_export(self) -> None:
        shown = [self.book.orders[order_id] for order_id in self.orders_table.shown_ids()]
        path = Path.cwd() / f"orders-{datetime.now():%Y%m%d-%H%M%S}.csv"

        def exported(result: tuple[Path, int] | None) -> None:
            if result is not None:
                self.say(f"{result[1]} orders written to {result[0]}", title="Export")

        self.push_screen(
            ExportScreen(lambda target: export_orders(shown, target), path=path, shown=len(shown)), exported
        )
