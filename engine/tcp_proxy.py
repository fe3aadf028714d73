"""Network partitions on loopback: a small asyncio TCP proxy, one listening port per link.

    async with TcpProxy() as proxy:
        link = await proxy.add_link("worker-0 nats", "127.0.0.1", 4222)
        # the client is given 127.0.0.1:<link.port> instead of the target's address
        link.set(LinkMode.BLACKHOLE)
        ...
        link.heal()

What each mode does to a link, for the connections open and those that come later:

- `pass`: bytes flow both ways.
- `drop`: open connections are reset; new ones are accepted and reset at once (the port
  stays ours, so the link can be healed on the same address).
- `blackhole`: connections stay open and new ones are accepted, but nothing is forwarded
  either way.
- `cut_replies`: requests go out to the target, replies never come back (the lost reply).
- `cut_requests`: the other way round.
- `delay`: every chunk arrives `delay_seconds` late, in order, at full throughput.

Held bytes are not thrown away: the proxy stops reading that side, so they wait in the
kernel's buffers and flow once the link heals, as a healed network's retransmissions
would. Throwing them away would corrupt the byte stream, which TCP never does: it
delivers in order or the connection breaks. A client that gives up on a held connection
and closes it closes its far side too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from engine.errors import InvalidInput

CHUNK_BYTES = 64 * 1024


class LinkMode(StrEnum):
    PASS = "pass"
    DROP = "drop"
    BLACKHOLE = "blackhole"
    CUT_REPLIES = "cut_replies"
    CUT_REQUESTS = "cut_requests"
    DELAY = "delay"


_HOLDS = {  # (requests held, replies held)
    LinkMode.PASS: (False, False),
    LinkMode.DROP: (False, False),  # its connections are reset: they end at once
    LinkMode.BLACKHOLE: (True, True),
    LinkMode.CUT_REPLIES: (False, True),
    LinkMode.CUT_REQUESTS: (True, False),
    LinkMode.DELAY: (False, False),
}


@dataclass
class _Direction:
    """One way of a link: open or held, and the latency it adds."""

    open: asyncio.Event
    delay_seconds: float = 0.0
    bytes_forwarded: int = 0


class Link:
    """One listening port on loopback that forwards every connection to one target."""

    def __init__(self, name: str, target_host: str, target_port: int) -> None:
        self.name, self.target_host, self.target_port = name, target_host, target_port
        self.mode = LinkMode.PASS
        self.requests = _Direction(asyncio.Event())  # client to target
        self.replies = _Direction(asyncio.Event())  # target to client
        self.requests.open.set()
        self.replies.open.set()
        self.connections_accepted = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "not listening"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """Where clients connect instead of the target: `127.0.0.1:<port>`."""
        return f"127.0.0.1:{self.port}"

    @property
    def summary(self) -> str:
        """What went through: `3 connections, 120.5 kB out, 98.1 kB back`."""
        plural = "" if self.connections_accepted == 1 else "s"
        return (
            f"{self.connections_accepted} connection{plural}, "
            f"{self.requests.bytes_forwarded / 1000:.1f} kB out, {self.replies.bytes_forwarded / 1000:.1f} kB back"
        )

    def set(self, mode: LinkMode, *, delay_seconds: float = 0.0) -> None:
        """Apply `mode` now, to the open connections and to new ones."""
        try:
            mode = LinkMode(mode)
        except ValueError:
            raise InvalidInput(f"no link mode {mode!r}; modes: {', '.join(LinkMode)}") from None
        if mode is LinkMode.DELAY and not 0 < delay_seconds <= 600:
            raise InvalidInput("a delay must be between 0 and 600 seconds")
        self.mode = mode
        held_requests, held_replies = _HOLDS[self.mode]
        for direction, held in ((self.requests, held_requests), (self.replies, held_replies)):
            direction.delay_seconds = delay_seconds if mode is LinkMode.DELAY else 0.0
            if held:
                direction.open.clear()
            else:
                direction.open.set()
        if mode is LinkMode.DROP:
            for writer in list(self._writers):
                _reset(writer)

    @property
    def dropped(self) -> bool:
        return self.mode is LinkMode.DROP

    def heal(self) -> None:
        """Back to `pass`: what was held flows again."""
        self.set(LinkMode.PASS)

    async def listen(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _reset(writer)
        for task in list(self._open):
            task.cancel()
        await asyncio.gather(*self._open, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        if self.dropped:
            _reset(client_writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        self._writers.add(client_writer)
        target_writer: asyncio.StreamWriter | None = None
        try:
            try:
                target_reader, target_writer = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:  # the target is down: so is this connection, as it would be without us
                return
            self._writers.add(target_writer)
            if self.dropped:  # dropped while it was connecting
                _reset(client_writer)
                _reset(target_writer)
                return
            # Each way ends on its own (a half-close is passed on), a reset ends both.
            await asyncio.gather(
                _pump(client_reader, target_writer, self.requests),
                _pump(target_reader, client_writer, self.replies),
                return_exceptions=True,
            )
        finally:
            self._open.discard(task)
            for writer in (client_writer, target_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: _Direction) -> None:
    """Copy `reader` to `writer` until `reader` ends, waiting while `direction` is held; then
    pass the end on (a half-close), after every byte read before it.

    A delay keeps its order and throughput: each chunk is stamped when read and written
    once its time has come, while reading goes on."""
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def read() -> None:
        try:
            while True:
                await direction.open.wait()
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    return
                await due.put((loop.time() + direction.delay_seconds, data))
        finally:  # the end, a reset or a cancel: the writer stops after what came before it
            due.put_nowait((0.0, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            at, data = await due.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, at - loop.time()))
            await direction.open.wait()  # held after it was read: it waits for the heal too
            writer.write(data)
            direction.bytes_forwarded += len(data)
            await writer.drain()
        if reading.done() and not reading.cancelled() and reading.exception() is not None:
            _reset(writer)  # a reset passes on as a reset
        else:
            with contextlib.suppress(OSError, RuntimeError):  # already closed by the other way
                if writer.can_write_eof():
                    writer.write_eof()
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST, as a dropped connection is seen by its peer."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport = writer.transport
    transport.abort()


class TcpProxy:
    """A set of links, started and stopped together; `heal_all` ends every partition at once."""

    def __init__(self) -> None:
        self.links: dict[str, Link] = {}

    async def __aenter__(self) -> TcpProxy:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def add_link(self, name: str, target_host: str, target_port: int) -> Link:
        """A new link listening on a free loopback port, forwarding to `target_host:target_port`."""
        if name in self.links:
            raise InvalidInput(f"a link named {name!r} exists already")
        link = Link(name, target_host, target_port)
        await link.listen()
        self.links[name] = link
        return link

    def link(self, name: str) -> Link:
        try:
            return self.links[name]
        except KeyError:
            raise InvalidInput(f"no link named {name!r}; links: {', '.join(self.links) or 'none'}") from None

    def heal_all(self) -> None:
        for link in self.links.values():
            link.heal()

    async def close(self) -> None:
        links = list(self.links.values())
        self.links.clear()
        await asyncio.gather(*(link.close() for link in links))
