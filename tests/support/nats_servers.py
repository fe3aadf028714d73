"""Real nats-server processes for tests that need more than the plain one of `tests/conftest.py`:
a server from a config file (authorization, TLS) and a JetStream cluster on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import nats
from nats.js.api import StreamConfig

from engine.binaries import find_binary
from engine.runtime import free_port
from tests.support.servers import wait_for_port


class ConfiguredNatsServer:
    """nats-server with JetStream on a free loopback port, plus the config `extra` (e.g. an
    `authorization { ... }` or `tls { ... }` block). Used as a context manager, it always stops."""

    def __init__(self, directory: Path, extra: str = "", name: str = "n", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.env = env  # more environment for nats-server (e.g. the passwords a config refers to)
        directory.mkdir(parents=True, exist_ok=True)
        self.url = f"nats://127.0.0.1:{self.port}"
        self.config = directory / f"{name}.conf"
        self.log = directory / f"{name}.log"
        store = directory / f"{name}-js"
        # The store comes after `extra`: a jetstream block there (the shipped cluster.conf has one)
        # would otherwise replace this one, and its store would be nats-server's shared default.
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\nserver_name: {name}\n{extra}\njetstream {{ store_dir: "{store}" }}\n'
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ConfiguredNatsServer:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(find_binary("nats-server")), "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env} if self.env else None,
            )
        wait_for_port(self.port, 15.0, self.process)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, no flush of the store."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> ConfiguredNatsServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class NatsCluster:
    """Three clustered nats-servers with JetStream on loopback: free client and cluster ports,
    separate stores and server names, routes to each other."""

    def __init__(self, directory: Path, size: int = 3, name: str = "checkout-test") -> None:
        cluster_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in cluster_ports)
        self.nodes = [
            ConfiguredNatsServer(
                directory,
                f'cluster {{ name: {name}, listen: "127.0.0.1:{port}", routes: [{routes}] }}',
                name=f"n{index + 1}",
            )
            for index, port in enumerate(cluster_ports)
        ]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated, as `nats.url` takes them."""
        return ",".join(node.url for node in self.nodes)

    def start(self) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    async def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Wait until JetStream has a meta leader and every node as a peer: until a stream with
        one replica per node can be created (the probe stream is deleted again)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                nc = await nats.connect(self.nodes[0].url, connect_timeout=1, allow_reconnect=False)
                try:
                    js = nc.jetstream(timeout=2)
                    await js.add_stream(StreamConfig(name="PROBE", subjects=["probe.>"], num_replicas=len(self.nodes)))
                    await js.delete_stream("PROBE")
                    return
                finally:
                    await nc.close()
            except Exception as error:  # no meta leader yet, or not every peer known
                last = error
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the JetStream cluster is not ready after {timeout} s ({last!r})")

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
