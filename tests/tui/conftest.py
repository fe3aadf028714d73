"""Dashboard fixtures: a fake stack over the in-memory facade."""

from __future__ import annotations

import pytest

from tests.support.dashboard import fake_settings
from tests.support.fake_facade import FakeFacade, FakeStack


@pytest.fixture
def fake_stack() -> FakeStack:
    settings = fake_settings()
    return FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
