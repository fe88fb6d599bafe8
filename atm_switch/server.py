"""The switch's TCP server: ATM connections in, 0210/0810 out.

Each connection reads frames in a loop and hands each request to its own task, so many
requests are in flight per connection (bounded by ``max_in_flight``) and each reply is
written as soon as it is ready; the ATM matches replies by fields 41 + 11. A frame that
cannot be decoded is answered with response code 30 when enough of it was read to address
an answer (MTI, 11, 41), otherwise dropped and logged. A broken length header closes that
one connection. Nothing a peer sends can stop the server or the other connections.
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
                 host: str = "127.0.0.1", port: int = 8583, max_in_flight: int = 256) -> None:
        self.deps = deps
        self.profile = profile
        self.framing = framing
        self.host = host
        self._port = port
        self.max_in_flight = max_in_flight
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._event_tasks: set[asyncio.Task[None]] = set()
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
        for task in list(self._connections) + list(self._event_tasks):
            task.cancel()
        await asyncio.gather(*self._connections, *self._event_tasks, return_exceptions=True)
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
        log.info("%s %s term=%s stan=%s pan=%s rc=%s %.1fms%s", request.get("t"), response["t"],
                 request.get("41"), request.get("11"),
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
            ctx = await run_balance_inquiry(request, self.deps)
            return build_response(ctx), ctx.reason
        if mti == "0800":
            known = self.deps.cards.terminal(request.get("41", "")) is not None
            return answer_network_management(request, known, signed_on), ""
        if mti[2] in "02" and mti[3] == "0":  # another request or advice class: not ours
            return self._reply_with(request, ResponseCode.UNSUPPORTED_TRANSACTION,
                                    ECHOED_FIELDS), f"MTI {mti} not supported"
        log.warning("dropped an unexpected message with MTI %s", mti)
        return None, ""

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
        event = transaction_event(request, response, latency_ms, reason)
        task = asyncio.create_task(self._publish(event))
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)

    async def _publish(self, event: dict[str, object]) -> None:
        if not await self.deps.bus.publish(EVENTS_TOPIC, event):
            log.debug("event for STAN %s not published: broker unavailable", event.get("stan"))


def _peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
