"""The switch's link to its HSM: Thales payShield host commands over TCP.

It speaks the wire protocol only (2-byte big-endian length, framed by
``atmsim.kernel.wire.framing`` as the ATM link is, then header, command code, fields) and
never imports ``hsm_mock``, so it works the same against a real
payShield. One persistent connection is opened on first use and reopened after
it is lost. Requests are pipelined: each carries a rolling 4-digit counter as its
message header, which the HSM echoes, and replies are matched by that header.

Every call finishes within ``deadline`` seconds: when the HSM is down, slow or
drops the connection, the call raises :class:`HsmUnavailable` (the switch then
answers 91). Logs carry command code, error code and latency only; so does the CLIENT
span of each command when tracing is on (``atmsim.kernel.otel``).

Pass an :class:`ssl.SSLContext` as ``ssl`` to speak TLS to an HSM that requires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as _ssl
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from atmsim.kernel import otel
from atmsim.kernel.crypto.errors import succeeded
from atmsim.kernel.unmatched import MatchKey, UnmatchedReplyLog, header_text, hsm_reply_key
from atmsim.kernel.wire import FrameError, Framing, read_frame

__all__ = ["HsmLink", "HsmReply", "HsmUnavailable", "PinVerifier", "SwitchHsm", "NewKey"]

DEFAULT_HEADER_LENGTH = 4
DEFAULT_DEADLINE = 2.0  # seconds before the switch answers 91 ([switch] hsm_deadline)
# Max PIN length sent in DA: the longest PIN ISO 9564 allows.
_MAX_PIN_LENGTH = "12"
# payShield host messages: a 2-byte length, so at most what it can count.
_FRAMING = Framing("2be", max_frame=0xFFFF)

_log = logging.getLogger(__name__)


def _mac_fields(tak_lmk: str, data: bytes) -> bytes:
    mode, input_format, algorithm, padding, key_type = "0", "0", "03", "1", "003"  # 003: TAK
    return (f"{mode}{input_format}{algorithm}{padding}{key_type}{tak_lmk}{len(data):04X}"
            .encode("ascii") + data)


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class HsmUnavailable(Exception):
    """The HSM did not answer in time, refused the connection or dropped it."""


class PinVerifier(Protocol):
    """What the switch asks of an HSM: verify a PIN block, get an error code back ("00"
    verified, "01" wrong PIN, anything else an HSM-side error); raise
    :class:`HsmUnavailable` when there is no answer. :class:`HsmLink` is the real one."""

    async def verify_pin_ibm3624(self, *, tpk_lmk: str, pvk_lmk: str, pin_block_hex: str,
                                 pin_block_format: str, account12: str, check_length: int,
                                 dec_table: str, validation_data: str, offset: str) -> str: ...

    async def verify_pin_pvv(self, *, tpk_lmk: str, pvk_lmk: str, pin_block_hex: str,
                             pin_block_format: str, account12: str, pvki: int,
                             pvv: str) -> str: ...


@dataclass(frozen=True)
class NewKey:
    """A key the HSM generated (A0 mode 1): under the LMK, under the terminal's TMK, KCV."""

    under_lmk: str
    under_tmk: str
    kcv: str

    def __repr__(self) -> str:
        return f"<NewKey kcv={self.kcv}>"


class SwitchHsm(PinVerifier, Protocol):
    """Everything the switch asks of its HSM: PIN verification, MACs (M6/M8) and new
    terminal keys (A0). Each returns the HSM's error code ("00" done)."""

    async def generate_mac(self, *, tak_lmk: str, data: bytes) -> tuple[str, str]: ...

    async def verify_mac(self, *, tak_lmk: str, data: bytes, mac: str) -> str: ...

    async def generate_terminal_key(self, *, key_type: str,
                                    tmk_lmk: str) -> tuple[str, NewKey | None]: ...


@dataclass(frozen=True)
class HsmReply:
    """An HSM reply: response code (e.g. ``DB``), error code, response fields.

    >>> HsmReply("DF", "02", b"123456FFFFFF").succeeded  # DE under a double-length PVK
    True
    """

    response_code: str
    error_code: str
    fields: bytes

    @property
    def succeeded(self) -> bool:
        """00, or a warning of this command (its fields are valid): see docs/hsm.md."""
        code = self.response_code
        command = code[:1] + chr(ord(code[1]) - 1) if len(code) == 2 else ""
        return succeeded(command, self.error_code)


class _Connection:
    """One TCP connection and the requests waiting for a reply on it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, header_len: int,
        unmatched: UnmatchedReplyLog,
    ) -> None:
        self.writer = writer
        self._unmatched = unmatched
        self.pending: dict[bytes, asyncio.Future[bytes]] = {}
        self.closed = False
        self._header_len = header_len
        self._reader_task = asyncio.create_task(self._read_replies(reader))
        # Requests made while the event loop runs one round go out in one write: one
        # system call and one wake-up of the HSM for many PIN verifications.
        self._outbox: list[bytes] = []

    @property
    def backed_up(self) -> bool:
        """Bytes wait in the transport: the socket's buffer was full (the HSM reads slowly
        or not at all)."""
        return bool(self.writer.transport.get_write_buffer_size())

    def send(self, header: bytes, message: bytes) -> asyncio.Future[bytes]:
        if self.writer.is_closing():
            raise ConnectionResetError("HSM connection closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self.pending[header] = future
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append(_FRAMING.frame(message))
        return future

    def _flush(self) -> None:
        data, self._outbox = b"".join(self._outbox), []
        if self.writer.is_closing():
            return  # the reader fails the pending requests as the connection ends
        try:
            self.writer.write(data)
        except RuntimeError:  # uvloop: a write to a transport already closed
            self.writer.close()

    async def close(self) -> None:
        self._fail_pending()
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while (message := await read_frame(reader, _FRAMING)) is not None:
                future = self.pending.pop(message[: self._header_len], None)
                if future is not None and not future.done():
                    future.set_result(message)
                else:
                    # A reply to a request that timed out, or the HSM's mistake.
                    self._unmatched.unmatched(hsm_reply_key(message, self._header_len),
                                              [MatchKey(header=header_text(h))
                                               for h in self.pending])
        except (asyncio.IncompleteReadError, FrameError, OSError):
            _log.debug("HSM connection lost")
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        self.closed = True
        self.writer.close()
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(HsmUnavailable("HSM connection lost"))


class HsmLink:
    """Client for a payShield-style HSM; one pipelined connection, bounded waits.

    Usable as ``async with HsmLink(host, port) as hsm: ...``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        header_len: int = DEFAULT_HEADER_LENGTH,
        deadline: float = DEFAULT_DEADLINE,
        ssl: _ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        if header_len < 1:
            raise ValueError("pipelining needs a header of at least one digit")
        self._host = host
        self._port = port
        self._header_len = header_len
        self._deadline = deadline
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._counter = 0
        self._unmatched = UnmatchedReplyLog(_log, f"HSM link to {host}:{port}")
        self._connection: _Connection | None = None
        self._connect_lock = asyncio.Lock()

    async def request(self, command: str, fields: bytes | str = b"") -> HsmReply:
        """Send one host command and wait for its reply (within the deadline).

        ``fields`` are the request fields after the command code. Raises
        :class:`HsmUnavailable` if no well-formed reply arrives in time.
        """
        if otel.tracer("switch") is None:
            return await self._request(command, fields)
        with otel.span("switch", f"hsm {command}", "client", {
                "rpc.system": "payshield", "rpc.method": command, "hsm.command": command,
                "server.address": self._host, "server.port": self._port}) as span:
            reply = await self._request(command, fields)
            if span is not None:
                span.set_attribute("hsm.error_code", reply.error_code)
            return reply

    async def _request(self, command: str, fields: bytes | str) -> HsmReply:
        body = command.encode("ascii") + (
            fields.encode("ascii") if isinstance(fields, str) else fields
        )
        started = time.perf_counter()
        header = b""
        loop = asyncio.get_running_loop()
        ends = loop.time() + self._deadline
        try:
            connection = self._connection
            if connection is None or connection.closed:
                async with asyncio.timeout_at(ends):
                    connection = await self._connected()
            header = self._next_header(connection)
            reply_future = connection.send(header, header + body)
            # One timer on the reply (cheaper than asyncio.timeout around the awaits).
            timer = loop.call_at(ends, _expire, reply_future)
            try:
                if connection.backed_up:  # wait for the HSM to read, within the time
                    await asyncio.wait_for(connection.writer.drain(),
                                           max(0.0, ends - loop.time()))
                message = await reply_future
            finally:
                timer.cancel()
                connection.pending.pop(header, None)
                if reply_future.done() and not reply_future.cancelled():
                    # Mark a failure seen when drain() raised first, so asyncio
                    # does not warn "exception was never retrieved".
                    reply_future.exception()
        except TimeoutError:
            if header:
                self._unmatched.timed_out(MatchKey(command, header=header_text(header),
                                                   age=self._deadline))
            _log.debug("cmd=%s no reply within %.3fs", command, self._deadline)
            raise HsmUnavailable(f"no reply to {command} within {self._deadline}s") from None
        except OSError as exc:
            _log.debug("cmd=%s HSM unreachable (%s)", command, type(exc).__name__)
            raise HsmUnavailable(f"HSM unreachable: {type(exc).__name__}") from None
        reply = self._parse(message)
        _log.debug(
            "cmd=%s err=%s latency_ms=%.3f",
            command,
            reply.error_code,
            (time.perf_counter() - started) * 1000,
        )
        return reply

    async def verify_pin_ibm3624(
        self,
        *,
        tpk_lmk: str,
        pvk_lmk: str,
        pin_block_hex: str,
        pin_block_format: str,
        account12: str,
        check_length: int,
        dec_table: str,
        validation_data: str,
        offset: str,
    ) -> str:
        """DA: verify a terminal PIN by IBM 3624 offset; returns the error code.

        "00" verified, "01" wrong PIN, anything else an HSM-side error.
        """
        fields = (
            tpk_lmk
            + pvk_lmk
            + _MAX_PIN_LENGTH
            + pin_block_hex
            + pin_block_format
            + f"{check_length:02d}"
            + account12
            + dec_table
            + validation_data
            + offset.ljust(12, "F")
        )
        return (await self.request("DA", fields)).error_code

    async def verify_pin_pvv(
        self,
        *,
        tpk_lmk: str,
        pvk_lmk: str,
        pin_block_hex: str,
        pin_block_format: str,
        account12: str,
        pvki: int,
        pvv: str,
    ) -> str:
        """DC: verify a terminal PIN by Visa PVV; returns the error code.

        ``pvk_lmk`` is the PVK pair: ``U`` + 32H, or two single keys as 32H.
        """
        fields = tpk_lmk + pvk_lmk + pin_block_hex + pin_block_format + account12 + str(pvki) + pvv
        return (await self.request("DC", fields)).error_code

    async def generate_mac(self, *, tak_lmk: str, data: bytes) -> tuple[str, str]:
        """M6: the ISO 9797-1 algorithm 3 MAC (8H) of binary ``data`` under the TAK,
        padding method 1 (docs/wire.md); returns (error code, MAC)."""
        reply = await self.request("M6", _mac_fields(tak_lmk, data))
        return reply.error_code, reply.fields[:8].decode("ascii", "replace")

    async def verify_mac(self, *, tak_lmk: str, data: bytes, mac: str) -> str:
        """M8: "00" when ``mac`` (8H) is the MAC of ``data`` under the TAK, "01" when not."""
        return (await self.request("M8", _mac_fields(tak_lmk, data) + mac.encode("ascii"))
                ).error_code

    async def generate_terminal_key(self, *, key_type: str,
                                    tmk_lmk: str) -> tuple[str, NewKey | None]:
        """A0 mode 1 with the TMK flag: a new double-length key of ``key_type`` (002 TPK,
        003 TAK) under the LMK (scheme U) and under the terminal's TMK (scheme X)."""
        reply = await self.request("A0", f"1{key_type}U;1{tmk_lmk}X")
        text = reply.fields.decode("ascii", "replace")
        if reply.error_code != "00" or len(text) != 33 + 33 + 6:
            return reply.error_code if reply.error_code != "00" else "15", None
        return "00", NewKey(text[:33], text[33:66], text[66:])

    async def diagnostics(self) -> tuple[str, str]:
        """NC: (LMK check value 16H, firmware number). HsmUnavailable on error."""
        reply = await self.request("NC")
        text = reply.fields.decode("ascii", "replace")
        if reply.error_code != "00" or len(text) < 16:
            raise HsmUnavailable(f"HSM diagnostics failed with error {reply.error_code}")
        return text[:16], text[16:]

    async def close(self) -> None:
        """Close the connection; in-flight requests fail with HsmUnavailable."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connected(self) -> _Connection:
        async with self._connect_lock:
            if self._connection is None or self._connection.closed:
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname if self._ssl else None,
                )
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._connection = _Connection(reader, writer, self._header_len,
                                               self._unmatched)
                _log.debug("connected to HSM %s:%d", self._host, self._port)
            return self._connection

    def _next_header(self, connection: _Connection) -> bytes:
        modulus = 10**self._header_len
        for _ in range(modulus):
            self._counter = (self._counter + 1) % modulus
            header = f"{self._counter:0{self._header_len}d}".encode("ascii")
            if header not in connection.pending:
                return header
        raise HsmUnavailable("every message header is in flight")

    def _parse(self, message: bytes) -> HsmReply:
        head = message[self._header_len : self._header_len + 4]
        if len(head) < 4 or not head.isascii():
            raise HsmUnavailable("malformed HSM reply")
        text = head.decode("ascii")
        return HsmReply(text[:2], text[2:], message[self._header_len + 4 :])
