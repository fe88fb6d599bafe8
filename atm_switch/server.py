"""The switch's TCP server: ATM connections in, 0210/0810 out.

Each connection reads frames in a loop and hands each request to its own task, so many
requests are in flight per connection (bounded by ``max_in_flight``) and each reply is
written as soon as it is ready; the ATM matches replies by fields 41 + 11. A frame that
cannot be decoded is answered with response code 30 when enough of it was read to address
an answer (MTI, 11, 41), otherwise dropped and logged. A broken length header closes that
one connection. Nothing a peer sends can stop the server or the other connections.

Overload: at most ``max_pending`` inquiries are worked on switch-wide; one more is
answered 91 at once, without asking the HSM or the ledger. Without that bound an offered
load above capacity queues without limit, every inquiry ends up outliving its HSM and
ledger deadlines, and the switch spends all its time on answers nobody waits for (measured:
at 1,000/s offered against ~450/s capacity, 2 answers/s came back in time).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict

from atm_switch.events import EVENTS_TOPIC, transaction_event
from atm_switch.inquiry import ECHOED_FIELDS, SwitchDeps, build_response, run_balance_inquiry
from atm_switch.network_management import answer_network_management
from atm_switch.response_codes import ResponseCode
from atm_switch.wire import FrameError, Framing, IsoMessage, WireError, WireProfile, read_frame
from atmsim.masking import mask_pan

__all__ = ["SwitchServer"]

log = logging.getLogger("atmsim.switch")

_DUPLICATE_WINDOW = 300.0  # seconds a (terminal, STAN, time, PAN) key is remembered
# Inquiries worked on at once, switch-wide, before more are answered 91 at once. At the
# measured capacity (1,000-2,000/s on 2 cores) this bounds the time spent in the switch to
# about half a second, well inside the HSM (2 s) and ledger (5 s) deadlines.
DEFAULT_MAX_PENDING = 1000


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
                 max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.deps = deps
        self.profile = profile
        self.framing = framing
        self.host = host
        self._port = port
        self.max_in_flight = max_in_flight
        self.max_pending = max_pending
        self._pending = 0  # balance inquiries in the pipeline, all connections together
        self._shed = 0  # answered 91 because of max_pending
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._duplicates = _DuplicateGuard(_DUPLICATE_WINDOW)

    @property
    def port(self) -> int:
        if self._server and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self._port, reuse_address=True,
            limit=self.framing.max_frame * 2)
        log.info("switch listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server:
            await self._server.wait_closed()
            self._server = None

    # -- connections ------------------------------------------------------------------

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

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("ATM connected from %s", _peer(peer))
        slots = asyncio.Semaphore(self.max_in_flight)
        in_flight: set[asyncio.Task[None]] = set()
        signed_on: set[str] = set()
        try:
            while True:
                try:
                    raw = await read_frame(reader, self.framing)
                except FrameError as exc:
                    log.warning("closing %s: %s", _peer(peer), exc)
                    break
                except asyncio.IncompleteReadError:
                    log.warning("closing %s: connection closed in the middle of a frame",
                                _peer(peer))
                    break
                if raw is None:
                    break
                await slots.acquire()
                task = asyncio.create_task(self._answer(raw, writer, signed_on))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: slots.release())
        except (ConnectionError, OSError) as exc:
            log.info("connection %s lost: %s", _peer(peer), exc)
        finally:
            if in_flight:
                # Let answers already being worked on reach the ATM if it is still there.
                await asyncio.wait(in_flight, timeout=self.deps.hsm_deadline
                                   + self.deps.ledger_deadline + 1)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            log.info("ATM %s disconnected", _peer(peer))

    # -- one request ------------------------------------------------------------------

    async def _answer(self, raw: bytes, writer: asyncio.StreamWriter, signed_on: set[str]) -> None:
        started = time.perf_counter()
        reason = ""
        try:
            request = self.profile.decode(raw)
        except WireError as exc:
            log.warning("format error: %s", exc)
            response = self._format_error_response(exc.partial)
            if response is None:
                return
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
        mti = request["t"]
        if mti == "0200":
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
        if mti == "0800":
            known = self.deps.cards.terminal(request.get("41", "")) is not None
            return answer_network_management(request, known, signed_on), ""
        if mti[2] in "02" and mti[3] == "0":  # another request or advice class: not ours
            return self._reply_with(request, ResponseCode.UNSUPPORTED_TRANSACTION,
                                    ECHOED_FIELDS), f"MTI {mti} not supported"
        log.warning("dropped an unexpected message with MTI %s", mti)
        return None, ""

    def _note_shed(self) -> None:
        self._shed += 1
        if self._shed == 1 or self._shed % 1000 == 0:
            log.warning("switch busy: %d inquiries answered 91 at once so far (more than %d "
                        "in progress)", self._shed, self.max_pending)

    def _reply_with(self, request: IsoMessage, code: ResponseCode,
                    echoed: tuple[str, ...]) -> IsoMessage:
        mti = request["t"]
        response: IsoMessage = {"t": mti[:2] + str(int(mti[2]) + 1) + mti[3]}
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
        if len(mti) != 4 or not mti.isdigit() or mti[2] not in "02" or mti[3] != "0":
            return None
        if "11" not in partial:
            return None  # no STAN: the ATM could not match the answer to its request
        echoed = ECHOED_FIELDS if mti != "0800" else ("7", "11", "41", "70")
        return self._reply_with(partial, ResponseCode.FORMAT_ERROR, echoed)

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


def _peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
