"""The filesystem that loses un-fsynced writes (tests/support/lazyfs.py), tested directly."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from nats.js.errors import BucketNotFoundError

from engine.binaries import find_binary
from engine.runtime import free_port
from tests.support.lazyfs import PAGE, LazyFs
from tests.support.servers import wait_for_port

pytestmark = pytest.mark.integration


def _write(path: Path, data: bytes, offset: int = 0, *, sync: bool) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _synced(path: Path, data: bytes) -> None:
    _write(path, data, sync=True)


async def test_fsynced_writes_survive_a_cut(lazy_disk: LazyFs) -> None:
    path = lazy_disk.data_dir / "kept"
    _write(path, b"a" * 10_000, sync=True)
    fd = os.open(path, os.O_RDWR)
    os.pwrite(fd, b"b" * 100, 5000)
    os.fdatasync(fd)
    os.close(fd)
    await lazy_disk.lose_unsynced_writes()
    assert path.read_bytes() == b"a" * 5000 + b"b" * 100 + b"a" * 4900


async def test_unsynced_writes_are_lost_old_bytes_and_size_back(lazy_disk: LazyFs) -> None:
    path = lazy_disk.data_dir / "file"
    original = bytes(range(256)) * 40  # 10240 bytes: two full pages and part of a third
    _synced(path, original)
    _write(path, b"X" * 10, PAGE - 5, sync=False)  # across a page boundary
    _write(path, b"Y" * 3, 10_000, sync=False)  # inside the last, partial page
    _write(path, b"Z" * 5000, len(original), sync=False)  # appended
    assert path.stat().st_size == len(original) + 5000
    await lazy_disk.lose_unsynced_writes()
    assert path.read_bytes() == original
    assert lazy_disk.cuts == 1 and lazy_disk.lost_files == 1


async def test_a_truncation_is_undone_like_a_write(lazy_disk: LazyFs) -> None:
    path = lazy_disk.data_dir / "shrunk"
    _synced(path, b"q" * (3 * PAGE + 7))
    os.truncate(path, 100)
    _write(path, b"r" * PAGE, 50, sync=False)
    await lazy_disk.lose_unsynced_writes()
    assert path.read_bytes() == b"q" * (3 * PAGE + 7)


async def test_a_new_file_survives_empty_unless_fsynced(lazy_disk: LazyFs) -> None:
    root = lazy_disk.data_dir
    (root / "lost").write_bytes(b"never synced")
    _synced(root / "kept", b"synced")
    await lazy_disk.lose_unsynced_writes()
    assert (root / "lost").read_bytes() == b""
    assert (root / "kept").read_bytes() == b"synced"


async def test_directory_operations_are_durable_at_once(lazy_disk: LazyFs) -> None:
    root = lazy_disk.data_dir
    _synced(root / "gone", b"1")
    _synced(root / "moved", b"2")
    (root / "made" / "deeper").mkdir(parents=True)
    (root / "gone").unlink()
    (root / "moved").rename(root / "made" / "here")
    await lazy_disk.lose_unsynced_writes()
    assert sorted(p.name for p in root.iterdir()) == ["made"]
    assert (root / "made" / "deeper").is_dir()
    assert (root / "made" / "here").read_bytes() == b"2"


async def test_a_rename_over_a_file_makes_the_new_data_durable_first(lazy_disk: LazyFs) -> None:
    root = lazy_disk.data_dir
    _synced(root / "config", b"old")
    (root / "config.tmp").write_bytes(b"new, not fsynced")
    (root / "config.tmp").rename(root / "config")  # write-temp-then-rename (ext4 auto_da_alloc)
    (root / "plain.tmp").write_bytes(b"not fsynced either")
    (root / "plain.tmp").rename(root / "plain")  # no file replaced: the data stays unsynced
    await lazy_disk.lose_unsynced_writes()
    assert (root / "config").read_bytes() == b"new, not fsynced"
    assert not (root / "config.tmp").exists()
    assert (root / "plain").read_bytes() == b""


_SQLITE_CHILD = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma journal_mode=wal")
db.execute("pragma synchronous=" + sys.argv[2])
db.execute("create table if not exists t (x)")
db.execute("insert into t values (?)", (sys.argv[3],))
print(",".join(row[0] for row in db.execute("select x from t")), flush=True)
os._exit(0)  # killed, as at a power cut: no checkpoint, no close
"""


def _sqlite_commit(path: Path, synchronous: str, value: str) -> str:
    """Commit `value` in a process that then dies; what it read back after the commit."""
    argv = [sys.executable, "-c", _SQLITE_CHILD, str(path), synchronous, value]
    return subprocess.run(argv, check=True, timeout=30, capture_output=True, text=True).stdout.strip()


async def test_sqlite_in_wal_mode_keeps_full_commits_and_loses_normal_ones(lazy_disk: LazyFs) -> None:
    """The Temporal server's store on this mount: locks and the -shm mmap work; what a cut loses
    is exactly what sqlite.org says: synchronous=normal commits can roll back, full ones cannot."""
    path = lazy_disk.data_dir / "store.db"
    assert _sqlite_commit(path, "full", "durable") == "durable"
    assert _sqlite_commit(path, "normal", "acknowledged") == "durable,acknowledged"
    await lazy_disk.lose_unsynced_writes()
    db = sqlite3.connect(path)
    try:
        assert [row[0] for row in db.execute("select x from t")] == ["durable"]
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    finally:
        db.close()


async def _jetstream_keys_after_a_cut(disk: LazyFs, config_dir: Path, sync_always: bool) -> int | None:
    """Put 20 keys in a KV bucket, SIGKILL nats-server, cut; how many keys it has after (None: no bucket)."""
    port = free_port()
    config = config_dir / "nats.conf"
    sync = "sync_interval: always" if sync_always else ""
    config.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{\n store_dir: "{disk.data_dir}/js-{port}"\n {sync}\n}}\n'
    )
    argv = [str(find_binary("nats-server")), "-c", str(config)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process=server)
        connection = await nats.connect(f"nats://127.0.0.1:{port}")
        bucket = await connection.jetstream().create_key_value(bucket="kept")
        for index in range(20):
            await bucket.put(f"key-{index}", b"acknowledged")
        await connection.close()
        server.kill()
        server.wait()
        await disk.lose_unsynced_writes()
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, process=server)
        connection = await nats.connect(f"nats://127.0.0.1:{port}")
        try:
            bucket = await connection.jetstream().key_value("kept")
            return len(await bucket.keys())
        except BucketNotFoundError:
            return None
        finally:
            await connection.close()
    finally:
        server.kill()
        server.wait()


async def test_jetstream_keeps_acknowledged_writes_only_with_sync_always(lazy_disk: LazyFs, tmp_path: Path) -> None:
    """The guard that the disk loses what it should: on nats-server's default sync_interval a cut
    loses acknowledged writes (here the whole bucket, its metadata never fsynced); on always, none."""
    assert await _jetstream_keys_after_a_cut(lazy_disk, tmp_path, sync_always=True) == 20
    assert await _jetstream_keys_after_a_cut(lazy_disk, tmp_path, sync_always=False) is None
