"""The switch's TCP server: ATM connections in, 0210/0810 out.

Each connection reads frames in a loop and hands each request to its own task, so many
requests are in flight per connection (bounded by ``max_in_flight``) and each reply is
written as soon as it is ready; the ATM matches replies by fields 41 + 11. A frame that
cannot be decoded is answered with response code 30 when enough of it can be read to
address an answer (a request MTI and field 11), otherwise dropped and logged. A broken
length header closes that one connection. Nothing a peer sends can stop the server or the
other connections. Requests are dispatched on their MTI through ``handlers``; a request
MTI without a handler is answered 12, and anything that is not a request is dropped.

Connections: one that sends no new frame for ``idle_timeout`` seconds (and has no
request in flight) is closed, and so is one whose started frame is not complete after
``frame_timeout`` seconds. At most ``max_connections`` are open at once; one more is
accepted and closed at once. The server runs its own accept loop rather than asyncio's,
so that running out of file descriptors is the switch's to handle: it says so in the log
(at most once per ``repeat_interval``), keeps serving the connections it has, refuses the
waiting ones at once through a spare descriptor instead of leaving them hanging in the
backlog, and accepts again as soon as descriptors are free.

Overload: at most ``max_pending`` inquiries are worked on switch-wide; one more is
answered 91 at once, without asking the HSM or the ledger. Without that bound an offered
load above capacity queues without limit, every inquiry ends up outliving its HSM and
ledger deadlines, and the switch spends all its time on answers nobody waits for (measured:
at 1,000/s offered against ~450/s capacity, 2 answers/s came back in time).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from atm_switch.events import EVENTS_TOPIC, transaction_event
from atm_switch.inquiry import ECHOED_FIELDS, SwitchDeps, build_response, run_balance_inquiry
from atm_switch.message_types import response_mti
from atm_switch.network_management import answer_network_management
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import FrameError, Framing, IsoMessage, WireError, WireProfile, read_frame

__all__ = ["SwitchServer", "Handler"]

log = logging.getLogger("atmsim.switch")

_DUPLICATE_WINDOW = 300.0  # seconds a (terminal, STAN, time, PAN) key is remembered
# Inquiries worked on at once, switch-wide, before more are answered 91 at once. At the
# measured capacity (1,000-2,000/s on 2 cores) this bounds the time spent in the switch to
# about half a second, well inside the HSM (2 s) and ledger (5 s) deadlines.
DEFAULT_MAX_PENDING = 1000
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_FRAME_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 2000
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_RETRY = 0.1  # seconds between accept attempts while descriptors are short
# Descriptors kept for the switch's own use (HSM link, broker, databases, log file, the
# event loop, a spare): ATM connections beyond the limit minus these are refused at once,
# so that ATMs alone can never leave the switch unable to reach its HSM or its ledger.
_FD_RESERVE = 64

# A handler answers one decoded request: the response (None: no answer) and a reason
# for the log and the event.
Handler = Callable[[IsoMessage, set[str]], Awaitable[tuple[IsoMessage | None, str]]]


@dataclass(eq=False)
class _Connection:
    """One ATM connection as the housekeeping sees it."""

    peer: str
    writer: asyncio.StreamWriter
    deadline: float = math.inf  # monotonic time by which the next frame must be complete
    in_frame: bool = False  # the first byte of a frame has arrived, the rest has not
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    closed_for: str = ""  # why the switch closed it, for the connection's last log line


class _DuplicateGuard:
    """Remembers recent request keys; a repeat within the window is a duplicate (94)."""

    def __init__(self, window: float, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self._window = window
        self._capacity = capacity

    def is_duplicate(self, key: tuple[str, ...]) -> bool:
        now = time.monotonic()
        while self._seen:
            _, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self._window and len(self._seen) < self._capacity:
                break
            self._seen.popitem(last=False)
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


class SwitchServer:
    def __init__(self, deps: SwitchDeps, profile: WireProfile, framing: Framing, *,
                 host: str = "127.0.0.1", port: int = 8583, max_in_flight: int = 256,
                 max_pending: int = DEFAULT_MAX_PENDING,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 repeat_interval: float = 60.0) -> None:
        self.deps = deps
        self.profile = profile
        self.framing = framing
        self.host = host
        self._port = port
        self.max_in_flight = max_in_flight
        self.max_pending = max_pending
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.max_connections = max_connections
        self._pending = 0  # balance inquiries in the pipeline, all connections together
        self._shed = 0  # answered 91 because of max_pending
        self.refused = 0  # connections closed at once: over the cap or out of descriptors
        self._sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []  # accept loops and the housekeeping
        self._spare_fd: int | None = None
        self._fd_cap = max_connections  # connections the descriptor limit leaves room for
        self._open: set[_Connection] = set()
        # Connections accepted and not yet ended, counted at accept: a connection's own
        # task starts a loop round later, too late for the next accept's cap check.
        self._admitted = 0
        self._connections: set[asyncio.Task[None]] = set()
        self._duplicates = _DuplicateGuard(_DUPLICATE_WINDOW)
        self._warn = RateLimitedLog(log, repeat_interval)
        # MTI -> handler. Requests of another MTI are answered 12 (``_unsupported``).
        self.handlers: dict[str, Handler] = {
            "0200": self._balance_inquiry,
            "0800": self._network_management,
        }

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
        log.info("switch listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._close_sockets()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
        self._warn.flush()

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
            await self._admit(conn, loop)

    async def _admit(self, conn: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        conn.setblocking(False)
        reader = asyncio.StreamReader(limit=self.framing.max_frame * 2)
        protocol = asyncio.StreamReaderProtocol(reader, self._accept)
        self._admitted += 1
        try:
            await loop.connect_accepted_socket(lambda: protocol, conn)
        except OSError as exc:
            self._admitted -= 1
            conn.close()
            self._warn.warning("accept", "cannot take a connection: %s", exc)

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
        signed_on: set[str] = set()
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
                task = asyncio.create_task(self._answer(raw, writer, signed_on))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: slots.release())
        except (ConnectionError, OSError) as exc:
            log.info("connection %s lost: %s", peer, exc)
        finally:
            if in_flight:
                # Let answers already being worked on reach the ATM if it is still there.
                await asyncio.wait(in_flight, timeout=self.deps.hsm_deadline
                                   + self.deps.ledger_deadline + 1)
            self._open.discard(conn)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            log.info("ATM %s disconnected%s", peer,
                     f": {conn.closed_for}" if conn.closed_for else "")

    # -- one request ------------------------------------------------------------------

    async def _answer(self, raw: bytes, writer: asyncio.StreamWriter, signed_on: set[str]) -> None:
        started = time.perf_counter()
        reason = ""
        try:
            request = self.profile.decode(raw)
        except WireError as exc:
            response = self._format_error_response(exc.partial)
            if response is None:
                self._warn.warning("unanswerable", "dropped a message that cannot be "
                                   "answered (%s; no request MTI and field 11 to address "
                                   "an answer): %s", exc, _describe(exc.partial))
                return
            self._warn.warning("format error", "format error from terminal %r STAN %s: %s",
                               response.get("41", "?"), response.get("11"), exc)
            request, reason = exc.partial, str(exc)
        else:
            response, reason = await self._dispatch(request, signed_on)
            if response is None:
                return
        self._send(writer, response)
        latency_ms = (time.perf_counter() - started) * 1000
        if log.isEnabledFor(logging.INFO):  # the arguments cost more than a skipped call
            log.info("%s %s term=%s stan=%s pan=%s rc=%s %.1fms%s", request.get("t"),
                     response["t"], request.get("41"), request.get("11"),
                     mask_pan(request["2"]) if request.get("2") else "-",
                     response.get("39"), latency_ms, f" ({reason})" if reason else "")
        self._publish_event(request, response, latency_ms, reason)

    async def _dispatch(self, request: IsoMessage,
                        signed_on: set[str]) -> tuple[IsoMessage | None, str]:
        handler = self.handlers.get(request["t"])
        if handler is not None:
            return await handler(request, signed_on)
        return self._unsupported(request)

    async def _balance_inquiry(self, request: IsoMessage,
                               signed_on: set[str]) -> tuple[IsoMessage | None, str]:
        key = tuple(request.get(f, "") for f in ("41", "11", "7", "2"))
        if self._duplicates.is_duplicate(key):
            return self._reply_with(request, ResponseCode.DUPLICATE, ECHOED_FIELDS), \
                "duplicate of a recent request"
        if self._pending >= self.max_pending:
            self._note_shed()
            return self._reply_with(request, ResponseCode.UNAVAILABLE, ECHOED_FIELDS), \
                f"switch busy: {self._pending} inquiries in progress"
        self._pending += 1
        try:
            ctx = await run_balance_inquiry(request, self.deps)
        finally:
            self._pending -= 1
        return build_response(ctx), ctx.reason

    async def _network_management(self, request: IsoMessage,
                                  signed_on: set[str]) -> tuple[IsoMessage | None, str]:
        known = self.deps.cards.terminal(request.get("41", "")) is not None
        return answer_network_management(request, known, signed_on), ""

    def _unsupported(self, request: IsoMessage) -> tuple[IsoMessage | None, str]:
        """A request or advice of an MTI this switch does not handle gets its response MTI
        with 12; anything else (a response, a notification) is dropped."""
        mti = request["t"]
        if response_mti(mti) is not None:
            return self._reply_with(request, ResponseCode.UNSUPPORTED_TRANSACTION,
                                    _echoed_for(mti)), f"MTI {mti} not supported"
        self._warn.warning("unexpected MTI", "dropped a message with MTI %s from terminal %r: "
                           "not a request", mti, request.get("41", "?"))
        return None, ""

    def _note_shed(self) -> None:
        self._shed += 1
        if self._shed == 1 or self._shed % 1000 == 0:
            log.warning("switch busy: %d inquiries answered 91 at once so far (more than %d "
                        "in progress)", self._shed, self.max_pending)

    def _reply_with(self, request: IsoMessage, code: ResponseCode,
                    echoed: tuple[str, ...]) -> IsoMessage:
        mti = response_mti(request["t"])
        assert mti is not None
        response: IsoMessage = {"t": mti}
        for number in echoed:
            if number in request:
                try:
                    self.profile.check_field(number, request[number])
                except WireError:
                    continue  # never echo a field that broke the format
                response[number] = request[number]
        response["39"] = code.value
        return dict(sorted(response.items(), key=lambda kv: -1 if kv[0] == "t" else int(kv[0])))

    def _format_error_response(self, partial: IsoMessage) -> IsoMessage | None:
        mti = partial.get("t", "")
        if response_mti(mti) is None:
            return None
        if "11" not in partial:
            return None  # no STAN: the ATM could not match the answer to its request
        return self._reply_with(partial, ResponseCode.FORMAT_ERROR, _echoed_for(mti))

    def _send(self, writer: asyncio.StreamWriter, response: IsoMessage) -> None:
        if writer.is_closing():
            return
        try:
            writer.write(self.framing.frame(self.profile.encode(response)))
        except (WireError, FrameError):
            log.exception("could not encode the response to STAN %s", response.get("11"))
        except (ConnectionError, OSError):
            pass

    def _publish_event(self, request: IsoMessage, response: IsoMessage, latency_ms: float,
                       reason: str) -> None:
        # Queued, not awaited: nobody waits for an event, and a task per inquiry to wait
        # for the broker's PUBACK cost more than the event itself.
        event = transaction_event(request, response, latency_ms, reason)
        if not self.deps.bus.publish_soon(EVENTS_TOPIC, event):
            log.debug("event for STAN %s not published: broker unavailable", event.get("stan"))


def _echoed_for(mti: str) -> tuple[str, ...]:
    """The fields an answer to ``mti`` copies: network management echoes its own set."""
    return ("7", "11", "32", "37", "41", "70") if mti[1] == "8" else ECHOED_FIELDS


def _describe(partial: IsoMessage) -> str:
    """What was read of a message that could not be answered, PAN masked."""
    if not partial:
        return "nothing readable"
    shown = {k: (mask_pan(v) if k == "2" else v) for k, v in partial.items()
             if k in ("t", "2", "11", "41")}
    return ", ".join(f"{'MTI' if k == 't' else 'field ' + k} {v!r}" for k, v in shown.items())


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
