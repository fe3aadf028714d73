"""The dashboard's key bindings. Every binding has an id, so `dashboard.keymap` in the config can
remap it (`App.set_keymap`), and a tooltip, shown in the footer and on the help screen."""

from __future__ import annotations

from textual.binding import Binding, BindingType

BINDINGS: list[BindingType] = [
    Binding("n", "new_order", "New", id="new_order", tooltip="Submit a new order (form)"),
    Binding("b", "bulk_submit", "Bulk", id="bulk_submit", tooltip="Submit N orders at R per second"),
    Binding("c", "cancel_order", "Cancel", id="cancel_order", tooltip="Cancel the selected order: it compensates"),
    Binding(
        "T",
        "terminate_order",
        "Terminate",
        id="terminate_order",
        show=False,
        tooltip="UNSAFE: stop the selected order without compensation",
    ),
    Binding(
        "R", "retry_order", "Retry", id="retry_order", show=False, tooltip="Submit the selected order again (new id)"
    ),
    Binding(
        "C",
        "cancel_matching",
        "Cancel shown",
        id="cancel_matching",
        show=False,
        tooltip="Cancel every order in flight the filter shows (asks first)",
    ),
    Binding("y", "copy_order_id", "Copy id", id="copy_order_id", show=False, tooltip="Copy the selected order's id"),
    Binding(
        "w", "open_web_ui", "Web UI", id="open_web_ui", show=False, tooltip="The selected order in the Temporal Web UI"
    ),
    Binding("e", "export", "Export", id="export", show=False, tooltip="The orders shown, to a CSV or JSON file"),
    Binding("k", "change_stock", "Stock", id="change_stock", show=False, tooltip="Set or add stock for a SKU"),
    Binding("a", "run_audit", "Audit", id="run_audit", show=False, tooltip="Check that no money or stock was lost"),
    Binding("slash", "filter", "Filter", id="filter", tooltip="Filter orders by id, customer, step"),
    Binding("t", "cycle_status_filter", "Status filter", id="status_filter", show=False, tooltip="Next status filter"),
    Binding("s", "cycle_sort", "Sort", id="sort", show=False, tooltip="Next sort order: newest, oldest, status, total"),
    Binding(
        "escape",
        "clear_filter",
        "Back",
        id="clear_filter",
        show=False,
        tooltip="Back to the table; there, clear the filters",
    ),
    Binding("d", "show_tab('detail')", "Detail", id="tab_detail", show=False, tooltip="Show the selected order"),
    Binding("f", "show_tab('faults')", "Faults", id="tab_faults", tooltip="Show and edit fault injection"),
    Binding("v", "show_tab('services')", "Services", id="tab_services", show=False, tooltip="Stock, ledger, requests"),
    Binding("l", "show_tab('log')", "Log", id="tab_log", show=False, tooltip="The tail of step events"),
    Binding("g", "show_tab('charts')", "Charts", id="tab_charts", show=False, tooltip="Orders and errors over time"),
    Binding(
        "G",
        "show_tab('scenarios')",
        "Scenarios",
        id="tab_scenarios",
        show=False,
        tooltip="Game days: scenario files, their plans, a run and its verdict",
    ),
    Binding(
        "S",
        "stop_scenario",
        "Stop scenario",
        id="stop_scenario",
        show=False,
        tooltip="Stop the scenario run: faults cleared, orders in flight end (asks first)",
    ),
    Binding("p", "pause_log", "Pause log", id="log_pause", show=False, tooltip="Log: stop or go on following"),
    Binding(
        "o",
        "log_only_selected",
        "Log: this order",
        id="log_only_selected",
        show=False,
        tooltip="Log: only the selected order's lines, or every order's again",
    ),
    Binding("r", "reset_faults", "Reset faults", id="reset_faults", show=False, tooltip="Clear every fault"),
    Binding("question_mark", "help", "Help", id="help", tooltip="Keys and panels"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit, stopping everything the dashboard started"),
]
