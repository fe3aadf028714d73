"""Embedded servers: start a local Temporal dev server and NATS when nothing answers, stop them on exit.

`EmbeddedServers(settings).start()` applies `settings.embedded.mode`:

- `auto`: for each server whose configured address is local and silent, start it
  (bound to that loopback address, on the configured port) and wait until it is
  ready; when something already answers, use it; a remote address starts nothing.
- `always`: start both; a taken port is a `ServerStartError`.
- `never`: start nothing.

Children never outlive this process: on Linux they get a parent-death signal, so
even a SIGKILLed parent takes them along. They run in their own process group, so
a terminal's Ctrl-C reaches only this process, which then stops them gracefully.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO

import nats
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from engine.binaries import find_binary
from engine.config import EmbeddedMode, Settings
from engine.errors import InvalidInput, ServerStartError
from engine.visibility import dev_server_arguments, register_search_attributes

# SQLite pragmas of the dev server. WAL is the win (measured with benchmarks/sqlite_pragmas.py,
# fresh server per run, medians of 8 rounds on a shared 2-vCPU VM with ext4, fsync ~0.5 ms):
#                                    300 concurrent starts   50 serial starts   200 wf+activity runs
#   file default (delete, full)           41/s                   38/s                 11/s
#   journal_mode=wal                      96/s  (2.3x)           78/s  (2.1x)         19/s  (1.7x)
#   wal + synchronous=normal             102/s  (2.5x)           74/s  (2.0x)         21/s  (1.9x)
#   wal + synchronous=off (unsafe)       121/s  (3.0x)          109/s  (2.9x)         25/s  (2.3x)
# In WAL mode synchronous=full fsyncs the WAL at every commit, so a commit that was answered
# survives a power cut; synchronous=normal fsyncs only at checkpoints: the file never
# corrupts, but a power cut or OS crash can roll back the last commits (embedded.durable).
SQLITE_PRAGMAS = {True: ("journal_mode=wal", "synchronous=full"), False: ("journal_mode=wal", "synchronous=normal")}
NATS_CONFIG_FILE = "nats.conf"

log = logging.getLogger(__name__)

BINARY = {"temporal": "temporal", "nats": "nats-server"}
POLL_SECONDS = 0.05
STOP_GRACE_SECONDS = 10.0


def is_local(host: str) -> bool:
    """Whether `host` (a hostname or IP, without port) names this machine's loopback."""
    host = host.strip().strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether a TCP connection to host:port succeeds within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _bind_address(host: str) -> str:
    """The address to bind a server to: a loopback IP literal as given, else 127.0.0.1."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "127.0.0.1"
    return str(address) if address.is_loopback else "127.0.0.1"


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In the child before exec: get SIGTERM when the parent (its forking thread) dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"


class _Server:
    """One child process and its log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def launch(self) -> None:
        if self.log_path.exists():  # keep the previous run's log, one generation
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        self._log = self.log_path.open("wb")
        # Popen runs in the event loop's thread on purpose: the parent-death signal
        # fires when the forking *thread* exits, so it must be a long-lived one.
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )

    def failure(self, why: str) -> ServerStartError:
        return ServerStartError(f"{self.name} {why}; see {self.log_path}: {_last_line(self.log_path)}")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGCONT)  # a paused server acts on SIGTERM only once continued
            try:
                await asyncio.to_thread(process.wait, STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        if self._log is not None:
            self._log.close()
            self._log = None


class EmbeddedServers:
    """Start the servers the settings call for, wait until they answer, and stop them after."""

    def __init__(self, settings: Settings, *, temporal: bool = True, nats: bool = True) -> None:
        self.settings = settings
        self.log_dir: Path = Path(settings.embedded.data_dir) / "logs"
        self._want = {"temporal": temporal, "nats": nats}
        self._servers: dict[str, _Server] = {}
        self._killed: set[str] = set()  # by `kill`, on purpose: not a crash
        self._launches: dict[str, tuple[list[str], str, int, Callable[[], Awaitable[bool]]]] = {}

    @property
    def started(self) -> list[str]:
        """Names of the servers this object started and has not stopped yet."""
        return [name for name in ("temporal", "nats") if name in self._servers]

    @property
    def pids(self) -> dict[str, int]:
        return {name: s.process.pid for name, s in self._servers.items() if s.process is not None}

    def exited(self) -> dict[str, int]:
        """Our servers whose process has ended by itself (a crash, a SIGKILL from outside): name -> exit code.

        Not those ended through `kill` (a chaos test that restarts them itself) or `stop`."""
        codes = {name: s.process.poll() for name, s in self._servers.items() if s.process is not None}
        return {name: code for name, code in codes.items() if code is not None and name not in self._killed}

    async def __aenter__(self) -> EmbeddedServers:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start what the mode calls for, concurrently, and wait until it answers.

        On any failure (or cancellation) everything started so far is stopped again.
        """
        plan = [(name, address) for name, address in self._addresses() if await self._should_start(name, *address)]
        if not plan:
            return
        if any(name == "temporal" for name, _ in plan):
            ip, ui_port = _bind_address(self.settings.temporal.hostname), self.settings.temporal.web_ui_port
            await _check_free(ip, ui_port, "the Temporal Web UI needs it: set temporal.ui_port to a free port")
        binaries = {name: str(find_binary(BINARY[name])) for name, _ in plan}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        launch = {"temporal": self._start_temporal, "nats": self._start_nats}
        try:
            results = await asyncio.gather(
                *(launch[name](binaries[name], _bind_address(host), port) for name, (host, port) in plan),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop (SIGTERM, then SIGKILL after a grace period) and reap what this object started."""
        servers = list(self._servers.values())
        self._servers.clear()
        self._killed.clear()
        await asyncio.gather(*(server.stop() for server in servers))

    def kill(self, name: str) -> None:
        """SIGKILL one of our servers, as a crash would (for chaos tests); `restart` brings it back."""
        server = self._servers[name]
        self._killed.add(name)
        if server.process is not None:
            server.process.kill()
            server.process.wait()

    def pause(self, name: str) -> None:
        """SIGSTOP one of our servers (for chaos tests): its clients' requests time out, its
        connections stay open; `resume` continues it where it stopped."""
        self._signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        """SIGCONT a server that `pause` stopped."""
        self._signal(name, signal.SIGCONT)

    def _signal(self, name: str, sig: signal.Signals) -> None:
        server = self._servers.get(name)
        if server is None or server.process is None or server.process.poll() is not None:
            raise InvalidInput(f"{name} is not a server this stack started and runs: only those can be paused")
        server.process.send_signal(sig)

    async def restart(self, name: str) -> None:
        """Launch a server this object started again, with the same arguments and data, and wait until ready."""
        await self._servers.pop(name).stop()
        self._killed.discard(name)
        argv, ip, port, ready = self._launches[name]
        await self._run_until_ready(name, argv, ip, port, ready)

    def _addresses(self) -> list[tuple[str, tuple[str, int]]]:
        temporal, nats_ = self.settings.temporal, self.settings.nats
        addresses = [("temporal", (temporal.hostname, temporal.port)), ("nats", (nats_.hostname, nats_.port))]
        return [(name, address) for name, address in addresses if self._want[name]]

    async def _should_start(self, name: str, hostname: str, port: int) -> bool:
        mode = self.settings.embedded.mode
        if mode == EmbeddedMode.NEVER:
            return False
        label = "Temporal" if name == "temporal" else "NATS"
        # An embedded server is one plain loopback server: it has no TLS, no credentials, no cluster.
        unembeddable = self._unembeddable(name)
        if mode == EmbeddedMode.AUTO:
            return not unembeddable and is_local(hostname) and not await asyncio.to_thread(is_listening, hostname, port)
        if unembeddable:
            raise ServerStartError(
                f"an embedded {label} server cannot serve {unembeddable}: set embedded.mode to auto or never"
            )
        hint = f"stop what listens there, or set embedded.mode to auto to use it as {label}"
        await _check_free(_bind_address(hostname), port, hint)
        return True

    def _unembeddable(self, name: str) -> str:
        """Why the configured server cannot be an embedded one, or ''."""
        if name == "temporal":
            return "TLS or an API key" if self.settings.temporal.uses_tls else ""
        if len(self.settings.nats.servers) > 1:
            return "several server URLs"
        return "TLS or credentials" if self.settings.nats.secured else ""

    async def _start_temporal(self, binary: str, ip: str, port: int) -> None:
        settings, data_dir = self.settings.temporal, Path(self.settings.embedded.data_dir)
        namespace, ui_port = settings.namespace, settings.web_ui_port
        # No --log-level: left at its default the server logs at warn *and* the CLI mutes
        # the warnings of a normal shutdown; an explicit level would log those too.
        # No --http-port/--metrics-port: the internal history/matching/worker services
        # take kernel-chosen free ports regardless, and kernel-chosen ports come from
        # the ephemeral range, above the fixed defaults (7233, 8233, 4222).
        argv = [binary, "server", "start-dev", "--ip", ip, "--port", str(port)]
        argv += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        argv += ["--db-filename", str(data_dir / "temporal.db")]
        pragmas = SQLITE_PRAGMAS[self.settings.embedded.durable]
        argv += [arg for pragma in pragmas for arg in ("--sqlite-pragma", pragma)]
        if namespace != "default":
            argv += ["--namespace", namespace]
        argv += dev_server_arguments()

        async def ready() -> bool:
            client = await Client.connect(f"{_url_host(ip)}:{port}", namespace=namespace)
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
            try:
                await register_search_attributes(client, namespace)  # a database from before them
            except RPCError as error:  # orders run without them: listings filter by customer here
                log.warning("search attributes not registered on Temporal: %s", error.message)
            return True

        await self._run_until_ready("temporal", argv, ip, port, ready)

    async def _start_nats(self, binary: str, ip: str, port: int) -> None:
        embedded = self.settings.embedded
        monitor_port = await self._monitor_port(ip, port)
        config = write_nats_config(
            Path(embedded.data_dir), ip, port, durable=embedded.durable, monitor_port=monitor_port
        )
        argv = [binary, "-c", str(config)]

        async def ready() -> bool:
            url = f"nats://{_url_host(ip)}:{port}"
            connection = await nats.connect(url, connect_timeout=1, allow_reconnect=False, error_cb=_ignore)
            try:
                await connection.jetstream().account_info()
            finally:
                await connection.close()
            return True

        await self._run_until_ready("nats", argv, ip, port, ready)

    async def _monitor_port(self, ip: str, client_port: int) -> int:
        """The nats-server's monitoring port: one that is set must be free; the derived default
        is left out when taken (monitoring never stops the server from starting)."""
        embedded = self.settings.embedded
        monitor_port = embedded.monitor_port_for(client_port)
        if not monitor_port:
            return 0
        if embedded.nats_monitor_port:
            hint = "set embedded.nats_monitor_port to a free port, or -1 for none"
            await _check_free(ip, monitor_port, f"the nats-server's monitoring needs it: {hint}")
        elif await _listening(ip, monitor_port):
            log.warning("nats-server monitoring left out: port %d (client port + 4000) is taken", monitor_port)
            return 0
        return monitor_port

    async def _run_until_ready(
        self, name: str, argv: list[str], ip: str, port: int, ready: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Launch `argv` and poll `ready()` until it is true: True when ours is ready.

        In auto mode, a server that lost the race for its port to another process
        starting the same server is not an error: False, and the other one is used.
        """
        self._launches[name] = (argv, ip, port, ready)
        server = _Server(name, argv, self.log_dir / f"{name}.log")
        self._servers[name] = server
        server.launch()
        assert server.process is not None
        timeout = self.settings.embedded.startup_timeout_seconds
        deadline = time.monotonic() + timeout
        while True:
            if server.process.poll() is not None:
                if self.settings.embedded.mode == EmbeddedMode.AUTO and await _listening(ip, port):
                    del self._servers[name]
                    await server.stop()
                    return False
                raise server.failure(f"exited with code {server.process.returncode} while starting")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise server.failure(f"did not become ready within {timeout:g} s")
            try:
                answered = await _listening(ip, port, 0.1) and await asyncio.wait_for(ready(), min(remaining, 5.0))
            except Exception:  # not answering yet
                answered = False
            if answered and server.process.poll() is None:  # and it is ours that answered
                return True
            await asyncio.sleep(POLL_SECONDS)


def write_nats_config(data_dir: Path, ip: str, port: int, *, durable: bool, monitor_port: int = 0) -> Path:
    """Write the embedded nats-server's config file into `data_dir` (anew at every start); its path.

    The store stays where the `-sd` flag of earlier versions put it, so their data is read.
    `sync_interval: always` makes JetStream fsync each write before acknowledging it: without
    it JetStream syncs every 2 minutes, and a power cut loses the acknowledged writes since.
    """
    lines = [
        "# Written by checkout-ops at each start of its embedded nats-server: edits are overwritten.",
        f"host: {json.dumps(ip)}",
        f"port: {port}",
        *([f"http: {json.dumps(f'{_url_host(ip)}:{monitor_port}')}"] if monitor_port else []),
        "jetstream {",
        f"  store_dir: {json.dumps(str(data_dir / 'jetstream'))}",
    ]
    if durable:
        lines.append("  sync_interval: always  # fsync every write before acknowledging it (embedded.durable)")
    lines.append("}")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / NATS_CONFIG_FILE
    _write_durably(path, "\n".join(lines) + "\n")
    return path


def _write_durably(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a power cut leaves the old file or the new, never an empty one.

    `restart` runs the server again on the same file: an unsynced one can come back empty
    after a crash, and nats-server would then start on its defaults (port 4222, no JetStream)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _listening(host: str, port: int, timeout: float = 0.3) -> bool:
    """`is_listening` off the event loop, which the dashboard shares."""
    return await asyncio.to_thread(is_listening, host, port, timeout)


async def _check_free(ip: str, port: int, hint: str) -> None:
    if await _listening(ip, port):
        raise ServerStartError(f"port {port} is already in use; {hint}")


async def _ignore(_error: Exception) -> None:
    pass


def free_port() -> int:
    """A TCP port nothing listens on right now, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def private_server_settings(settings: Settings, data_dir: Path) -> Settings:
    """`settings` with servers of one's own: free loopback ports, `data_dir`, started always."""
    return settings.model_copy(
        update={
            "temporal": settings.temporal.model_copy(
                update={"host": f"127.0.0.1:{free_port()}", "ui_port": free_port()}
            ),
            "nats": settings.nats.model_copy(update={"url": f"nats://127.0.0.1:{free_port()}"}),
            "embedded": settings.embedded.model_copy(update={"mode": EmbeddedMode.ALWAYS, "data_dir": data_dir}),
        }
    )
