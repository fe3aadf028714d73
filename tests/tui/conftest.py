"""Dashboard fixtures: a fake stack over the in-memory facade."""

from __future__ import annotations

import pytest
from textual.events import Mount
from textual.widgets import Input

from tests.support.dashboard import fake_settings
from tests.support.fake_facade import FakeFacade, FakeStack


@pytest.fixture
def fake_stack() -> FakeStack:
    settings = fake_settings()
    return FakeStack(settings, FakeFacade(settings, step_seconds=0.01))


@pytest.fixture
def steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors that do not blink, for snapshots: a blinking one is drawn or not depending
    on how long the machine took to reach the capture (0.5 s a phase)."""
    mount = Input._on_mount

    def mount_steady(self: Input, event: Mount) -> None:
        mount(self, event)
        self.cursor_blink = False  # pauses the blink timer and leaves the cursor drawn

    monkeypatch.setattr(Input, "_on_mount", mount_steady)
