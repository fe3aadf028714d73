"""Histories recorded by earlier versions of OrderWorkflow still replay with this one.

A running or finished order is replayed whenever a worker picks it up again or its state
is queried; a change that breaks replay would strand those orders. The histories were
exported with `temporal workflow show -o json` from orders run by the earlier code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from engine.workflows import OrderWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_earlier_histories_replay(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2
