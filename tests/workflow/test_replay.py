"""Histories recorded by earlier versions of OrderWorkflow still replay with this one.

A running or finished order is replayed whenever a worker picks it up again or its state
is queried; a change that breaks replay would strand those orders. The histories were
exported with `temporal workflow show -o json` from orders run by the earlier code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
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


def test_the_paused_path_is_among_the_histories() -> None:
    """Recorded on real servers under the pausable-steps patch: an order that waited before a paused
    charge (registered with the pause workflow, released by its signal), and one cancelled there."""
    for name in ("pausable_steps_paused", "pausable_steps_paused_cancelled"):
        history = WorkflowHistory.from_json(name, (Path(__file__).parent / "histories" / f"{name}.json").read_text())
        kinds = {EventType.Name(event.event_type) for event in history.events}
        assert "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in kinds, name
        patches = [
            payload.data
            for event in history.events
            if event.marker_recorded_event_attributes.marker_name == "core_patch"
            for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
        ]
        assert patches == [b'{"id":"pausable-steps","deprecated":false}'], (name, patches)
    released = WorkflowHistory.from_json("paused", (HISTORIES[0].parent / "pausable_steps_paused.json").read_text())
    assert any(event.workflow_execution_signaled_event_attributes.signal_name == "release" for event in released.events)


def test_the_true_outcome_paths_are_among_the_histories() -> None:
    """Recorded on real servers under the true-outcome patch, with the search attributes registered:
    every order upserts its CheckoutStatus at the end, and the ship that timed out on every attempt
    then a refund that found it shipped ends COMPLETED with the note in its memo."""
    histories = Path(__file__).parent / "histories"
    for path in sorted(histories.glob("true_outcome_*.json")):
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        patches = [
            payload.data
            for event in history.events
            if event.marker_recorded_event_attributes.marker_name == "core_patch"
            for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
        ]
        assert patches == [b'{"id":"true-outcome","deprecated":false}'], (path.stem, patches)
        upserted = [
            field
            for event in history.events
            for field in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        ]
        assert "CheckoutStatus" in upserted, path.stem
    found = WorkflowHistory.from_json("found", (histories / "true_outcome_found_shipped.json").read_text())
    memos = [
        event.workflow_properties_modified_event_attributes.upserted_memo.fields
        for event in found.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED
    ]
    assert memos[-1]["status"].data == b'"COMPLETED"' and memos[-1]["note"].data == b'"compensation found it shipped"'
    assert memos[0]["reason"].data == b'"retries_exhausted"' and memos[-1]["reason"].data == b""  # none: null
    assert found.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
