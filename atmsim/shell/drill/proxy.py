"""A fault proxy: a TCP proxy on one hop that delays, drops or cuts what passes.

It cuts the byte stream into the hop's messages (``2be``: a 2-byte length and its body,
as ISO 8583 and the payShield host protocol travel here; ``mqtt``: MQTT control packets),
so that a dropped message is a whole one and the stream stays readable. A delay keeps the
order of the messages in each direction: each leaves ``delay`` (plus its jitter) after it
arrived, never before the one ahead of it. A partition cuts every open connection at once
and refuses new ones until it ends. Per-message draws (drop, jitter) come from each
fault's own seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from atmsim.kernel.faults import Fault

__all__ = ["FaultProxy", "read_message"]

log = logging.getLogger("atmsim.drill")

# (direction, message): "up" from the client to the server, "down" back.
Observer = Callable[[str, bytes], None]


async def read_message(reader: asyncio.StreamReader, framing: str) -> bytes:
    """The next whole message of ``framing`` (``IncompleteReadError`` at the end)."""
    if framing == "2be":
        header = await reader.readexactly(2)
        return header + await reader.readexactly(int.from_bytes(header, "big"))
    first = await reader.readexactly(1)
    length_bytes = b""
    length, shift = 0, 0
    for _ in range(4):  # MQTT's remaining length: 7 bits a byte, at most four bytes
        byte = await reader.readexactly(1)
        length_bytes += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return first + length_bytes + await reader.readexactly(length)


class _Pipe:
    """One direction of one connection: messages out in order, each at its release time."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self.last_release = 0.0
        self.task = asyncio.create_task(self._send())

    def put(self, message: bytes, hold: float) -> None:
        release = max(time.monotonic() + hold, self.last_release)
        self.last_release = release
        self.queue.put_nowait((release, message))

    async def _send(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                release, message = await self.queue.get()
                wait = release - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.writer.is_closing():
                    return
                self.writer.write(message)


class FaultProxy:
    """Listens on ``host`` (a free port: read ``port`` after ``start``) and forwards to
    ``target``; ``begin`` and ``end`` switch faults on and off. ``observe`` sees every
    message that gets through."""

    def __init__(self, hop: str, target: tuple[str, int], framing: str, *,
                 host: str = "127.0.0.1", observe: Observer | None = None) -> None:
        self.hop = hop
        self.target = target
        self.framing = framing
        self.host = host
        self.observe = observe
        self.dropped = 0
        self.cut = 0  # connections a partition cut or refused
        self._active: dict[int, tuple[Fault, random.Random]] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._cut_all()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # -- faults -----------------------------------------------------------------------

    def begin(self, fault: Fault) -> None:
        self._active[fault.number] = (fault, random.Random(fault.seed))
        if fault.kind == "partition":
            self._cut_all()

    def end(self, fault: Fault) -> None:
        self._active.pop(fault.number, None)

    @property
    def partitioned(self) -> bool:
        return any(f.kind == "partition" for f, _ in self._active.values())

    def _fate(self) -> float | None:
        """Seconds to hold the next message, or None: it is dropped."""
        hold = 0.0
        for fault, rng in self._active.values():
            if fault.kind == "drop" and rng.random() < fault.probability:
                return None
            if fault.kind == "delay":
                hold += fault.delay + (rng.uniform(0, fault.jitter) if fault.jitter else 0)
        return hold

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
            self.cut += 1

    # -- connections ------------------------------------------------------------------

    async def _accept(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        try:
            await self._carry(client_r, client_w)
        except asyncio.CancelledError:
            # Only close() cancels a connection; ending quietly keeps asyncio's stream
            # callback from reporting the cancellation as an error.
            pass

    async def _carry(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self.partitioned:
            self.cut += 1
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()  # the part behind is down: so is the hop
            return
        self._connections.add(task)
        self._writers.update((client_w, server_w))
        up, down = _Pipe(server_w), _Pipe(client_w)
        pumps = [asyncio.create_task(self._pump(client_r, up, "up")),
                 asyncio.create_task(self._pump(server_r, down, "down"))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (*pumps, up.task, down.task):
                pending.cancel()
            await asyncio.gather(*pumps, up.task, down.task, return_exceptions=True)
            for writer in (client_w, server_w):
                self._writers.discard(writer)
                writer.close()
            self._connections.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, pipe: _Pipe, direction: str) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
            while True:
                message = await read_message(reader, self.framing)
                hold = self._fate()
                if hold is None:
                    self.dropped += 1
                    continue
                if self.observe is not None:
                    self.observe(direction, message)
                pipe.put(message, hold)
