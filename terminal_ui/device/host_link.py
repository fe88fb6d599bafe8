"""The ATM's connection to its switch: ISO 8583 over TCP with replies matched by 41 + 11.

One connection, nothing more: :class:`terminal_ui.device.client.AtmClient` (``from atmsim
import AtmClient``) owns one at a time and adds sign-on, idle echo, reconnection and the
inquiry itself; the Textual ATM, ``atmsim inquire``, ``atmsim demo --headless`` and the
load generator all go through it. Used alone::

    async with AtmHostLink("127.0.0.1", 8583, terminal_id="BNI00001") as link:
        await link.sign_on()
        response = await link.exchange(request)

Many requests may be in flight at once; each waits for the reply that carries its own
terminal ID and STAN, up to ``timeout`` seconds (30 s by default, as an ATM waits). With
an ``ssl.SSLContext`` as ``tls`` the connection is TLS (``server_hostname``: the name the
switch's certificate must carry, by default ``host``); the handshake counts against
``connect_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable
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

__all__ = ["AtmHostLink", "HostUnavailable", "HostTimeout", "StanSequence"]

log = logging.getLogger("atmsim.atm")


class HostUnavailable(ConnectionError):
    """No connection to the switch."""


class HostTimeout(TimeoutError):
    """The switch did not answer in time. ``request`` is the message that went unanswered
    (for an 0200: the original a reversal names)."""

    def __init__(self, message: str, request: IsoMessage | None = None) -> None:
        super().__init__(message)
        self.request = request


class StanSequence:
    """A terminal's STANs (field 11): 000001-999999 in turn, from a random start, so that
    two links of one terminal in the same second do not repeat a (terminal, STAN, time)
    the switch takes for a duplicate."""

    def __init__(self) -> None:
        self._count = itertools.count(secrets.randbelow(899_999) + 1)

    def __call__(self) -> str:
        return f"{next(self._count) % 999_999 + 1:06d}"


class AtmHostLink:
    def __init__(self, host: str, port: int, *, terminal_id: str, acquirer_id: str = "009",
                 profile: WireProfile | None = None, framing: Framing | None = None,
                 timeout: float = 30.0, connect_timeout: float = 10.0,
                 tls: ssl.SSLContext | None = None, server_hostname: str | None = None,
                 stans: StanSequence | None = None,
                 on_timeout: Callable[[IsoMessage], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.terminal_id = terminal_id
        self.acquirer_id = acquirer_id
        self.profile = profile or default_profile()
        self.framing = framing or Framing()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.tls = tls
        self.server_hostname = server_hostname
        # monotonic time of the last frame sent or received: what "idle" is measured from
        self.last_activity = time.monotonic()
        self._gone = asyncio.Event()  # set when the connection has ended, for whatever cause
        self.lost_because = ""  # why the switch's side ended it (a TLS alert, a reset...)
        self.next_stan = stans or StanSequence()
        # Called with each request that went unanswered in time, before HostTimeout is
        # raised: where a reversal (0420) of a timed-out 0200 is queued.
        self.on_timeout = on_timeout
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
        tls = self.tls
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                self.host, self.port, ssl=tls,
                server_hostname=(self.server_hostname or self.host) if tls else None,
                ssl_handshake_timeout=self.connect_timeout if tls else None),
                self.connect_timeout)
        except ssl.SSLError as exc:  # before OSError: it is one
            raise HostUnavailable(f"TLS with the switch at {self.host}:{self.port} failed: "
                                  f"{exc.reason or exc}") from None
        except (TimeoutError, OSError) as exc:
            raise HostUnavailable(f"cannot reach the switch at {self.host}:{self.port}: "
                                  f"{exc or 'timeout'}") from None
        self._gone.clear()
        self.lost_because = ""
        self.last_activity = time.monotonic()
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
        self._gone.set()
        self._fail_pending(HostUnavailable("link closed"))

    async def wait_closed(self) -> None:
        """Return when the connection has ended (closed here, by the switch, or lost)."""
        await self._gone.wait()

    async def exchange(self, request: IsoMessage, timeout: float | None = None) -> IsoMessage:
        """Send one request and wait for its reply (matched by fields 41 and 11)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            if writer is not None and not self._gone.is_set():
                # Closing but not yet read to its end: wait a moment for the reason why.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gone.wait(), 1.0)
            raise HostUnavailable("not connected to the switch" + (
                f": {self.lost_because}" if self.lost_because else ""))
        key = (request.get("41", ""), request.get("11", ""))
        future: asyncio.Future[IsoMessage] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            writer.write(self.framing.frame(self.profile.encode(request)))
            self.last_activity = time.monotonic()
            return await asyncio.wait_for(future, timeout or self.timeout)
        except TimeoutError:
            if self.on_timeout is not None:
                self.on_timeout(request)
            raise HostTimeout(f"no reply to STAN {key[1]} within "
                              f"{timeout or self.timeout:.0f}s", request) from None
        except (ConnectionError, OSError) as exc:
            raise HostUnavailable(f"connection to the switch lost: {exc}") from None
        finally:
            self._pending.pop(key, None)

    async def network_management(self, code: str, timeout: float | None = None) -> IsoMessage:
        """An 0800 with field 70 = ``code`` (001 sign-on, 002 sign-off, 301 echo)."""
        now = datetime.now(UTC)
        return await self.exchange({"t": "0800", "7": now.strftime("%m%d%H%M%S"),
                                    "11": self.next_stan(), "41": self.terminal_id,
                                    "70": code}, timeout)

    async def sign_on(self) -> IsoMessage:
        return await self.network_management("001")

    async def echo(self) -> IsoMessage:
        return await self.network_management("301")

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        answered = False  # a frame came on this connection
        try:
            while True:
                raw = await read_frame(reader, self.framing)
                if raw is None:
                    if self.tls is not None and not answered:
                        # asyncio reports a TLS alert after the handshake as a plain end
                        self.lost_because = ("closed by the switch before any reply; with "
                                             "TLS: does it require a client certificate "
                                             "(atm.tls_cert) it trusts?")
                    break
                answered = True
                self.last_activity = time.monotonic()
                try:
                    reply = self.profile.decode(raw)
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
        except ssl.SSLError as exc:  # e.g. the switch wants a client certificate
            self.lost_because = f"TLS: {exc.reason or exc}"
            log.warning("connection to the switch lost: %s", self.lost_because)
        except (FrameError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self.lost_because = str(exc) or type(exc).__name__
            log.warning("connection to the switch lost: %s", exc)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._gone.set()
            self._fail_pending(HostUnavailable("connection to the switch closed" + (
                f": {self.lost_because}" if self.lost_because else "")))

    def _fail_pending(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
