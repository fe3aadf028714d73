"""Read-only mode and the guards on destructive actions, over the in-memory facade.

Read-only: no key, palette entry, help row or button for a write action, and the methods refuse
when called anyway. Destructive actions: terminate and a bulk cancel of more than 10 orders ask
for typing; the bulk cancel counts live and groups its refusals; quitting with orders in flight asks.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Static

from engine.models import CancelResult, FaultSettings, OrderInput, OrderStatus, ServiceName
from tests.support.dashboard import fake_settings, started, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.actions import refusal_kind
from tui.app import CheckoutApp
from tui.commands import palette_commands
from tui.guard import READ_ONLY_LINE, WRITE_ACTIONS, ReadOnlyRefused, action_name
from tui.keys import BINDINGS
from tui.messages import FaultChanged, PresetChosen, ResetRequested, StockRequested
from tui.screens.confirm import ConfirmScreen, QuitScreen
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen

WRITE_BINDINGS = {binding.action: binding.key for binding in BINDINGS if binding.action in WRITE_ACTIONS}  # type: ignore[union-attr]


def an_order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "alice",
            "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
        }
    )


def holding_stack(**dashboard: object) -> FakeStack:
    """Orders stay in their hold for a minute: in flight, cancellable."""
    settings = fake_settings(saga={"hold_seconds": 60}, dashboard={"replay_hours": 1, **dashboard})
    return FakeStack(settings, FakeFacade(settings, step_seconds=0.01))


async def in_hold(pilot: Pilot[int], app: CheckoutApp, *order_ids: str) -> None:
    for order_id in order_ids:
        await app.stack.facade.submit(an_order(order_id))
    await wait_until(
        pilot,
        lambda: all(app.book.orders.get(o) and app.book.orders[o].step == "hold" for o in order_ids),
        what="orders in their hold",
    )


def writes_of(facade: FakeFacade) -> list[str]:
    return [call for call in facade.calls if call.split()[0] != "audit"]


def live_line(dialog: ConfirmScreen) -> str:
    return str(dialog.query_one("#live", Static).render())


# --- read-only ----------------------------------------------------------------------------------


def test_the_write_actions_are_one_list_that_covers_the_write_keys() -> None:
    """The list the tests derive from: every write key of the dashboard is in it, and each of its
    actions is a guarded method of the app."""
    assert set(WRITE_BINDINGS) == {
        "new_order",
        "bulk_submit",
        "cancel_order",
        "terminate_order",
        "retry_order",
        "cancel_matching",
        "change_stock",
        "reset_faults",
        "stop_scenario",
    }
    for action in WRITE_ACTIONS:
        method = getattr(CheckoutApp, f"action_{action}", None) or getattr(CheckoutApp, action)
        assert getattr(method, "__writes__", False), f"{action} is not guarded"


async def test_no_key_or_palette_command_outside_the_write_list_changes_anything() -> None:
    """What keeps the list whole: in a dashboard that may write, every other key and palette
    command is pressed or run, and none of them reaches a write of the facade."""
    stack = holding_stack()
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "rw-1")
        app.show_order("rw-1")
        await wait_until(pilot, lambda: app.selected_order == "rw-1")
        stack.facade.calls.clear()
        others = [b for b in BINDINGS if b.action not in WRITE_ACTIONS and b.action != "quit"]  # type: ignore[union-attr]
        assert len(others) >= 15
        for binding in others:
            await pilot.press(binding.key)  # type: ignore[union-attr]
            await pilot.pause(0.05)
            while len(app.screen_stack) > 1:  # a help or export dialog: closed unused
                app.pop_screen()
                await pilot.pause(0.05)
            app.orders_table.focus()
        for command in palette_commands(app):
            if action_name(command.callback) in WRITE_ACTIONS | {"quit"}:
                continue
            command.callback()
            await pilot.pause(0.05)
            while len(app.screen_stack) > 1:
                app.pop_screen()
                await pilot.pause(0.05)
        await pilot.pause(0.3)
        assert writes_of(stack.facade) == [], "an action outside WRITE_ACTIONS wrote"
        assert app.book.orders["rw-1"].status is OrderStatus.RUNNING


async def test_read_only_has_no_write_binding_palette_entry_help_row_or_button() -> None:
    for read_only in (False, True):  # the same checks find every write action in a normal dashboard
        stack = holding_stack()
        app = CheckoutApp(stack, read_only=read_only)
        async with app.run_test(size=(150, 40)) as pilot:
            await started(pilot, app)
            await in_hold(pilot, app, "ro-1")
            app.show_order("ro-1")
            await wait_until(pilot, lambda app=app: app.selected_order == "ro-1")
            active = {active.binding.action for active in app.active_bindings.values()}
            palette = {action_name(command.callback) for command in palette_commands(app)}
            help_rows = {binding_id for _, _, _, binding_id in app.key_help()}
            if not read_only:
                assert set(WRITE_BINDINGS) <= active
                assert palette >= WRITE_ACTIONS
                assert set(WRITE_BINDINGS) <= help_rows
                assert app.services_panel.query("#change-stock")
                assert app.faults_panel.query("#presets")
                continue
            assert not active & WRITE_ACTIONS, active & WRITE_ACTIONS
            assert not palette & WRITE_ACTIONS, palette & WRITE_ACTIONS
            assert not help_rows & set(WRITE_BINDINGS), help_rows
            assert {"export", "run_audit", "filter", "cycle_sort", "cycle_status_filter"} <= active
            assert {"export", "run_audit", "show_tab"} <= palette
            assert app.status_line.plain.startswith("read-only")
            assert not app.services_panel.query("#change-stock")
            assert app.services_panel.query_one("#run-audit", Button)
            assert not app.faults_panel.query("#presets") and not app.faults_panel.query("#reset-faults")
            fields = [*app.faults_panel.query(Input), *app.faults_panel.query(Checkbox)]
            assert fields and all(field.disabled for field in fields)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert not {row[3] for row in app.screen.keys} & set(WRITE_BINDINGS)


async def test_read_only_write_keys_do_nothing_and_reads_still_work() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "ro-2")
        app.show_order("ro-2")
        await wait_until(pilot, lambda: app.selected_order == "ro-2")
        stack.facade.calls.clear()
        await pilot.press("n")
        assert app.screen is app.screen_stack[0], "n opened no form"
        for key in WRITE_BINDINGS.values():
            await pilot.press(key)
            await pilot.pause(0.05)
            assert len(app.screen_stack) == 1, f"{key} opened {app.screen}"
        await pilot.pause(0.3)
        assert writes_of(stack.facade) == []
        assert app.book.orders["ro-2"].status is OrderStatus.RUNNING
        await pilot.press("a")
        await wait_until(pilot, lambda: "audit" in stack.facade.calls, what="the audit ran")
        await pilot.press("s", "t", "v", "f", "d")
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)


async def test_read_only_methods_refuse_a_call_or_a_message_that_slips_through() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "ro-3")
        app.show_order("ro-3")
        await wait_until(pilot, lambda: app.selected_order == "ro-3")
        faults_before, stock_before = dict(stack.facade._faults), dict(stack.facade.stock)
        stack.facade.calls.clear()
        notices = len(app.notices)
        for action in sorted(WRITE_ACTIONS):
            if action == "apply_preset":
                app.apply_preset("flaky payments")
            else:
                getattr(app, f"action_{action}")()
        app.post_message(FaultChanged(ServiceName.PAYMENT, FaultSettings(down=True)))
        app.post_message(PresetChosen("flaky payments"))
        app.post_message(ResetRequested())
        app.post_message(StockRequested())
        app._cancel_many(["ro-3"])
        with pytest.raises(ReadOnlyRefused):
            await app.submit(an_order("ro-4"))
        await pilot.pause(0.5)
        assert len(app.screen_stack) == 1
        assert writes_of(stack.facade) == []
        assert stack.facade._faults == faults_before and stack.facade.stock == stock_before
        assert app.book.orders["ro-3"].status is OrderStatus.RUNNING
        refused = [message for _, _, message in list(app.notices)[notices:]]
        assert refused and all(message == READ_ONLY_LINE for message in refused)


async def test_dashboard_read_only_in_the_config_is_the_same_mode() -> None:
    app = CheckoutApp(holding_stack(read_only=True))
    async with app.run_test() as pilot:
        await started(pilot, app)
        assert app.read_only and app.status_line.plain.startswith("read-only")
        await pilot.press("n")
        assert len(app.screen_stack) == 1


# --- typed confirmations, the live count, grouped refusals ---------------------------------------


async def test_a_bulk_cancel_of_more_than_10_orders_asks_to_type_cancel() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        orders = [f"many-{n}" for n in range(12)]
        await in_hold(pilot, app, *orders)
        await pilot.press("C")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.expected == "cancel"
        assert "12 orders in flight match now" in live_line(dialog)
        assert dialog.focused is dialog.query_one("#typed", Input) and not dialog.possible
        await pilot.click("#confirm")
        await pilot.press("enter")
        assert app.screen is dialog, "nothing typed: nothing confirmed"
        await pilot.press(*"cancel")
        assert dialog.possible
        await pilot.press("enter")
        await wait_until(pilot, lambda: all(app.book.is_terminal(o) for o in orders), what="all cancelled")
        await wait_until(
            pilot, lambda: bool(app.notices) and "12 cancels: 12 accepted, 0 refused" in app.notices[-1][2]
        )


async def test_the_bulk_cancel_confirmation_counts_live_as_orders_start_and_end() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "live-0", "live-1", "live-2", "other-1")
        await pilot.press("slash", *"live", "enter")
        await wait_until(pilot, lambda: app.orders_table.row_count == 3)
        await pilot.press("C")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "3 orders in flight match now" in live_line(dialog) and dialog.expected is None
        await in_hold(pilot, app, *(f"live-{n}" for n in range(3, 12)))
        await wait_until(pilot, lambda: "12 orders in flight match now" in live_line(dialog), what="count up")
        assert dialog.expected == "cancel" and not dialog.possible, "past 10: typing is asked"
        for order_id in ("live-0", "live-1"):
            await stack.facade.terminate(order_id, "ended elsewhere")
        await wait_until(pilot, lambda: "10 orders in flight match now" in live_line(dialog), what="count down")
        assert dialog.expected is None and dialog.possible
        await pilot.press("y")
        await wait_until(
            pilot, lambda: bool(app.notices) and "10 cancels: 10 accepted, 0 refused" in app.notices[-1][2]
        )
        assert not app.book.is_terminal("other-1")
        assert "cancel other-1" not in stack.facade.calls


async def test_the_bulk_cancel_result_groups_refusals_by_reason() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack)
    # The reasons as the workflow and the client give them (engine/workflows.py, engine/operations.py).
    answers = {
        "ship-1": "already shipping: too late to cancel",
        "ship-2": "already shipping: too late to cancel",
        "ship-3": "already shipping: too late to cancel",
        "done-1": "order is already completed",
        "done-2": "order has already finished",
    }
    cancel = stack.facade.cancel

    async def scripted(order_id: str) -> CancelResult:
        if order_id in answers:
            return CancelResult(accepted=False, reason=answers[order_id])
        return await cancel(order_id)

    stack.facade.cancel = scripted  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, *answers, "fine-1")
        await pilot.press("C", "y")
        await wait_until(pilot, lambda: bool(app.notices) and "cancels" in app.notices[-1][2], what="the result")
        assert app.notices[-1][2] == "6 cancels: 1 accepted, 5 refused (3 already shipping, 2 ended)"


def test_refusal_kinds_of_the_engine_s_reasons() -> None:
    assert refusal_kind("already shipping: too late to cancel") == "already shipping"
    assert refusal_kind("order is already compensated") == "ended"
    assert refusal_kind("order has already finished") == "ended"
    assert refusal_kind("order has not started") == "not started"
    assert refusal_kind("something\nnew") == "something new"


# --- quitting with orders in flight -------------------------------------------------------------


async def test_quitting_with_orders_in_flight_says_how_many_and_asks_once() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "q-1", "q-2")
        await pilot.press("q")
        dialog = app.screen
        assert isinstance(dialog, QuitScreen) and dialog.title_text == "Quit with 2 orders in flight?"
        assert "they wait for the next worker on task queue ORDER_QUEUE" in dialog.body
        await pilot.press("escape")
        assert not isinstance(app.screen, QuitScreen) and app.return_code is None and not stack.stopped
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("q")  # asked once: q again quits
        await wait_until(pilot, lambda: app.return_code is not None, what="quit")
    assert app.return_code == 0 and stack.stopped


async def test_ctrl_q_in_the_quit_question_quits() -> None:
    stack = holding_stack()
    app = CheckoutApp(stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "cq-1")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen) and app.screen.title_text == "Quit with 1 order in flight?"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None, what="quit")
    assert stack.stopped


async def test_an_attached_dashboard_says_its_orders_go_on() -> None:
    settings = fake_settings(saga={"hold_seconds": 60})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01), runs_worker=False)
    app = CheckoutApp(stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await in_hold(pilot, app, "att-1")
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        assert app.screen.body == "This dashboard runs no worker: it goes on in the cluster's workers."
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: app.return_code is not None, what="quit")


async def test_quit_asks_nothing_when_confirm_quit_is_off_or_for_a_signal() -> None:
    for confirm_quit in (False, True):
        stack = holding_stack(confirm_quit=confirm_quit)
        app = CheckoutApp(stack)
        async with app.run_test() as pilot:
            await started(pilot, app)
            await in_hold(pilot, app, "sig-1")
            if confirm_quit:
                await app.quit_now()  # what SIGTERM and a hang-up call (tui/entry.py)
            else:
                await pilot.press("q")
            await wait_until(pilot, lambda app=app: app.return_code is not None, what="quit without asking")
            assert not isinstance(app.screen, QuitScreen)
        assert stack.stopped
