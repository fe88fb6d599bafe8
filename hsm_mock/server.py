"""The HSM as a TCP server: payShield host commands on port 1500 by default.

Each connection is an :class:`asyncio.Protocol`: every chunk read from the socket
is cut into frames, each request is answered as soon as it is complete, and the
replies to all the requests found in one chunk leave in one write. A client may
therefore pipeline many requests on one connection and match the replies by header.
Commands are CPU-light (a few TDES blocks), so they run inline on the event loop;
a client that stops reading its replies is paused (flow control) rather than
buffered without bound.

Optional TLS: ``tls_cert``/``tls_key`` (PEM files) make every connection TLS;
``tls_client_ca`` also requires and verifies a client certificate.

Logs carry command code, error code, failing field name and latency only: never
PINs, PIN blocks, keys or other request data.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Self

from atmsim.kernel.rules import RuleBook
from atmsim.kernel.tls import server_context
from atmsim.kernel.wire.framing import PAYSHIELD_FRAMING, FrameError
from hsm_mock.commands import CommandTable, default_command_table
from hsm_mock.context import HsmContext
from hsm_mock.fields import DEFAULT_LMK_IDS
from hsm_mock.lmk import VariantLmk
from hsm_mock.metrics import HsmMetrics
from hsm_mock.protocol import DEFAULT_HEADER_LENGTH, MAX_FRAME, Dispatcher, encode_frame
from hsm_mock.security import SecuritySettings
from hsm_mock.status import UNKNOWN_COMMAND_CODE, ConnectionStats, HsmStatus

__all__ = ["DEFAULT_PORT", "HsmServer", "server_tls_context"]

DEFAULT_PORT = 1500  # payShield host port

_log = logging.getLogger(__name__)


def server_tls_context(
    cert: str | Path, key: str | Path, client_ca: str | Path | None = None
) -> ssl.SSLContext:
    """A TLS server context from PEM files; with ``client_ca``, client certs are required."""
    return server_context(cert, key, client_ca=client_ca,
                          require_client_cert=client_ca is not None)


class HsmServer:
    """A payShield-style HSM listening on TCP (optionally TLS).

    ``lmk`` defaults to the published Thales test LMK; ``lmk_id`` is the
    identifier a request may name with ``%nn`` (others answer 13).
    ``disabled_commands`` answer error 68 (command disabled). ``security`` holds the
    key-scheme settings (:mod:`hsm_mock.security`); ``rules`` may answer a request first
    (:mod:`hsm_mock.protocol`). ``port=0`` binds a
    free port; read :attr:`port` after :meth:`start`. Usable as
    ``async with HsmServer(...)``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        lmk: VariantLmk | None = None,
        lmk_id: str = "00",
        header_len: int = DEFAULT_HEADER_LENGTH,
        disabled_commands: Collection[str] = frozenset(),
        max_frame: int = MAX_FRAME,
        commands: CommandTable | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        tls_client_ca: str | Path | None = None,
        security: SecuritySettings | None = None,
        rules: RuleBook | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both tls_cert and tls_key")
        if len(lmk_id) != 2 or not lmk_id.isdigit():
            raise ValueError("an LMK identifier is two digits")
        self._host = host
        self._requested_port = port
        self._framing = replace(PAYSHIELD_FRAMING, max_frame=max_frame)
        self._tls = (
            server_tls_context(tls_cert, tls_key, tls_client_ca)
            if tls_cert is not None and tls_key is not None
            else None
        )
        lmk_ids = frozenset({lmk_id}) if lmk_id != "00" else DEFAULT_LMK_IDS
        self.status = HsmStatus()
        # Counted always; served only with [hsm] metrics (atmsim.kernel.metrics_http).
        self.metrics = HsmMetrics()
        self.metrics.watch(lambda: len(self._connections))
        self._dispatcher = Dispatcher(
            commands if commands is not None else default_command_table(),
            HsmContext(
                lmk if lmk is not None else VariantLmk.test(),
                lmk_ids=lmk_ids,
                security=security if security is not None else SecuritySettings(),
                status=self.status,
            ),
            header_len=header_len,
            disabled_commands=disabled_commands,
            rules=rules,
        )
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("HSM server already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self._host, self._requested_port, ssl=self._tls
        )
        _log.info(
            "HSM listening on %s:%d%s", self._host, self.port, " (TLS)" if self._tls else ""
        )

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("HSM server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    async def serve_forever(self) -> None:
        """Start if needed, then serve until cancelled; closes on the way out."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening and close every connection. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close()
        if server is not None:
            await server.wait_closed()
        # Let the transports deliver connection_lost before the loop moves on.
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Connection(asyncio.Protocol):
    """One host connection: frames in, replies out, in order."""

    def __init__(self, server: HsmServer) -> None:
        self._server = server
        self._dispatcher = server._dispatcher
        self._framing = server._framing
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._peer: object = None
        self._status = server.status
        self._metrics = server.metrics

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not derive from asyncio.Transport.
        self._transport = transport  # type: ignore[assignment]
        self._server._connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Replies are small and latency-bound: never wait for Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if isinstance(self._peer, tuple) and isinstance(local, tuple):
            self._status.connections[id(self)] = ConnectionStats(
                local_port=local[1], peer_host=str(self._peer[0]), peer_port=self._peer[1],
                opened=self._status.clock())
        _log.debug("connection from %s", self._peer)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        replies: list[bytes] = []
        debug = _log.isEnabledFor(logging.DEBUG)
        status = self._status
        status.bytes_received += len(data)
        clock = time.perf_counter
        start = 0
        while True:
            try:
                frame = self._framing.cut(buffer, start)
            except FrameError as exc:
                _log.warning(
                    "frame of %d bytes from %s refused; closing connection", exc.size, self._peer
                )
                self._send(replies)
                self.close()
                return
            if frame is None:
                break
            message, start = frame
            status.frames_received += 1
            started = clock()
            reply = self._dispatcher.handle(message)
            # The status commands (J2, J4, J8) report what is counted here.
            busy = clock() - started
            status.record(reply.command if reply.known else UNKNOWN_COMMAND_CODE, reply.error,
                          busy)
            self._metrics.count(reply.command, reply.known, reply.error, busy)
            if reply.copies == 1 and not (reply.delay or reply.raw or reply.close):
                replies.append(encode_frame(reply.message))
            else:  # what a rule made of it
                out = [reply.message if reply.raw else encode_frame(reply.message)]
                out *= reply.copies
                if reply.delay > 0:
                    self._metrics.in_flight += 1
                    asyncio.get_running_loop().call_later(reply.delay, self._later, out,
                                                          reply.close)
                else:
                    replies.extend(out)
                    if reply.close:
                        self._send(replies)
                        self.close()
                        return
            if debug:
                _log.debug(
                    "cmd=%s err=%s%s latency_ms=%.3f",
                    reply.command,
                    reply.error,
                    f" field={reply.field}" if reply.field else "",
                    (time.perf_counter() - started) * 1000,
                )
        del buffer[:start]
        self._send(replies)

    def _later(self, replies: list[bytes], close: bool) -> None:
        self._metrics.in_flight -= 1
        self._send(replies)
        if close:
            self.close()

    def _send(self, replies: list[bytes]) -> None:
        if replies and self._transport is not None and not self._transport.is_closing():
            out = b"".join(replies)
            self._transport.write(out)
            self._status.bytes_sent += len(out)
            self._status.frames_sent += len(replies)

    def pause_writing(self) -> None:
        # The client is not reading its replies: stop reading its requests.
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self._status.connections.pop(id(self), None)
        if self._buffer:
            _log.debug("connection from %s ended mid-frame", self._peer)
        self._buffer.clear()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
