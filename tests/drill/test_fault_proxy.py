"""The fault proxy over real sockets: delay keeps the order, drop loses whole messages and
keeps the connection, partition cuts and refuses, and the draws follow the fault's seed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from atmsim.kernel.faults import Fault
from atmsim.shell.drill.proxy import FaultProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while True:
            header = await reader.readexactly(2)
            writer.write(header + await reader.readexactly(int.from_bytes(header, "big")))
    writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = FaultProxy("switch-hsm", ("127.0.0.1", port), "2be")
    await proxy.start()
    yield proxy
    await proxy.close()
    server.close()
    await server.wait_closed()


def _fault(kind: str, **params: float) -> Fault:
    return Fault(1, "test", "switch-hsm", kind, 0.0, 1.0, seed=42, **params)  # type: ignore[arg-type]


def _frame(text: str) -> bytes:
    return len(text).to_bytes(2, "big") + text.encode()


async def _read(reader: asyncio.StreamReader, timeout: float = 3.0) -> str | None:
    try:
        header = await asyncio.wait_for(reader.readexactly(2), timeout)
        body = await asyncio.wait_for(reader.readexactly(int.from_bytes(header, "big")), timeout)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return None
    return body.decode()


async def test_no_fault_passes_everything(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(_frame("ping"))
    assert await _read(reader) == "ping"
    writer.close()


async def test_delay_holds_each_message_and_keeps_the_order(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.begin(_fault("delay", delay=0.15))
    started = time.monotonic()
    writer.write(b"".join(_frame(f"m{n}") for n in range(5)))
    got = [await _read(reader) for _ in range(5)]
    waited = time.monotonic() - started
    assert got == [f"m{n}" for n in range(5)]
    assert waited >= 0.3  # held on the way there and on the way back
    writer.close()


async def test_drop_loses_messages_and_keeps_the_connection(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    drop = _fault("drop", probability=1.0)
    proxy.begin(drop)
    writer.write(_frame("lost"))
    assert await _read(reader, timeout=0.5) is None
    proxy.end(drop)
    writer.write(_frame("after"))
    assert await _read(reader) == "after"
    assert proxy.dropped == 1
    writer.close()


async def test_seeded_drop_loses_the_same_messages_every_time(proxy: FaultProxy) -> None:
    async def survivors() -> list[str]:
        proxy.begin(_fault("drop", probability=0.5))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        for n in range(12):
            writer.write(_frame(f"{n:02d}"))
        await writer.drain()
        await asyncio.sleep(0.3)
        proxy.end(_fault("drop"))
        writer.write(_frame("end"))
        got = []
        while (message := await _read(reader)) not in (None, "end"):
            got.append(message)
        writer.close()
        return [m for m in got if m is not None]

    first = await survivors()
    assert 0 < len(first) < 12
    assert await survivors() == first


async def test_partition_cuts_open_connections_and_refuses_new_ones(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(_frame("before"))
    assert await _read(reader) == "before"
    partition = _fault("partition")
    proxy.begin(partition)
    assert await asyncio.wait_for(reader.read(), 3) == b""
    refused_r, refused_w = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await asyncio.wait_for(refused_r.read(), 3) == b""
    proxy.end(partition)
    again_r, again_w = await asyncio.open_connection("127.0.0.1", proxy.port)
    again_w.write(_frame("after"))
    assert await _read(again_r) == "after"
    for w in (writer, refused_w, again_w):
        w.close()
