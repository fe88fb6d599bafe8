"""The bot between the webhook and the world: each inbound message once (by its wamid),
at most ``rate`` messages a minute per wa_id, one conversation turn at a time per user,
the ledger asked over MQTT (``channel: "whatsapp"``), the replies sent through the Graph
API, and a masked event per conversation step on ``atmsim/v1/events/whatsapp``.

Events carry the masked wa_id, the message id, the step before and after, what kind of
input it was (a menu choice's id; never the text typed), the ledger request's kind and
result, and the latency: never a NIK, KPJ, birth date, name or complaint text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from atmsim.kernel.bus import Bus, BusError
from atmsim.kernel.masking import mask_phone
from atmsim.kernel.rate_limits import TokenBucket
from whatsapp_bot.conversation import LedgerAsk, Session, Turn, answered, handle
from whatsapp_bot.graph_json import Reply, Text
from whatsapp_bot.texts import say
from whatsapp_bot.webhook import Inbound

__all__ = ["EVENTS_TOPIC", "TOPICS", "ChatService", "Limits"]

log = logging.getLogger("atmsim.whatsapp")

EVENTS_TOPIC = "atmsim/v1/events/whatsapp"
TOPICS = {"membership": "bpjs/jht/v1/membership/req", "bsu": "bpjs/jht/v1/bsu/req",
          "complaint": "bpjs/jht/v1/complaint/post"}
CHANNEL = "whatsapp"


class Sender(Protocol):
    async def send(self, reply: Reply, to: str) -> str: ...


@dataclass(frozen=True)
class Limits:
    rate_per_minute: int = 20  # messages a wa_id may send a minute (a burst of as many)
    session_idle: float = 600.0  # seconds without a message, then the session is forgotten
    seen_ids: int = 100_000  # message ids remembered for dedup
    ledger_deadline: float = 5.0


class ChatService:
    """One bot: ``await service.receive(message)`` for each inbound message."""

    def __init__(self, bus: Bus, sender: Sender, *, limits: Limits = Limits(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus, self.sender, self.limits, self._clock = bus, sender, limits, clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._sessions: dict[str, tuple[Session, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._buckets = TokenBucket(limits.rate_per_minute, 60.0, clock=clock)
        self._purged_at = clock()
        self.processed = 0
        self.duplicates = 0
        self.rate_limited = 0

    def first_time(self, message_id: str) -> bool:
        """True the first time a message id is seen (Meta delivers again when unsure)."""
        if message_id in self._seen:
            self._seen.move_to_end(message_id)
            return False
        self._seen[message_id] = None
        while len(self._seen) > self.limits.seen_ids:
            self._seen.popitem(last=False)
        return True

    def _allowed(self, wa_id: str) -> tuple[bool, bool]:
        """(allowed, tell the user they are limited: once per spell)."""
        if self._buckets.allow(wa_id):
            return True, False
        return False, self._buckets.refused(wa_id) == 1

    def _session(self, wa_id: str) -> Session:
        now = self._clock()
        held = self._sessions.get(wa_id)
        if held is None or now - held[1] > self.limits.session_idle:
            session = Session(wa_id)
        else:
            session = held[0]
        self._sessions[wa_id] = (session, now)
        if now - self._purged_at > 60:
            # An idle session's identity (NIK, birth date) must not outlive it in memory.
            self._purged_at = now
            for key, (_, at) in list(self._sessions.items()):
                if now - at > self.limits.session_idle:
                    del self._sessions[key]
        return session

    async def receive(self, message: Inbound) -> None:
        """Process one inbound message (a duplicate id does nothing)."""
        if not self.first_time(message.message_id):
            self.duplicates += 1
            log.info("message %s delivered again: ignored", message.message_id[:64])
            return
        lock = self._locks.setdefault(message.wa_id, asyncio.Lock())
        async with lock:
            await self._turn(message)
        if not lock.locked() and len(self._locks) > 10_000:
            self._locks.pop(message.wa_id, None)

    async def _turn(self, message: Inbound) -> None:
        started = time.perf_counter()
        allowed, tell = self._allowed(message.wa_id)
        session = self._session(message.wa_id)
        if not allowed:
            self.rate_limited += 1
            if tell:
                await self._send([Text(say("rate_limited", session.lang))], message.wa_id)
            self._event(message, session.step, session.step, "rate_limited", None, started)
            return
        before = session.step
        turn = handle(session, message)
        ledger: dict[str, Any] | None = None
        if turn.ask is not None:
            reply = await self._ask(turn.ask, message)
            ledger = {"kind": turn.ask.kind,
                      "result": None if reply is None else reply.get("result")}
            turn = Turn(turn.replies + answered(session, turn.ask, reply).replies)
        self.processed += 1
        await self._send(turn.replies, message.wa_id)
        self._event(message, before, session.step,
                    f"choice:{message.choice}"[:48] if message.kind == "choice"
                    else message.kind, ledger, started)

    async def _ask(self, ask: LedgerAsk, message: Inbound) -> dict[str, Any] | None:
        payload = {**ask.fields, "channel": CHANNEL, "terminal_id": "WA-0813-8007-0175",
                   "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}
        if ask.kind == "complaint":
            payload["key"] = message.message_id  # the confirming message: filed once
        try:
            # A complaint is filed (a write): at QoS 1 whatever the questions go at.
            return await self.bus.request(TOPICS[ask.kind], payload,
                                          self.limits.ledger_deadline,
                                          qos=1 if ask.kind == "complaint" else None)
        except BusError as exc:
            log.warning("ledger %s request for %s failed: %s", ask.kind,
                        mask_phone(message.wa_id), type(exc).__name__)
            return None

    async def _send(self, replies: list[Reply], wa_id: str) -> None:
        for reply in replies:
            try:
                await self.sender.send(reply, wa_id)
            except Exception as exc:  # GraphError, or a broken reply: log, go on
                log.warning("reply to %s not sent: %s", mask_phone(wa_id), exc)
                return

    def _event(self, message: Inbound, before: str, after: str, input_kind: str,
               ledger: dict[str, Any] | None, started: float) -> None:
        self.bus.publish_soon(EVENTS_TOPIC, {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "channel": CHANNEL, "wa_id": mask_phone(message.wa_id),
            "message_id": message.message_id[:128], "step_before": before,
            "step_after": after, "input": input_kind,
            "ledger": ledger, "latency_ms": round((time.perf_counter() - started) * 1000, 3)})
