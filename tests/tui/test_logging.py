"""While the dashboard owns the terminal, log records go to a file, never to stderr."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tui.entry import logging_to


def test_records_go_to_the_file_and_the_handlers_come_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    path = tmp_path / "logs" / "dashboard.log"
    with logging_to(path):
        logging.getLogger("temporalio.core").warning("core says hello")
    assert root.handlers == before
    assert "WARNING temporalio.core: core says hello" in path.read_text()
    assert "core says hello" not in capsys.readouterr().err


def test_an_expected_injected_fault_is_one_line_and_the_unexpected_keep_their_traceback(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.log"
    log = logging.getLogger("temporalio.activity")
    with logging_to(path):
        try:
            raise ApplicationError("payment: card declined (injected decline)", type="card_declined")
        except ApplicationError:
            log.warning("Completing activity as failed (%s)", "charge_payment", exc_info=True)
        try:
            raise KeyError("surprise")
        except KeyError:
            log.warning("Completing activity as failed (%s)", "ship_order", exc_info=True)
    lines = path.read_text().splitlines()
    declined = [line for line in lines if "charge_payment" in line]
    assert len(declined) == 1
    assert declined[0].endswith("(charge_payment): card_declined: payment: card declined (injected decline)")
    assert lines.count("Traceback (most recent call last):") == 1, "the KeyError keeps its traceback"
