"""The HSM as a TCP server: payShield host commands on port 1500 by default.

Each connection is an :class:`asyncio.Protocol`: every chunk read from the socket
is cut into frames, each request is answered as soon as it is complete, and the
replies to all the requests found in one chunk leave in one write. A client may
therefore pipeline many requests on one connection and match the replies by header.
Most commands are CPU-light (a few TDES blocks), so they run inline on the event
loop; a client that stops reading its replies is paused (flow control) rather than
buffered without bound.

RSA key generation (EI, 0.05-0.5 s for 2048 bits) and signing (EW) would stall every
connection for that long, so their handlers offload the work: it runs in a small
thread pool (``rsa_workers``, 1 by default: at most one core of RSA, the event loop
keeps the other) while the loop goes on answering other connections, PIN
verifications included. ``cryptography`` releases the GIL while it computes. Replies
still leave each connection in request order: those behind a pending EI wait for it.
A connection with ``MAX_PENDING_PER_CONNECTION`` offloaded requests in flight is not
read any further until one completes, so a flood of EI queues at most that many jobs
per connection instead of buffering without bound.

Optional TLS: ``tls_cert``/``tls_key`` (PEM files) make every connection TLS;
``tls_client_ca`` also requires and verifies a client certificate.

Logs carry command code, error code, failing field name and latency only: never
PINs, PIN blocks, keys or other request data. With tracing on (``--otel URL``), each
command is a SERVER span of the same two codes, a trace of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Self

from atmsim.kernel import otel
from atmsim.kernel.rules import RuleBook
from atmsim.kernel.tls import server_context
from atmsim.kernel.wire.framing import PAYSHIELD_FRAMING, FrameError
from hsm_mock.commands import CommandTable, default_command_table
from hsm_mock.context import HsmContext
from hsm_mock.fields import DEFAULT_LMK_IDS
from hsm_mock.lmk import VariantLmk
from hsm_mock.metrics import HsmMetrics
from hsm_mock.protocol import DEFAULT_HEADER_LENGTH, MAX_FRAME, Dispatcher, Reply, encode_frame
from hsm_mock.security import SecuritySettings
from hsm_mock.status import UNKNOWN_COMMAND_CODE, ConnectionStats, HsmStatus

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_RSA_WORKERS",
    "MAX_PENDING_PER_CONNECTION",
    "HsmServer",
    "server_tls_context",
]

DEFAULT_PORT = 1500  # payShield host port
# Threads for offloaded work (RSA): one leaves the event loop a core of its own on 2 cores.
DEFAULT_RSA_WORKERS = 1
# Offloaded requests one connection may have in flight before its reads pause.
MAX_PENDING_PER_CONNECTION = 4
# Replies go out in slices of this many while a batch of pipelined requests is being
# answered, so the client works on the first while the HSM computes the rest: a
# connection with many requests in flight keeps both ends busy instead of taking turns.
REPLY_SLICE = 16

_log = logging.getLogger(__name__)


def server_tls_context(
    cert: str | Path, key: str | Path, client_ca: str | Path | None = None
) -> ssl.SSLContext:
    """A TLS server context from PEM files; with ``client_ca``, client certs are required."""
    return server_context(cert, key, client_ca=client_ca,
                          require_client_cert=client_ca is not None)


# Niceness added to the RSA worker threads: when the cores are busy, the event loop
# (PIN verification) gets the CPU first and RSA what is left.
RSA_WORKER_NICENESS = 10


def _lower_thread_priority() -> None:
    """Lower the calling thread's scheduling priority (Linux: per-thread niceness)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       min(19, os.getpriority(os.PRIO_PROCESS, 0) + RSA_WORKER_NICENESS))
    except (AttributeError, OSError):  # not Linux, or not permitted: same priority
        pass


class HsmServer:
    """A payShield-style HSM listening on TCP (optionally TLS).

    ``lmk`` defaults to the published Thales test LMK; ``lmk_id`` is the
    identifier a request may name with ``%nn`` (others answer 13).
    ``disabled_commands`` answer error 68 (command disabled). ``security`` holds the
    key-scheme settings (:mod:`hsm_mock.security`); ``rules`` may answer a request first
    (:mod:`hsm_mock.protocol`). ``rsa_workers`` threads run the offloaded RSA work
    (EI, EW). ``port=0`` binds a
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
        rsa_workers: int = DEFAULT_RSA_WORKERS,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both tls_cert and tls_key")
        if rsa_workers < 1:
            raise ValueError("rsa_workers must be at least 1")
        self._rsa_workers = rsa_workers
        self._workers: ThreadPoolExecutor | None = None
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
        self._workers = ThreadPoolExecutor(self._rsa_workers, thread_name_prefix="hsm-rsa",
                                           initializer=_lower_thread_priority)
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
        workers, self._workers = self._workers, None
        if workers is not None:
            # Queued RSA work is dropped; a running job finishes in its thread.
            workers.shutdown(wait=False, cancel_futures=True)
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
        # Replies waiting behind offloaded work, in request order, each with the seconds
        # its work took: ready ones, and the futures of offloaded ones.
        self._queue: deque[tuple[Reply, float] | asyncio.Future[tuple[Reply, float]]] = deque()
        self._offloaded = 0  # futures in the queue
        self._writing_paused = False
        self._reading_paused = False
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
        self._buffer += data
        self._status.bytes_received += len(data)
        self._process()

    def _process(self) -> None:
        """Answer the complete frames in the buffer, up to the offloaded-work limit: what
        is left waits in the buffer (and reading pauses) until offloaded work completes."""
        buffer = self._buffer
        replies: list[bytes] = []
        debug = _log.isEnabledFor(logging.DEBUG)
        status = self._status
        clock = time.perf_counter
        start = 0
        while self._offloaded < MAX_PENDING_PER_CONNECTION:
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
            if reply.later is not None:
                self._offload(reply.later)
                continue
            if self._queue:  # behind offloaded work: it waits its turn
                self._queue.append((reply, clock() - started))
                continue
            if not self._emit(reply, clock() - started, replies, debug):
                return
            if len(replies) >= REPLY_SLICE:
                self._send(replies)
                replies = []
        del buffer[:start]
        self._send(replies)
        if self._offloaded >= MAX_PENDING_PER_CONNECTION or self._reading_paused:
            self._update_reading()

    def _emit(self, reply: Reply, elapsed: float, replies: list[bytes], debug: bool) -> bool:
        """Count a finished reply and add it to ``replies`` (or schedule it, as a rule says).
        False when a rule closed the connection."""
        # The status commands (J2, J4, J8) report what is counted here.
        self._status.record(reply.command if reply.known else UNKNOWN_COMMAND_CODE,
                            reply.error, elapsed)
        self._metrics.count(reply.command, reply.known, reply.error, elapsed)
        hsm_tracer = otel.tracer("hsm")
        if hsm_tracer is not None:  # a trace of its own: the host command carries no context
            command = reply.command if reply.known else UNKNOWN_COMMAND_CODE
            otel.record(hsm_tracer, f"hsm {command}", "server",
                           {"hsm.command": command, "hsm.error_code": reply.error}, elapsed)
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
                    return False
        if debug:
            _log.debug("cmd=%s err=%s%s latency_ms=%.3f", reply.command, reply.error,
                       f" field={reply.field}" if reply.field else "", elapsed * 1000)
        return True

    def _offload(self, later: Callable[[], Reply]) -> None:
        """Run ``later`` in the server's workers; its reply takes its place in the queue."""
        workers = self._server._workers
        if workers is None:  # closing: the connection goes too
            return

        def timed() -> tuple[Reply, float]:
            started = time.perf_counter()
            reply = later()
            return reply, time.perf_counter() - started

        future = asyncio.get_running_loop().run_in_executor(workers, timed)
        self._queue.append(future)
        self._offloaded += 1
        future.add_done_callback(self._drain)

    def _drain(self, _: object = None) -> None:
        """Send what is ready at the head of the queue, in order."""
        replies: list[bytes] = []
        debug = _log.isEnabledFor(logging.DEBUG)
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, tuple):
                queue.popleft()
                if not self._emit(*head, replies, debug):
                    return
                continue
            if not head.done():
                break
            queue.popleft()
            self._offloaded -= 1
            if head.cancelled() or head.exception() is not None:
                continue  # the server is closing
            reply, elapsed = head.result()
            if not self._emit(reply, elapsed, replies, debug):
                return
        self._send(replies)
        if self._buffer and self._offloaded < MAX_PENDING_PER_CONNECTION:
            self._process()  # the frames that waited for a free place
        else:
            self._update_reading()

    def _update_reading(self) -> None:
        """Read while the client reads its replies and its offloaded work is not piled up."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        paused = self._writing_paused or self._offloaded >= MAX_PENDING_PER_CONNECTION
        if paused != self._reading_paused:
            self._reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

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
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self._status.connections.pop(id(self), None)
        if self._buffer:
            _log.debug("connection from %s ended mid-frame", self._peer)
        self._buffer.clear()
        for item in self._queue:
            if isinstance(item, asyncio.Future):
                item.cancel()
        self._queue.clear()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
