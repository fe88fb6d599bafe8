"""The switch's channel: ISO 8583 frames in and out of ATM connections, nothing more.

Each connection reads frames in a loop, decodes each and hands it on its own task to the
``RequestListener`` (the switch's ``Dispatcher``), so many requests are in flight per
connection (bounded by ``max_in_flight``) and each answer is encoded, framed and written
as soon as it is ready; the ATM matches answers by fields 41 + 11. A frame that cannot be
decoded goes to the listener as the ``WireError`` holding what could be read of it. A
broken length header closes that one connection. Nothing a peer sends can stop the channel
or the other connections. What to answer is never decided here.

Connections: one that sends no new frame for ``idle_timeout`` seconds (and has no
request in flight) is closed, and so is one whose started frame is not complete after
``frame_timeout`` seconds. At most ``max_connections`` are open at once; one more is
accepted and closed at once. The server runs its own accept loop rather than asyncio's,
so that running out of file descriptors is the switch's to handle: it says so in the log
(at most once per interval of the ``warn`` log), keeps serving the connections it has,
refuses the waiting ones at once through a spare descriptor instead of leaving them hanging
in the backlog, and accepts again as soon as descriptors are free.

TLS: with an ``ssl.SSLContext`` as ``tls`` every connection is TLS (the context decides
whether client certificates are required). Each handshake runs on its own task, never in
the accept loop, and one not finished after ``tls_handshake_timeout`` seconds is closed:
a peer that connects and sends nothing, or half a ClientHello, costs one slot for that
long and never holds up the other connections. A failed handshake (no or a wrong client
certificate, a plain-TCP client) is a rate-limited warning and a closed connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Protocol

from atm_switch.connections import Inbound, LinkState, receiving
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.tls import DEFAULT_HANDSHAKE_TIMEOUT
from atmsim.kernel.wire import FrameError, Framing, IsoMessage, WireError, WireProfile, read_frame

__all__ = ["Channel", "Answer", "RequestListener"]

log = logging.getLogger("atmsim.switch")

DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_FRAME_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 2000
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_RETRY = 0.1  # seconds between accept attempts while descriptors are short
# Descriptors kept for the switch's own use (HSM link, broker, databases, log file, the
# event loop, a spare): ATM connections beyond the limit minus these are refused at once,
# so that ATMs alone can never leave the switch unable to reach its HSM or its ledger.
_FD_RESERVE = 64


@dataclass(frozen=True, slots=True)
class Answer:
    """A response to send, the request it answers and why, for the log and the event.

    What a rule (``atmsim.kernel.rules``) makes of an answer: ``copies`` of the response
    (0: none, 2: the same answer twice), ``garbage`` bytes instead of it (in a frame of
    the connection's framing when ``framed``, else raw), and ``close``: the connection is
    closed once it is written."""

    request: IsoMessage
    response: IsoMessage
    reason: str = ""
    copies: int = 1
    garbage: bytes | None = None
    framed: bool = True
    close: bool = False


class RequestListener(Protocol):
    """What the channel hands its messages to (jPOS's ISORequestListener)."""

    async def dispatch(self, request: IsoMessage) -> Answer | None:
        """The answer to a decoded message; None: nothing is sent back."""

    def unreadable(self, error: WireError) -> Answer | None:
        """The answer to a message that did not decode (``error.partial`` holds what
        could be read of it); None: nothing is sent back."""

    def answered(self, answer: Answer, latency_ms: float) -> None:
        """``answer`` was written, ``latency_ms`` after its frame was read."""

    def flush(self) -> None:
        """Called about once a second and on close: report what was only counted."""


@dataclass(eq=False)
class _Connection:
    """One ATM connection as the housekeeping sees it."""

    peer: str
    writer: asyncio.StreamWriter
    deadline: float = math.inf  # monotonic time by which the next frame must be complete
    in_frame: bool = False  # the first byte of a frame has arrived, the rest has not
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    closed_for: str = ""  # why the switch closed it, for the connection's last log line
    state: LinkState = field(init=False)
    # Requests the switch sent on this connection (0800/161), by STAN, awaiting the 0810.
    awaiting: dict[str, asyncio.Future[IsoMessage]] = field(default_factory=dict)
    header: bytes = b""  # the header (TPDU) of the last request read on this connection

    def __post_init__(self) -> None:
        self.state = LinkState(self.peer)


class Channel:
    """ATM connections on ``host``:``port``: frames in, decoded, to ``listener``; its
    answers encoded, framed and out. ``drain_timeout``: how long answers being worked on
    may still take when their connection ends. ``warn`` logs what peers can cause at will.
    """

    def __init__(self, listener: RequestListener, profile: WireProfile, framing: Framing, *,
                 host: str = "127.0.0.1", port: int = 8583, max_in_flight: int = 256,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 drain_timeout: float = 10.0, warn: RateLimitedLog | None = None,
                 tls: ssl.SSLContext | None = None,
                 tls_handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT) -> None:
        self.listener = listener
        self.profile = profile
        self.framing = framing
        self.host = host
        self._port = port
        self.max_in_flight = max_in_flight
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.max_connections = max_connections
        self.drain_timeout = drain_timeout
        self.tls = tls
        self.tls_handshake_timeout = tls_handshake_timeout
        self.handshake_failures = 0  # TLS connections closed before they were set up
        self._handshakes: set[asyncio.Task[None]] = set()
        self.refused = 0  # connections closed at once: over the cap or out of descriptors
        self._sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []  # accept loops and the housekeeping
        self._spare_fd: int | None = None
        self._fd_cap = max_connections  # connections the descriptor limit leaves room for
        self._open: set[_Connection] = set()
        self._by_terminal: dict[str, _Connection] = {}  # the latest connection of each ATM
        # Connections accepted and not yet ended, counted at accept: a connection's own
        # task starts a loop round later, too late for the next accept's cap check.
        self._admitted = 0
        self._connections: set[asyncio.Task[None]] = set()
        self._warn = warn or RateLimitedLog(log)

    @property
    def port(self) -> int:
        if self._sockets:
            return int(self._sockets[0].getsockname()[1])
        return self._port

    @property
    def open_connections(self) -> int:
        return self._admitted

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._raise_descriptor_limit()
        infos = await loop.getaddrinfo(self.host, self._port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                self._sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(socket.SOMAXCONN)
                sock.setblocking(False)
        except OSError:
            self._close_sockets()
            raise
        self._spare_fd = _open_spare()
        self._tasks = [asyncio.create_task(self._accept_loop(sock)) for sock in self._sockets]
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        log.info("switch listening on %s:%d%s", self.host, self.port,
                 " (TLS)" if self.tls is not None else "")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._close_sockets()
        for task in [*self._handshakes, *self._connections]:
            task.cancel()
        await asyncio.gather(*self._handshakes, *self._connections, return_exceptions=True)
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
        self._warn.flush()
        self.listener.flush()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def _raise_descriptor_limit(self) -> None:
        """Lift the soft descriptor limit toward what ``max_connections`` needs (Linux
        starts processes at 1,024, fewer than the default 2,000 connections)."""
        try:
            import resource
        except ImportError:  # not on this platform: the operator's limit stands
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = self.max_connections + _FD_RESERVE
        if soft != resource.RLIM_INFINITY and soft < needed:
            target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
            if target > soft:
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                    soft = target
            if soft < needed:
                self._fd_cap = max(1, soft - _FD_RESERVE)
                log.warning("the file descriptor limit (%d) is below what %d connections "
                            "need (%d): at most %d ATM connections; raise the limit "
                            "(ulimit -n) or lower switch.max_connections",
                            soft, self.max_connections, needed, self._fd_cap)

    # -- connections ------------------------------------------------------------------

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self._out_of_descriptors(sock, exc)
                elif exc.errno not in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    self._warn.warning("accept", "cannot accept a connection: %s", exc)
                await asyncio.sleep(_ACCEPT_RETRY)
                continue
            if self._admitted >= min(self.max_connections, self._fd_cap):
                self.refused += 1
                conn.close()
                self._warn.warning("connection cap", "refused a connection from %s: %d "
                                   "connections open (%s)", _peer(address), self._admitted,
                                   "switch.max_connections" if self._fd_cap >=
                                   self.max_connections else "the file descriptor limit")
                continue
            if self.tls is None:
                await self._admit(conn, loop)
            else:
                # The handshake takes round trips (or, from a hung peer, the whole
                # timeout): on its own task, so the accept loop takes the next one now.
                handshake = asyncio.create_task(self._admit(conn, loop))
                self._handshakes.add(handshake)
                handshake.add_done_callback(self._handshakes.discard)

    async def _admit(self, conn: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        conn.setblocking(False)
        try:
            peer = _peer(conn.getpeername())
        except OSError:
            peer = "a peer that has gone"
        reader = asyncio.StreamReader(limit=self.framing.max_frame * 2)
        protocol = asyncio.StreamReaderProtocol(reader, self._accept)
        self._admitted += 1
        try:
            if self.tls is None:
                await loop.connect_accepted_socket(lambda: protocol, conn)
            else:
                await loop.connect_accepted_socket(
                    lambda: protocol, conn, ssl=self.tls,
                    ssl_handshake_timeout=self.tls_handshake_timeout)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            # ssl.SSLError and ConnectionAbortedError (the handshake timeout) are OSErrors.
            self._admitted -= 1
            conn.close()
            if self.tls is None:
                self._warn.warning("accept", "cannot take a connection: %s", exc)
            else:
                self.handshake_failures += 1
                self._warn.warning("tls handshake", "closed %s before TLS was set up: %s",
                                   peer, _handshake_failure(exc, self.tls_handshake_timeout))
        except asyncio.CancelledError:
            self._admitted -= 1
            conn.close()
            raise

    def _out_of_descriptors(self, sock: socket.socket, exc: OSError) -> None:
        """No descriptor for a new connection. The ones waiting in the backlog would hang
        until they time out: with the spare descriptor freed, accept each and close it
        at once, so that the ATM learns now and can retry or go elsewhere."""
        refused = 0
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
            try:
                while refused < 1000:
                    waiting, _ = sock.accept()
                    waiting.close()
                    refused += 1
            except OSError:
                pass  # the backlog is empty (or still no descriptor)
            self._spare_fd = _open_spare()
        self.refused += refused
        self._warn.warning("out of descriptors", "cannot accept new connections: %s; still "
                           "serving the %d open connections, refusing new ones until "
                           "descriptors are free (refused %d now)",
                           os.strerror(exc.errno or 0), self._admitted, refused)

    async def _housekeeping(self) -> None:
        """Close idle and stalled connections; report suppressed warnings."""
        while True:
            await asyncio.sleep(max(0.05, min(1.0, self.idle_timeout / 4,
                                              self.frame_timeout / 4)))
            now = time.monotonic()
            for conn in list(self._open):
                if now >= conn.deadline and (conn.in_frame or not conn.in_flight):
                    self._expire(conn)
            self._warn.flush()
            self.listener.flush()

    def _expire(self, conn: _Connection) -> None:
        if conn.in_frame:
            conn.closed_for = (f"a frame was still incomplete after {self.frame_timeout:g} s "
                               "(switch.frame_timeout)")
            self._warn.warning("frame timeout", "closing %s: %s", conn.peer, conn.closed_for)
        else:
            conn.closed_for = f"no request for {self.idle_timeout:g} s (switch.idle_timeout)"
            log.info("closing %s: %s", conn.peer, conn.closed_for)
        conn.deadline = math.inf
        conn.writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve_connection(reader, writer)
        except asyncio.CancelledError:
            # Only close() cancels a connection; ending quietly keeps asyncio's stream
            # callback from reporting the cancellation as an error.
            pass
        finally:
            self._connections.discard(task)
            self._admitted -= 1

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer.get_extra_info("peername"))
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("ATM connected from %s", peer)
        conn = _Connection(peer, writer)
        self._open.add(conn)
        frame_timeout = self.frame_timeout

        def frame_started() -> None:
            conn.in_frame = True
            conn.deadline = time.monotonic() + frame_timeout

        slots = asyncio.Semaphore(self.max_in_flight)
        in_flight = conn.in_flight

        def answered(task: asyncio.Task[None]) -> None:  # one callback, made once
            in_flight.discard(task)
            slots.release()
        try:
            while True:
                conn.in_frame = False
                conn.deadline = time.monotonic() + self.idle_timeout
                try:
                    raw = await read_frame(reader, self.framing, frame_started)
                except FrameError as exc:
                    self._warn.warning("bad frame", "closing %s: %s", peer, exc)
                    break
                except asyncio.IncompleteReadError:
                    if not conn.closed_for:
                        log.warning("closing %s: connection closed in the middle of a frame",
                                    peer)
                    break
                finally:
                    conn.in_frame = False
                    conn.deadline = math.inf  # no clock runs while the switch works
                if raw is None:
                    break
                await slots.acquire()
                task = asyncio.create_task(self._answer(raw, conn))
                in_flight.add(task)
                task.add_done_callback(answered)
        except (ConnectionError, OSError) as exc:
            log.info("connection %s lost: %s", peer, exc)
        finally:
            if in_flight:
                # Let answers already being worked on reach the ATM if it is still there.
                await asyncio.wait(in_flight, timeout=self.drain_timeout)
            self._open.discard(conn)
            for terminal_id in [t for t, c in self._by_terminal.items() if c is conn]:
                del self._by_terminal[terminal_id]
            for waiting in conn.awaiting.values():
                if not waiting.done():
                    waiting.set_exception(ConnectionError("the ATM disconnected"))
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            log.info("ATM %s disconnected%s", peer,
                     f": {conn.closed_for}" if conn.closed_for else "")

    # -- one request ------------------------------------------------------------------

    async def _answer(self, raw: bytes, conn: _Connection) -> None:
        started = time.perf_counter()
        header = b""
        try:
            header, body = self.profile.split_header(raw)
            # The MAC of a request covers its bytes as received, without the header.
            receiving(Inbound(body, conn.state))
            request = self.profile.decode(body)
        except WireError as exc:
            answer = self.listener.unreadable(exc)
        else:
            conn.header = header  # what a request the switch sends on this link carries
            terminal_id = request.get("41")
            if terminal_id:
                self._by_terminal[terminal_id] = conn
            if self._took_reply(conn, request):
                return
            answer = await self.listener.dispatch(request)
        if answer is None:
            return
        # A TPDU goes back with its addresses swapped, any other header as it came.
        reply_header = self.profile.header.answer(header)
        if answer.garbage is not None:
            self._write(conn.writer, self.framing.frame(reply_header + answer.garbage)
                        if answer.framed else answer.garbage)
        elif answer.copies:
            self._send(conn.writer, answer.response, reply_header, answer.copies)
        if answer.close:
            conn.writer.close()
        if answer.copies and answer.garbage is None:
            self.listener.answered(answer, (time.perf_counter() - started) * 1000)

    def _took_reply(self, conn: _Connection, message: IsoMessage) -> bool:
        """A response to a request the switch sent on this connection goes to its waiter."""
        mti = message["t"]
        if len(mti) != 4 or mti[2] not in "13":
            return False
        waiting = conn.awaiting.get(message.get("11", ""))
        if waiting is None or waiting.done():
            return False
        waiting.set_result(message)
        return True

    def connected_terminals(self) -> list[str]:
        """The terminals with an open connection (the latest one each used)."""
        return [t for t, conn in self._by_terminal.items() if not conn.writer.is_closing()]

    async def send_request(self, terminal_id: str, request: IsoMessage,
                           timeout: float) -> IsoMessage:
        """Send ``request`` to the ATM ``terminal_id`` over its latest connection and wait
        up to ``timeout`` seconds for its response (matched by field 11 on that connection).
        ConnectionError when the ATM is not connected, TimeoutError when it does not answer.
        """
        conn = self._by_terminal.get(terminal_id)
        if conn is None or conn.writer.is_closing():
            raise ConnectionError(f"terminal {terminal_id} is not connected")
        stan = request["11"]
        waiting: asyncio.Future[IsoMessage] = asyncio.get_running_loop().create_future()
        conn.awaiting[stan] = waiting
        try:
            self._send(conn.writer, request, self.profile.header.answer(conn.header))
            async with asyncio.timeout(timeout):
                return await waiting
        finally:
            conn.awaiting.pop(stan, None)

    def _send(self, writer: asyncio.StreamWriter, response: IsoMessage, header: bytes = b"",
              copies: int = 1) -> None:
        try:
            frame = self.framing.frame(header + self.profile.encode(response))
        except (WireError, FrameError):
            log.exception("could not encode the response to STAN %s", response.get("11"))
            return
        self._write(writer, frame * copies)

    @staticmethod
    def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
        if writer.is_closing():
            return
        try:
            writer.write(data)
        except (ConnectionError, OSError):
            pass


def _handshake_failure(exc: BaseException, timeout: float) -> str:
    """Why a TLS handshake failed, in words an operator can act on."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, (TimeoutError, ConnectionAbortedError)):
        return (f"no complete TLS handshake within {timeout:g} s "
                "(switch.tls_handshake_timeout)")
    return f"connection lost during the TLS handshake ({exc})"


def _open_spare() -> int | None:
    """A descriptor held in reserve for ``_out_of_descriptors``."""
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
