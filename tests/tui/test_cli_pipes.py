"""`checkout ... | head -1`: a reader that stops early ends the command quietly, as `ls | head` does.

The real command runs in a subprocess (tests/support/fake_cli.py, over the in-memory facade)
with its stdout on a real pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# 5000 orders: more than a pipe's buffer and what head reads at once (64 KiB and a few KiB), else
# the whole listing is written before head goes, and no writer would see a closed pipe (ls neither).
def listing(count: int) -> list[str]:
    return [sys.executable, "-m", "tests.support.fake_cli", str(count), "orders", "--limit", str(count)]


@pytest.mark.parametrize("extra", [["--json"], []], ids=["json", "text"])
def test_a_listing_piped_into_head_ends_quietly(extra: list[str]) -> None:
    command = " ".join([*listing(5000), *extra])
    shell = f'{command} 2>"$ERR" | head -1; echo "exit ${{PIPESTATUS[0]}}"'
    err = ROOT / ".pytest-pipe-stderr"
    try:
        done = subprocess.run(
            ["bash", "-c", shell], cwd=ROOT, env={**os.environ, "ERR": str(err)}, capture_output=True, text=True
        )
        stderr = err.read_text()
    finally:
        err.unlink(missing_ok=True)
    first, status = done.stdout.splitlines()
    assert first == "[" if extra else first.split()[:2] == ["order", "customer"], first
    assert stderr == "", "nothing on stderr, as `ls | head` says nothing"
    assert status == f"exit {128 + signal.SIGPIPE}", "the exit status a shell reports for `ls` there"


@pytest.mark.parametrize("extra", [["--json"], []], ids=["json", "text"])
def test_a_reader_that_closed_before_the_first_line(extra: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # every write fails at once: the race with head's reading is gone
    try:
        done = subprocess.run([*listing(100), *extra], cwd=ROOT, stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 128 + signal.SIGPIPE


def test_the_listing_itself_is_whole_when_nobody_stops_reading() -> None:
    done = subprocess.run(listing(3), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "3 order(s)"
