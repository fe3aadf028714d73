"""The partition proxy, each mode, against a tiny echo server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from engine.errors import InvalidInput
from engine.runtime import free_port
from engine.tcp_proxy import Link, LinkMode, TcpProxy

QUIET_SECONDS = 0.5  # how long "nothing arrives" is watched; held bytes never arrive, however long


class EchoServer:
    """Echoes every byte back, and remembers what it received."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._echo, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1024):
                self.received += data
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def link(echo: EchoServer) -> AsyncIterator[Link]:
    assert echo.server is not None
    async with TcpProxy() as proxy:
        yield await proxy.add_link("echo", "127.0.0.1", echo.server.sockets[0].getsockname()[1])


async def _connect(link: Link) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", link.port)


async def _echoed(reader: asyncio.StreamReader, size: int, timeout: float = 10.0) -> bytes:
    return await asyncio.wait_for(reader.readexactly(size), timeout)


async def _nothing_arrives(reader: asyncio.StreamReader) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(1), QUIET_SECONDS)


async def _closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 10) == b""
    except ConnectionError:
        return True


async def test_pass_forwards_both_ways(link: Link, echo: EchoServer) -> None:
    reader, writer = await _connect(link)
    writer.write(b"hello")
    assert await _echoed(reader, 5) == b"hello"
    assert echo.received == b"hello"
    writer.close()


async def test_drop_resets_open_connections_and_refuses_new_ones_until_healed(link: Link) -> None:
    reader, writer = await _connect(link)
    writer.write(b"a")
    assert await _echoed(reader, 1) == b"a"
    link.set(LinkMode.DROP)
    assert await _closed_by_peer(reader)
    writer.close()

    reader, writer = await _connect(link)  # accepted by the kernel, then reset by the proxy
    assert await _closed_by_peer(reader)
    writer.close()

    link.heal()
    reader, writer = await _connect(link)
    writer.write(b"back")
    assert await _echoed(reader, 4) == b"back"
    writer.close()


async def test_blackhole_keeps_connections_open_forwards_nothing_then_delivers_the_held_bytes(
    link: Link, echo: EchoServer
) -> None:
    reader, writer = await _connect(link)
    link.set(LinkMode.BLACKHOLE)
    writer.write(b"lost?")
    await _nothing_arrives(reader)
    assert echo.received == b""
    late_reader, late_writer = await _connect(link)  # a new connection is held as well
    late_writer.write(b"new")
    await _nothing_arrives(late_reader)

    link.heal()
    assert await _echoed(reader, 5) == b"lost?"
    assert await _echoed(late_reader, 3) == b"new"
    writer.close()
    late_writer.close()


async def test_cut_replies_lets_requests_reach_the_target_and_holds_the_answers(link: Link, echo: EchoServer) -> None:
    reader, writer = await _connect(link)
    link.set(LinkMode.CUT_REPLIES)
    writer.write(b"charge")
    await _nothing_arrives(reader)
    assert echo.received == b"charge"  # the effect happened; its reply is what is lost

    link.heal()
    assert await _echoed(reader, 6) == b"charge"
    writer.close()


async def test_cut_requests_holds_what_the_client_sends(link: Link, echo: EchoServer) -> None:
    reader, writer = await _connect(link)
    link.set(LinkMode.CUT_REQUESTS)
    writer.write(b"ping")
    await _nothing_arrives(reader)
    assert echo.received == b""

    link.heal()
    assert await _echoed(reader, 4) == b"ping"
    assert echo.received == b"ping"
    writer.close()


async def test_delay_adds_latency_and_keeps_the_order(link: Link) -> None:
    reader, writer = await _connect(link)
    link.set(LinkMode.DELAY, delay_seconds=0.3)
    began = time.monotonic()
    for chunk in (b"one ", b"two ", b"three"):
        writer.write(chunk)
        await writer.drain()
    assert await _echoed(reader, 13) == b"one two three"
    assert time.monotonic() - began >= 0.6  # 0.3 s each way, at the least
    writer.close()


async def test_a_connection_to_a_target_that_is_down_is_closed() -> None:
    async with TcpProxy() as proxy:
        link = await proxy.add_link("nowhere", "127.0.0.1", free_port())
        reader, writer = await _connect(link)
        assert await _closed_by_peer(reader)
        writer.close()


async def test_closing_the_proxy_closes_its_connections_and_its_ports(echo: EchoServer) -> None:
    assert echo.server is not None
    proxy = TcpProxy()
    link = await proxy.add_link("echo", "127.0.0.1", echo.server.sockets[0].getsockname()[1])
    port = link.port
    reader, writer = await _connect(link)
    link.set(LinkMode.BLACKHOLE)
    await proxy.close()
    assert await _closed_by_peer(reader)
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_heal_all_ends_every_partition(echo: EchoServer) -> None:
    assert echo.server is not None
    port = echo.server.sockets[0].getsockname()[1]
    async with TcpProxy() as proxy:
        first, second = await proxy.add_link("a", "127.0.0.1", port), await proxy.add_link("b", "127.0.0.1", port)
        first.set(LinkMode.DROP)
        second.set(LinkMode.CUT_REPLIES)
        proxy.heal_all()
        assert (first.mode, second.mode) == (LinkMode.PASS, LinkMode.PASS)
        reader, writer = await _connect(second)
        writer.write(b"ok")
        assert await _echoed(reader, 2) == b"ok"
        writer.close()


@pytest.mark.parametrize(
    ("mode", "delay", "message"),
    [
        ("sideways", 0.0, "no link mode 'sideways'; modes: pass, drop, blackhole, cut_replies, cut_requests, delay"),
        (LinkMode.DELAY, 0.0, "a delay must be between 0 and 600 seconds"),
        (LinkMode.DELAY, 601.0, "a delay must be between 0 and 600 seconds"),
    ],
)
async def test_a_bad_mode_or_delay_is_one_line_and_changes_nothing(
    link: Link, mode: str, delay: float, message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        link.set(mode, delay_seconds=delay)  # type: ignore[arg-type]
    assert raised.value.message == message
    assert link.mode is LinkMode.PASS


async def test_links_are_named_once() -> None:
    async with TcpProxy() as proxy:
        await proxy.add_link("x", "127.0.0.1", free_port())
        with pytest.raises(InvalidInput, match="a link named 'x' exists already"):
            await proxy.add_link("x", "127.0.0.1", free_port())
        with pytest.raises(InvalidInput, match="no link named 'y'; links: x"):
            proxy.link("y")


async def test_the_summary_counts_connections_and_bytes_each_way(link: Link) -> None:
    reader, writer = await _connect(link)
    writer.write(b"12345")
    assert await _echoed(reader, 5) == b"12345"
    assert link.summary == "1 connection, 0.0 kB out, 0.0 kB back"
    assert (link.requests.bytes_forwarded, link.replies.bytes_forwarded) == (5, 5)
    writer.close()


@pytest.mark.parametrize("mode", [LinkMode.PASS, LinkMode.DELAY])
async def test_the_last_bytes_before_a_half_close_still_arrive_and_so_does_the_close(
    link: Link, echo: EchoServer, mode: LinkMode
) -> None:
    if mode is LinkMode.DELAY:
        link.set(mode, delay_seconds=0.2)
    reader, writer = await _connect(link)
    writer.write(b"last words")
    writer.write_eof()  # the client sends nothing more, and still reads the answer
    assert await _echoed(reader, 10) == b"last words"
    assert await _closed_by_peer(reader)  # the echo server closed once it saw the end
    assert echo.received == b"last words"
    writer.close()
