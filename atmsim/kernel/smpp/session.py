"""One SMPP connection on asyncio, either end: framing, sequence numbers, the responses
matched to their requests, requests from the peer handed to a handler.

``SmppSession`` owns its stream: ``start`` runs the reader task, ``close`` ends it. A
request from the peer goes to ``handler`` (each in a task of its own, at most ``window``
at once; one more is answered ``ESME_RTHROTTLED``), whose returned PDU is sent back; a
handler that raises is answered ``ESME_RSYSERR`` and logged, and the session goes on.

Whatever the peer sends is answered, never fatal to anything but, at worst, this one
connection:

* ``command_length`` under 16: ``generic_nack`` ``ESME_RINVCMDLEN`` and the connection is
  closed (nothing after it can be framed);
* over ``max_pdu`` bytes: ``generic_nack`` ``ESME_RINVCMDLEN``; the PDU is read past
  without being held (up to 1 MiB; beyond, the connection is closed);
* an unknown or unsupported command: ``generic_nack`` ``ESME_RINVCMDID``;
* a known request whose body does not follow its layout: that command's response with
  the status ``decode_pdu`` names (``ESME_RINVMSGLEN``, ``ESME_RINVPARLEN``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from atmsim.kernel.smpp.pdu import (
    HEADER_LEN,
    MAX_PDU,
    Command,
    Pdu,
    PduError,
    Status,
    decode_header,
    decode_pdu,
    encode_pdu,
    response_to,
)

__all__ = ["SessionClosed", "SmppSession", "SmppTimeout", "RequestHandler"]

log = logging.getLogger("atmsim.smpp")

RequestHandler = Callable[["SmppSession", Pdu], Awaitable[Pdu | None]]
_ANSWERABLE = frozenset({Command.BIND_RECEIVER, Command.BIND_TRANSMITTER,
                         Command.BIND_TRANSCEIVER, Command.SUBMIT_SM, Command.DELIVER_SM,
                         Command.UNBIND, Command.ENQUIRE_LINK})
_READ_PAST_LIMIT = 1 << 20  # an oversized PDU up to this is skipped; beyond, we hang up


class SessionClosed(ConnectionError):
    """The connection is gone (or closing); nothing more can be sent on it."""


class SmppTimeout(TimeoutError):
    """No response to a request within its deadline."""


class SmppSession:
    """An SMPP connection over ``reader``/``writer``; ``name`` labels its log lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 handler: RequestHandler, *, name: str = "smpp", max_pdu: int = MAX_PDU,
                 window: int = 64) -> None:
        self.reader = reader
        self.writer = writer
        self.handler = handler
        self.name = name
        self.max_pdu = max_pdu
        self.window = window
        self.closed = asyncio.Event()
        self.bound: dict[str, Any] = {}  # what a bind said (system_id, address_range...)
        self._sequence = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._reader_task: asyncio.Task[None] | None = None
        self.on_close: list[Callable[[SmppSession], None]] = []
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Without it a request/response exchange waits out Nagle + delayed ACK (40 ms).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def peer(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"

    def start(self) -> None:
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"{self.name}-reader")

    # -- sending ----------------------------------------------------------------------

    def send(self, pdu: Pdu) -> None:
        """Queue ``pdu`` on the connection (raises ``SessionClosed`` once it is gone)."""
        if self.closed.is_set() or self.writer.is_closing():
            raise SessionClosed(f"{self.name}: connection closed")
        self.writer.write(encode_pdu(pdu))

    async def request(self, pdu: Pdu, timeout: float = 10.0, *,
                      throttle_retries: int = 0) -> Pdu:
        """Send ``pdu`` with the next sequence number; its response (any status), or
        ``SmppTimeout`` / ``SessionClosed``. A ``generic_nack`` for it is its response.
        With ``throttle_retries``, a response ``ESME_RTHROTTLED`` or ``ESME_RMSGQFUL``
        (the peer is busy) is followed by the same request again, after 50 ms doubling,
        up to that many times."""
        delay = 0.05
        for _ in range(throttle_retries):
            response = await self._request_once(pdu, timeout)
            if response.status not in (Status.ESME_RTHROTTLED, Status.ESME_RMSGQFUL):
                return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        return await self._request_once(pdu, timeout)

    async def _request_once(self, pdu: Pdu, timeout: float) -> Pdu:
        sequence = next(self._sequence) & 0x7FFFFFFF or next(self._sequence)
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        try:
            self.send(replace(pdu, sequence=sequence))
            await self.drain()
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise SmppTimeout(f"{self.name}: no response to {pdu.command.name} "
                              f"within {timeout:g} s") from None
        finally:
            self._pending.pop(sequence, None)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise SessionClosed(f"{self.name}: {exc}") from None

    # -- receiving --------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    header = await self.reader.readexactly(HEADER_LEN)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        log.warning("%s %s: connection closed inside a PDU header",
                                    self.name, self.peer)
                    return
                length, command_id, _, sequence = decode_header(header)
                if length < HEADER_LEN:
                    log.warning("%s %s: command_length %d, closing", self.name, self.peer,
                                length)
                    self._nack(sequence, Status.ESME_RINVCMDLEN)
                    return
                if length > self.max_pdu:
                    log.warning("%s %s: a %d-byte PDU (limit %d) refused", self.name,
                                self.peer, length, self.max_pdu)
                    self._nack(sequence, Status.ESME_RINVCMDLEN)
                    if length > _READ_PAST_LIMIT or not await self._read_past(
                            length - HEADER_LEN):
                        return
                    continue
                try:
                    body = await self.reader.readexactly(length - HEADER_LEN)
                except asyncio.IncompleteReadError:
                    log.warning("%s %s: connection closed inside a PDU", self.name, self.peer)
                    return
                self._dispatch(header + body, command_id, sequence)
        except (ConnectionError, OSError) as exc:
            log.info("%s %s: %s", self.name, self.peer, exc)
        finally:
            await self._shut()

    async def _read_past(self, count: int) -> bool:
        while count > 0:
            chunk = await self.reader.read(min(count, 65536))
            if not chunk:
                return False
            count -= len(chunk)
        return True

    def _dispatch(self, data: bytes, command_id: int, sequence: int) -> None:
        try:
            pdu = decode_pdu(data)
        except PduError as exc:
            log.warning("%s %s: malformed PDU 0x%08x: %s", self.name, self.peer,
                        command_id, exc)
            self._answer_malformed(command_id, sequence, exc.status)
            return
        if pdu.command.is_response:
            future = self._pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
            elif pdu.command is Command.GENERIC_NACK and pdu.sequence == 0:
                log.warning("%s %s: generic_nack 0x%x", self.name, self.peer, pdu.status)
            return
        if len(self._handling) >= self.window:
            self._safe_send(response_to(pdu, Status.ESME_RTHROTTLED))
            return
        task = asyncio.create_task(self._handle(pdu))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    def _answer_malformed(self, command_id: int, sequence: int, status: int) -> None:
        """A request we know gets its own response with ``status``; a malformed
        response is dropped (answering it would start a loop); anything else a
        ``generic_nack``."""
        try:
            command = Command(command_id)
        except ValueError:
            self._nack(sequence, status)
            return
        if command.is_response:
            return
        if command in _ANSWERABLE:
            self._safe_send(response_to(Pdu(command, sequence), status))
        else:
            self._nack(sequence, status)

    async def _handle(self, pdu: Pdu) -> None:
        try:
            answer = await self.handler(self, pdu)
        except SessionClosed:
            return
        except Exception:
            log.exception("%s %s: handling %s failed", self.name, self.peer, pdu.command.name)
            answer = response_to(pdu, Status.ESME_RSYSERR)
        if answer is None:
            return
        try:
            self._safe_send(answer)
        except ValueError:
            log.exception("%s %s: the answer to %s cannot be encoded", self.name, self.peer,
                          pdu.command.name)
            self._safe_send(response_to(pdu, Status.ESME_RSYSERR))

    def _nack(self, sequence: int, status: int) -> None:
        self._safe_send(Pdu(Command.GENERIC_NACK, sequence, status))

    def _safe_send(self, pdu: Pdu) -> None:
        with contextlib.suppress(SessionClosed):
            self.send(pdu)

    # -- closing ----------------------------------------------------------------------

    async def unbind(self, timeout: float = 2.0) -> None:
        """An orderly end: ``unbind``, its response (or the deadline), then close."""
        with contextlib.suppress(SessionClosed, SmppTimeout):
            await self.request(Pdu(Command.UNBIND, 0), timeout)
        await self.close()

    async def close(self) -> None:
        task = self._reader_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._shut()

    async def _shut(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SessionClosed(f"{self.name}: connection closed"))
        for task in list(self._handling):
            task.cancel()
        for callback in self.on_close:
            callback(self)
        with contextlib.suppress(Exception):
            self.writer.close()
            await self.writer.wait_closed()

    async def wait_closed(self) -> None:
        await self.closed.wait()
