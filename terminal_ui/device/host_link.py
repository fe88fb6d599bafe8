"""The ATM's connection to its switch: ISO 8583 over TCP with replies matched by 41 + 11.

Used by the Textual ATM, ``atmsim inquire``, ``atmsim demo --headless`` and the load
generator, and small enough for a bank engineer to embed in their own tests::

    async with AtmHostLink("127.0.0.1", 8583, terminal_id="BNI00001") as link:
        await link.sign_on()
        response = await link.exchange(request)

Many requests may be in flight at once; each waits for the reply that carries its own
terminal ID and STAN, up to ``timeout`` seconds (30 s by default, as an ATM waits).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import socket
from datetime import UTC, datetime

from atmsim.kernel.wire import (
    FrameError,
    Framing,
    IsoMessage,
    WireError,
    WireProfile,
    default_profile,
    read_frame,
)

__all__ = ["AtmHostLink", "HostUnavailable", "HostTimeout"]

log = logging.getLogger("atmsim.atm")


class HostUnavailable(ConnectionError):
    """No connection to the switch."""


class HostTimeout(TimeoutError):
    """The switch did not answer in time."""


class AtmHostLink:
    def __init__(self, host: str, port: int, *, terminal_id: str, acquirer_id: str = "009",
                 profile: WireProfile | None = None, framing: Framing | None = None,
                 timeout: float = 30.0, connect_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.terminal_id = terminal_id
        self.acquirer_id = acquirer_id
        self.profile = profile or default_profile()
        self.framing = framing or Framing(self.profile.framing)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        # A fresh link starts its STANs anywhere, so that two links of one terminal in the
        # same second do not repeat a (terminal, STAN, time) the switch takes for a duplicate.
        self._stan = itertools.count(secrets.randbelow(899_999) + 1)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[tuple[str, str], asyncio.Future[IsoMessage]] = {}

    async def __aenter__(self) -> AtmHostLink:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout)
        except (TimeoutError, OSError) as exc:
            raise HostUnavailable(f"cannot reach the switch at {self.host}:{self.port}: "
                                  f"{exc or 'timeout'}") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_replies(reader))

    async def close(self) -> None:
        if self._reader_task:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except asyncio.CancelledError:
                pass
            self._reader_task = None
        if self._writer:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self._writer = None
        self._fail_pending(HostUnavailable("link closed"))

    def next_stan(self) -> str:
        return f"{next(self._stan) % 999_999 + 1:06d}"

    async def exchange(self, request: IsoMessage, timeout: float | None = None) -> IsoMessage:
        """Send one request and wait for its reply (matched by fields 41 and 11)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            raise HostUnavailable("not connected to the switch")
        key = (request.get("41", ""), request.get("11", ""))
        future: asyncio.Future[IsoMessage] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            writer.write(self.framing.frame(self.profile.header.value
                                            + self.profile.encode(request)))
            return await asyncio.wait_for(future, timeout or self.timeout)
        except TimeoutError:
            raise HostTimeout(f"no reply to STAN {key[1]} within "
                              f"{timeout or self.timeout:.0f}s") from None
        except (ConnectionError, OSError) as exc:
            raise HostUnavailable(f"connection to the switch lost: {exc}") from None
        finally:
            self._pending.pop(key, None)

    async def network_management(self, code: str) -> IsoMessage:
        now = datetime.now(UTC)
        return await self.exchange({"t": "0800", "7": now.strftime("%m%d%H%M%S"),
                                    "11": self.next_stan(), "41": self.terminal_id,
                                    "70": code})

    async def sign_on(self) -> IsoMessage:
        return await self.network_management("001")

    async def echo(self) -> IsoMessage:
        return await self.network_management("301")

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                raw = await read_frame(reader, self.framing)
                if raw is None:
                    break
                try:
                    # The header (a TPDU) only routes the reply to this ATM: not checked.
                    reply = self.profile.decode(self.profile.split_header(raw)[1])
                except WireError as exc:
                    log.warning("switch sent a message that does not decode: %s", exc)
                    continue
                key = (reply.get("41", ""), reply.get("11", ""))
                future = self._pending.get(key)
                if future is None and "41" not in reply:
                    # A format-error reply may lack 41: fall back to the STAN alone.
                    future = next((f for (t, s), f in self._pending.items()
                                   if s == key[1]), None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (FrameError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            log.warning("connection to the switch lost: %s", exc)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._fail_pending(HostUnavailable("connection to the switch closed"))

    def _fail_pending(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
