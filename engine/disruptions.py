"""Pauses and partitions, each for a while and then undone: the chaos soak's, and whoever else plans faults.

    await pause_for(worker, 12)                             # a ChildProcess: SIGSTOP its group, SIGCONT 12 s later
    await pause_for(EmbeddedServer(servers, "nats"), 8)     # a server this stack started
    await partition_for(link, LinkMode.BLACKHOLE, 10)       # a link of engine.tcp_proxy, healed after

Each undoes itself in a `finally`: a cancelled run never leaves a process stopped or a link cut.

"Past every timeout": a worker is paused longer than the NATS request timeout (2 s), the
step timeout (5 s) and Temporal's workflow task timeout (10 s), so that while it sleeps its
requests are retried by others, its workflow tasks go to another worker, and it wakes with
all of them still in flight. A server is paused long enough that every client's requests
time out and are retried. Those connections survive: neither client gives up on a
connection within seconds. The long plans go past that: a Temporal client drops a
connection whose keepalive pings go unanswered for about 45 s and connects again (the
proxy counts it). nats-py pings only every 2 minutes and gives up after 2 unanswered
pings, so a silent NATS connection lives on for 4 to 6 minutes: longer than any plan
here, and harmless, since every request on it times out and is retried elsewhere.

The plans below are the chaos soak's; `at` is a share of the time over which its
orders arrive.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import yaml

from engine.config import Settings
from engine.runtime import EmbeddedServers
from engine.tcp_proxy import Link, LinkMode, TcpProxy

ServerName = Literal["nats", "temporal"]
SERVER_LABEL = {"nats": "nats-server", "temporal": "temporal server"}
LINK_LABEL = {"nats": "NATS", "temporal": "Temporal"}


class Pausable(Protocol):
    def pause(self) -> None: ...
    def resume(self) -> None: ...


@dataclass(frozen=True)
class EmbeddedServer:
    """One server of an `EmbeddedServers`, as something to pause."""

    servers: EmbeddedServers
    name: ServerName

    def pause(self) -> None:
        self.servers.pause(self.name)

    def resume(self) -> None:
        self.servers.resume(self.name)


async def pause_for(process: Pausable, seconds: float) -> None:
    """Stop `process` for `seconds`, then continue it (also when cancelled meanwhile)."""
    process.pause()
    try:
        await asyncio.sleep(seconds)
    finally:
        process.resume()


async def partition_for(link: Link, mode: LinkMode, seconds: float, *, delay_seconds: float = 0.0) -> None:
    """Put `link` in `mode` for `seconds`, then heal it (also when cancelled meanwhile)."""
    link.set(mode, delay_seconds=delay_seconds)
    try:
        await asyncio.sleep(seconds)
    finally:
        link.heal()


@dataclass(frozen=True)
class PlannedPause:
    at: float
    target: ServerName | int  # a server, or a worker's index
    seconds: float

    @property
    def label(self) -> str:
        what = f"worker-{self.target}" if isinstance(self.target, int) else SERVER_LABEL[self.target]
        return f"{what} SIGSTOPped for {self.seconds:g} s, then SIGCONT"


@dataclass(frozen=True)
class PlannedPartition:
    """worker-0's link to `server` in `mode` for `seconds`."""

    at: float
    server: ServerName
    mode: LinkMode
    seconds: float
    delay_seconds: float = 0.0

    @property
    def label(self) -> str:
        how = {
            LinkMode.DROP: "dropped (connections reset, new ones refused)",
            LinkMode.BLACKHOLE: "blackholed (open, nothing forwarded)",
            LinkMode.CUT_REPLIES: "cut one way (requests arrive, replies never come back)",
            LinkMode.CUT_REQUESTS: "cut one way (requests held)",
            LinkMode.DELAY: f"delayed by {self.delay_seconds:g} s each way",
            LinkMode.PASS: "left alone",
        }[self.mode]
        return f"worker-0's link to {LINK_LABEL[self.server]} {how} for {self.seconds:g} s"


PAUSE_PLAN = (
    PlannedPause(0.10, 0, 12.0),  # past the workflow task timeout: its tasks move to worker-1
    PlannedPause(0.35, "nats", 8.0),  # every request times out, and is retried
    PlannedPause(0.55, 1, 12.0),
    PlannedPause(0.75, "temporal", 12.0),  # every workflow task and poll in flight times out
)

PARTITION_PLAN = (
    PlannedPartition(0.05, "nats", LinkMode.BLACKHOLE, 8.0),  # worker-0 loses NATS, worker-1 keeps it
    PlannedPartition(0.20, "temporal", LinkMode.BLACKHOLE, 12.0),  # worker-0 loses Temporal mid-task
    PlannedPartition(0.35, "nats", LinkMode.CUT_REPLIES, 6.0),  # the lost reply, both for its calls and its services
    PlannedPartition(0.45, "temporal", LinkMode.CUT_REPLIES, 8.0),  # its completions land, their answers do not
    PlannedPartition(0.55, "nats", LinkMode.DELAY, 8.0, delay_seconds=1.5),  # replies after the request timeout
    PlannedPartition(0.65, "temporal", LinkMode.DELAY, 8.0, delay_seconds=0.5),
    PlannedPartition(0.75, "nats", LinkMode.CUT_REQUESTS, 5.0),
    PlannedPartition(0.85, "temporal", LinkMode.DROP, 5.0),
    PlannedPartition(0.90, "nats", LinkMode.DROP, 5.0),
)

# Past the clients' own detection of a dead connection, for benchmarks/chaos_soak.py --long.
LONG_PAUSE_PLAN = (
    PlannedPause(0.10, "temporal", 50.0),
    PlannedPause(0.50, "nats", 30.0),
    PlannedPause(0.80, 0, 40.0),
)

LONG_PARTITION_PLAN = (
    PlannedPartition(0.10, "nats", LinkMode.BLACKHOLE, 60.0),
    PlannedPartition(0.50, "temporal", LinkMode.BLACKHOLE, 60.0),  # its client connects again
    PlannedPartition(0.70, "nats", LinkMode.CUT_REPLIES, 40.0),
)


async def write_worker_config(directory: Path, index: int, settings: Settings, proxy: TcpProxy | None) -> Path:
    """Write worker `index`'s config file (connecting only) into `directory`; with `proxy`, its
    NATS and Temporal connections go through new links of it, which can then be cut."""
    worker = settings.connecting_only()
    if proxy is not None:
        nats_link = await proxy.add_link("nats", settings.nats.hostname, settings.nats.port)
        temporal_link = await proxy.add_link("temporal", settings.temporal.hostname, settings.temporal.port)
        worker = worker.model_copy(
            update={
                "nats": worker.nats.model_copy(update={"url": f"nats://{nats_link.address}"}),
                "temporal": worker.temporal.model_copy(update={"host": temporal_link.address}),
            }
        )
    config = directory / f"worker-{index}.yaml"
    config.write_text(yaml.safe_dump(worker.model_dump(mode="json", exclude={"dashboard"})))
    return config
