"""A FUSE filesystem that loses un-fsynced writes at a power cut, the way Jepsen's LazyFS does.

    async with LazyFs(backing_dir, mountpoint) as disk:
        ...                                # servers keep their data under `mountpoint`
        await disk.lose_unsynced_writes()  # after SIGKILLing every process that uses it

The model (a disk with a volatile write cache, every unsynced write lost, none torn):

- *Data.* Reads and writes pass through to the backing directory at once, but for each
  file (inode) the daemon remembers what changed since that file's last `fsync` or
  `fdatasync`: the size it had then (its *synced size*), and an undo log holding the
  original bytes of each 4 KiB page of the synced region that a write or a truncation
  has touched since. A file nobody touched since the mount is synced as a whole.
- *A power cut* (`lose_unsynced_writes`): the caller has SIGKILLed every process of the
  stack first. The daemon writes each undo page back and truncates each file to its
  synced size; from then on it refuses every change (the machine is off: dirty pages the
  kernel writes back late never land). The mount is then dropped (`fusermount3 -u`) and
  mounted again by a fresh daemon, as after a reboot: no kernel page cache survives.
- *Directory operations* are ext4-like (data=ordered, auto_da_alloc): create, mkdir,
  rename, unlink, rmdir, link, symlink, chmod and utimens are durable at once and in
  order (a journalled filesystem commits metadata, in order, within seconds), but data is
  not: a new file survives a cut, empty unless its data was fsynced. A rename that
  replaces an existing file first makes the source's data durable (ext4's auto_da_alloc,
  which makes write-temp-then-rename safe without fsync); a rename onto a free name does
  not. `fsyncdir` is therefore a no-op. A truncation is data, undone by a cut like a write.
  A file unlinked while open lives on as libfuse's `.fuse_hidden*` until closed; one a cut
  left behind is removed at the next mount, as a journalled filesystem drops orphans.
- `fsync` is not passed on to the backing file: this is a model of the disk, and the
  backing directory is its platter.

POSIX locks are not implemented here, so the kernel keeps them locally, which is right
for one machine; shared writable `mmap` (SQLite's `-shm`) goes through the page cache and
reaches the daemon as writes, so it is modelled like any other write.

On it, SQLite in WAL mode loses the commits made with `synchronous=normal` since the last
checkpoint and keeps every `synchronous=full` one; nats-server on its default
`sync_interval` loses acknowledged writes, whole streams even (their `meta.inf` never
fsynced), and on `sync_interval: always` loses none (tests/integration/test_lazyfs.py).

The daemon is this file run as a program (`python lazyfs.py BACKING MOUNTPOINT SOCKET`); the
FUSE loop blocks, so a control thread answers `ping` and `cut` on a Unix socket. It gets a
SIGTERM when its parent dies, and libfuse then unmounts. `LazyFs` starts it, waits until
it is mounted, cuts, unmounts, remounts, and removes every process and mount it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import errno
import functools
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

PAGE = 4096
MOUNT_TIMEOUT_SECONDS = 20.0
UNMOUNT_TIMEOUT_SECONDS = 20.0


def unavailable() -> str:
    """Why FUSE mounts cannot be made here, or '' when they can."""
    if not Path("/dev/fuse").exists():
        return "no /dev/fuse"
    if shutil.which("fusermount3") is None:
        return "no fusermount3 (Debian package fuse3)"
    if ctypes.util.find_library("fuse3") is None:
        return "no libfuse3 (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401
    except ImportError as error:
        return f"the FUSE binding does not load: {error}"
    except OSError as error:
        return f"the FUSE binding does not load: {error}"
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not usable by this user"
    return ""


# --- the controller (in the test's process) ------------------------------------------------


class LazyFs:
    """A lazy mount of `backing` at `mountpoint`, run by a daemon process of its own."""

    def __init__(self, backing: Path, mountpoint: Path, log_path: Path | None = None) -> None:
        self.backing, self.mountpoint = backing, mountpoint
        self.control = Path(f"/tmp/lazyfs-{os.getpid()}-{id(self):x}.sock")  # short: AF_UNIX paths are limited
        self.log_path = log_path or backing.with_name(backing.name + "-lazyfs.log")
        self.cuts = 0
        self.lost_files = 0  # how many files a cut rolled back, in all
        self.daemon_pids: list[int] = []  # every daemon it started, to check that none is left
        self._daemon: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.mountpoint

    async def __aenter__(self) -> LazyFs:
        await self.mount()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.unmount()

    async def mount(self) -> None:
        """Start the daemon and wait until the mount answers; on failure nothing is left."""
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        try:
            await self._mount()
        except BaseException:
            await self.unmount()
            raise

    async def lose_unsynced_writes(self) -> None:
        """The power cut: roll back what was not fsynced, drop the mount, mount again."""
        answer = await asyncio.to_thread(self._ask, "cut", 60.0)
        self.cuts += 1
        self.lost_files += int(answer.split()[1])
        await self.unmount()
        await self.mount()

    async def unmount(self) -> None:
        """Unmount and reap the daemon; safe to call when nothing is mounted."""
        await asyncio.to_thread(self._unmount)

    def mounted(self) -> bool:
        """Whether the kernel has a mount at `mountpoint`, even one whose daemon died."""
        target = os.path.realpath(self.mountpoint)
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1] == target for line in mounts if len(line.split()) > 1)

    async def _mount(self) -> None:
        self.control.unlink(missing_ok=True)
        self._log = self.log_path.open("ab")
        # Popen in the event loop's thread: the parent-death signal follows the forking thread.
        self._daemon = subprocess.Popen(
            [sys.executable, __file__, str(self.backing), str(self.mountpoint), str(self.control)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
        self.daemon_pids.append(self._daemon.pid)
        deadline = time.monotonic() + MOUNT_TIMEOUT_SECONDS
        while True:
            if self._daemon.poll() is not None:
                raise RuntimeError(f"lazyfs exited with {self._daemon.returncode}; see {self.log_path}")
            if self.mounted():
                try:
                    if self._ask("ping", 1.0) == "pong":
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"lazyfs did not mount {self.mountpoint} in {MOUNT_TIMEOUT_SECONDS:g} s")
            await asyncio.sleep(0.02)

    def _unmount(self) -> None:
        deadline = time.monotonic() + UNMOUNT_TIMEOUT_SECONDS
        while self.mounted():
            # Busy while the kernel still releases the files of processes just killed.
            lazy = ["-z"] if time.monotonic() > deadline else []
            result = subprocess.run(["fusermount3", "-u", *lazy, str(self.mountpoint)], capture_output=True)
            if result.returncode == 0 or lazy:
                break
            time.sleep(0.1)
        daemon, self._daemon = self._daemon, None
        if daemon is not None:
            try:
                daemon.wait(5)  # its FUSE loop ends with the mount
            except subprocess.TimeoutExpired:  # it never mounted
                daemon.terminate()
                try:
                    daemon.wait(5)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
        self.control.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _ask(self, command: str, timeout: float) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.control))
            sock.sendall(command.encode() + b"\n")
            return sock.makefile().readline().strip()


def _die_with_parent(parent_pid: int) -> None:
    """In the daemon before exec: SIGTERM when the parent dies, so libfuse unmounts."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


# --- the daemon (its own process) ----------------------------------------------------------


class _Unsynced:
    """What one file got since its last fsync: its size then, and the original bytes of touched pages."""

    def __init__(self, fd: int) -> None:
        self.fd = fd  # our own descriptor, so the file can be rolled back whatever its name
        self.synced_size = os.fstat(fd).st_size
        self.original: dict[int, bytes] = {}

    def before_change(self, start: int, end: int) -> None:
        """Keep the original bytes of every synced page in [start, end) not kept yet."""
        end = min(end, self.synced_size)
        for page in range(start // PAGE, -(-end // PAGE)):
            if page not in self.original:
                offset = page * PAGE
                self.original[page] = os.pread(self.fd, min(PAGE, self.synced_size - offset), offset)

    def roll_back(self) -> None:
        for page, data in self.original.items():
            os.pwrite(self.fd, data, page * PAGE)
        os.ftruncate(self.fd, self.synced_size)
        os.close(self.fd)


def _operations_class() -> type:
    import mfusepy

    class LazyOperations(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def __init__(self, root: str) -> None:
            self.root = root
            self.mutex = threading.Lock()
            self.unsynced: dict[int, _Unsynced] = {}  # by inode
            self.inode_of: dict[int, int] = {}  # open handle -> inode
            self.appending: set[int] = set()
            self.powered = True

        def full(self, path: str) -> str:
            return self.root + path

        def _check_power(self) -> None:
            if not self.powered:
                raise mfusepy.FuseOSError(errno.EIO)

        def _tracked(self, inode: int, fd: int) -> _Unsynced:
            entry = self.unsynced.get(inode)
            if entry is None:
                entry = self.unsynced[inode] = _Unsynced(os.open(f"/proc/self/fd/{fd}", os.O_RDWR))
            return entry

        def _forget(self, inode: int) -> None:
            entry = self.unsynced.pop(inode, None)
            if entry is not None:
                os.close(entry.fd)

        def cut(self) -> int:
            with self.mutex:
                self.powered = False
                entries = list(self.unsynced.values())
                self.unsynced.clear()
                for entry in entries:
                    entry.roll_back()
                return len(entries)

        # files

        def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
            st = os.fstat(fh) if fh is not None else os.lstat(self.full(path or "/"))
            keys = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks", "st_blksize")
            attrs: dict[str, Any] = {key: getattr(st, key) for key in keys}
            attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
            return attrs

        def _opened(self, fd: int, flags: int) -> int:
            self.inode_of[fd] = os.fstat(fd).st_ino
            if flags & os.O_APPEND:
                self.appending.add(fd)
            return fd

        def open(self, path: str, flags: int) -> int:
            with self.mutex:
                if flags & (os.O_TRUNC | os.O_WRONLY | os.O_RDWR):
                    self._check_power()
                if flags & os.O_TRUNC:
                    fd = os.open(self.full(path), flags & ~os.O_TRUNC)
                    self._truncate(fd, 0)
                else:
                    fd = os.open(self.full(path), flags)
                return self._opened(fd, flags)

        def create(self, path: str, mode: int, flags: int = os.O_RDWR) -> int:
            flags |= os.O_CREAT
            with self.mutex:
                self._check_power()
                existed = os.path.lexists(self.full(path))
                fd = os.open(self.full(path), flags & ~os.O_TRUNC, mode)
                if existed and flags & os.O_TRUNC:
                    self._truncate(fd, 0)
                return self._opened(fd, flags)

        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            return os.pread(fh, size, offset)

        def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
            with self.mutex:
                self._check_power()
                if fh in self.appending:
                    offset = os.fstat(fh).st_size
                self._tracked(self.inode_of[fh], fh).before_change(offset, offset + len(data))
                return os.pwrite(fh, data, offset)

        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            with self.mutex:
                self._check_power()
                if fh is not None:
                    self._truncate(fh, length)
                    return 0
                fd = os.open(self.full(path or "/"), os.O_RDWR)
                try:
                    self._truncate(fd, length)
                finally:
                    os.close(fd)
                return 0

        def _truncate(self, fd: int, length: int) -> None:
            entry = self._tracked(os.fstat(fd).st_ino, fd)
            entry.before_change(length, entry.synced_size)
            os.ftruncate(fd, length)

        def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
            if mode != 0:  # only plain preallocation, which changes no byte of the synced region
                raise mfusepy.FuseOSError(errno.EOPNOTSUPP)
            with self.mutex:
                self._check_power()
                self._tracked(self.inode_of[fh], fh)
                os.posix_fallocate(fh, offset, size)
                return 0

        def fsync(self, path: str | None, datasync: int, fh: int) -> int:
            with self.mutex:
                self._check_power()
                self._forget(self.inode_of[fh])
                return 0

        def flush(self, path: str | None, fh: int) -> int:
            return 0

        def release(self, path: str | None, fh: int) -> int:
            with self.mutex:
                self.inode_of.pop(fh, None)
                self.appending.discard(fh)
                os.close(fh)
                return 0

        # directories and metadata: durable at once

        def opendir(self, path: str) -> int:
            return os.open(self.full(path), os.O_RDONLY | os.O_DIRECTORY)

        def readdir(self, path: str | None, fh: int) -> list[str]:
            os.lseek(fh, 0, os.SEEK_SET)
            return [".", "..", *os.listdir(fh)]

        def releasedir(self, path: str | None, fh: int) -> int:
            os.close(fh)
            return 0

        def mkdir(self, path: str, mode: int) -> int:
            with self.mutex:
                self._check_power()
                os.mkdir(self.full(path), mode)
                return 0

        def rmdir(self, path: str) -> int:
            with self.mutex:
                self._check_power()
                os.rmdir(self.full(path))
                return 0

        def unlink(self, path: str) -> int:
            with self.mutex:
                self._check_power()
                st = os.lstat(self.full(path))
                os.unlink(self.full(path))
                if st.st_nlink == 1:
                    self._forget(st.st_ino)
                return 0

        def rename(self, old: str, new: str) -> int:
            with self.mutex:
                self._check_power()
                try:
                    replaced = os.lstat(self.full(new))
                except FileNotFoundError:
                    replaced = None
                if replaced is not None and stat.S_ISREG(replaced.st_mode):
                    self._forget(os.lstat(self.full(old)).st_ino)  # auto_da_alloc: the new data first
                    if replaced.st_nlink == 1:
                        self._forget(replaced.st_ino)
                os.rename(self.full(old), self.full(new))
                return 0

        def link(self, target: str, source: str) -> int:
            with self.mutex:
                self._check_power()
                os.link(self.full(source), self.full(target))
                return 0

        def symlink(self, target: str, source: str) -> int:
            with self.mutex:
                self._check_power()
                os.symlink(source, self.full(target))
                return 0

        def readlink(self, path: str) -> str:
            return os.readlink(self.full(path))

        def chmod(self, path: str | None, mode: int) -> int:
            with self.mutex:
                self._check_power()
                os.chmod(self.full(path or "/"), mode)
                return 0

        def chown(self, path: str | None, uid: int, gid: int) -> int:
            with self.mutex:
                self._check_power()
                os.chown(self.full(path or "/"), uid, gid)
                return 0

        def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
            with self.mutex:
                self._check_power()
                if times is None:
                    os.utime(self.full(path or "/"))
                else:
                    os.utime(self.full(path or "/"), ns=times)
                return 0

        def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
            return 0

        def access(self, path: str, amode: int) -> int:
            if not os.access(self.full(path), amode):
                raise mfusepy.FuseOSError(errno.EACCES)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(self.full(path))
            keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_frsize")
            return {key: getattr(st, key) for key in keys} | {"f_namemax": st.f_namemax}

    return LazyOperations


def _serve_control(path: str, operations: Any) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    while True:
        connection, _ = server.accept()
        with connection:
            command = connection.makefile().readline().strip()
            if command == "ping":
                answer = "pong"
            elif command == "cut":
                answer = f"cut {operations.cut()}"
            else:
                answer = f"unknown command {command!r}"
            connection.sendall(answer.encode() + b"\n")


def _remove_orphans(backing: str) -> None:
    """Files unlinked while open, which libfuse keeps as .fuse_hidden* until closed, and a cut left
    behind: a journalled filesystem drops such orphans when it mounts after a crash; so do we."""
    for directory, _, names in os.walk(backing):
        for name in names:
            if name.startswith(".fuse_hidden"):
                os.unlink(os.path.join(directory, name))


def main(argv: list[str]) -> int:
    import mfusepy

    backing, mountpoint, control = argv
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _remove_orphans(backing)
    operations = _operations_class()(os.path.realpath(backing))
    threading.Thread(target=_serve_control, args=(control, operations), daemon=True).start()
    try:
        mfusepy.FUSE(operations, mountpoint, foreground=True, fsname="lazyfs")
    finally:  # also when a dying parent's SIGTERM ended the loop
        with contextlib.suppress(FileNotFoundError):
            os.unlink(control)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
