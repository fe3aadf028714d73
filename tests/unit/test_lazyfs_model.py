"""The power-cut disk's undo log (tests/support/lazyfs.py) on a plain file, without FUSE, and the
soak's refusal to cut the power without such a disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.chaos import SoakOptions, run_soak
from engine.errors import InvalidInput
from tests.support.lazyfs import PAGE, _Unsynced


def _tracked(path: Path) -> tuple[int, _Unsynced]:
    fd = os.open(path, os.O_RDWR)
    return fd, _Unsynced(os.open(path, os.O_RDWR))


def test_roll_back_restores_touched_pages_and_the_synced_size(tmp_path: Path) -> None:
    path = tmp_path / "file"
    original = os.urandom(2 * PAGE + 100)
    path.write_bytes(original)
    fd, unsynced = _tracked(path)
    for offset, data in ((10, b"a" * 5), (PAGE - 2, b"b" * 4), (2 * PAGE + 50, b"c" * 500)):
        unsynced.before_change(offset, offset + len(data))
        os.pwrite(fd, data, offset)
    assert sorted(unsynced.original) == [0, 1, 2]
    assert path.read_bytes() != original
    unsynced.roll_back()
    os.close(fd)
    assert path.read_bytes() == original


def test_only_the_first_touch_of_a_page_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"o" * PAGE)
    fd, unsynced = _tracked(path)
    for letter in (b"x", b"y"):
        unsynced.before_change(0, 1)
        os.pwrite(fd, letter, 0)
    unsynced.roll_back()
    os.close(fd)
    assert path.read_bytes() == b"o" * PAGE


def test_a_shrink_then_regrowth_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "file"
    original = os.urandom(3 * PAGE)
    path.write_bytes(original)
    fd, unsynced = _tracked(path)
    unsynced.before_change(PAGE // 2, unsynced.synced_size)
    os.ftruncate(fd, PAGE // 2)
    unsynced.before_change(PAGE, 5 * PAGE)
    os.pwrite(fd, b"z" * (4 * PAGE), PAGE)
    unsynced.roll_back()
    os.close(fd)
    assert path.read_bytes() == original


async def test_a_power_cut_soak_needs_a_disk() -> None:
    with pytest.raises(InvalidInput, match="disk"):
        await run_soak(SoakOptions(power_cuts=1), worker_command=["true"])
