"""A bare ISO 8583 client for the rules tests: frames out, whatever comes back, as it is.

Not the ATM's link, which would match answers and hide exactly what a rule does (a second
answer, a wrong STAN, garbage, a closed connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from atmsim.kernel.wire import IsoMessage, default_profile

PROFILE = default_profile()


def echo_request(terminal: str, stan: str = "000101") -> IsoMessage:
    return {"t": "0800", "7": "1121060000", "11": stan, "41": terminal, "70": "301"}


class WireClient:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def __aenter__(self) -> WireClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def send(self, message: IsoMessage) -> None:
        body = PROFILE.encode(message)
        self.writer.write(len(body).to_bytes(2, "big") + body)
        await self.writer.drain()

    async def frame(self, timeout: float = 5.0) -> bytes | None:
        """The next frame's body; None when nothing comes within ``timeout`` or the peer
        closes."""
        try:
            header = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            return await asyncio.wait_for(
                self.reader.readexactly(int.from_bytes(header, "big")), timeout)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None

    async def message(self, timeout: float = 5.0) -> IsoMessage | None:
        body = await self.frame(timeout)
        return None if body is None else PROFILE.decode(body)

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(), timeout) == b""
        except TimeoutError:
            return False
