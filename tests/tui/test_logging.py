"""While the dashboard owns the terminal, log records go to a file, never to stderr."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

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
