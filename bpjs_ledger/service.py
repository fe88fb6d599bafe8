"""The ledger on the bus: balance inquiries in over MQTT, answers out (DESIGN.md contract).

``parse_request`` checks a request and ``reply_for`` builds the reply JSON; both are pure.
``LedgerService`` joins them to a ``LedgerStore`` and a ``Bus``; ``run_ledger`` owns the
buses and stores of N workers and serves until told to stop (the CLI's entry point).

A request that cannot be understood gets an ERROR reply saying why, never a traceback,
and the service keeps answering. Messages that are not JSON objects, or have no
``reply_to``, cannot be answered; the bus drops and logs them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from atmsim.bus import Bus, MqttBus, MqttEndpoint
from atmsim.masking import mask_digits_in_text
from bpjs_ledger.identity import IdentityError, Kpj, Nik, parse_kpj, parse_nik
from bpjs_ledger.store import BalanceAnswer, BalanceResult, LedgerStore

__all__ = [
    "BALANCE_REQUEST_TOPIC",
    "SHARED_GROUP",
    "BadRequest",
    "BalanceRequest",
    "LedgerService",
    "error_reply",
    "parse_request",
    "reply_for",
    "run_ledger",
]

log = logging.getLogger("atmsim.ledger")

BALANCE_REQUEST_TOPIC = "bpjs/jht/v1/balance/req"
SHARED_GROUP = "bpjs-ledger"
CURRENCY = "IDR"

_MAX_TEXT = 128  # longest id / reply_to / channel / terminal id accepted
_REPLY_KEYS = ("kpj", "name", "status", "balance_sen", "currency", "as_of", "segment",
               "last_contribution")


class BadRequest(ValueError):
    """A request that does not follow the contract; the message says which field."""


@dataclass(frozen=True)
class BalanceRequest:
    id: str
    reply_to: str
    nik: Nik
    kpj: Kpj | None  # None: the participant of that NIK
    channel: str
    terminal_id: str
    requested_at: datetime


def parse_request(body: Mapping[str, Any]) -> BalanceRequest:
    """Check a balance request against the contract; unknown extra keys are ignored.

    >>> parse_request({"id": "1", "reply_to": "r", "nik": "3171011505850001", "kpj": None,
    ...                "channel": "ATM", "terminal_id": "BNI00001",
    ...                "requested_at": "2026-11-02T10:00:00+07:00"}).kpj is None
    True
    >>> parse_request({"id": "1"})
    Traceback (most recent call last):
    ...
    bpjs_ledger.service.BadRequest: reply_to: missing
    """
    request_id = _text(body, "id")
    reply_to = _text(body, "reply_to")
    try:
        nik = parse_nik(_required(body, "nik"))
        kpj_value = _required(body, "kpj", nullable=True)
        kpj = None if kpj_value is None else parse_kpj(kpj_value)
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    channel = _text(body, "channel")
    terminal_id = _text(body, "terminal_id")
    requested_at_text = _text(body, "requested_at")
    try:
        requested_at = datetime.fromisoformat(requested_at_text)
    except ValueError:
        raise BadRequest("requested_at: not an ISO 8601 date-time") from None
    return BalanceRequest(request_id, reply_to, nik, kpj, channel, terminal_id, requested_at)


def reply_for(request_id: str | None, answer: BalanceAnswer) -> dict[str, Any]:
    """The reply JSON for an answer: every key present, participant keys null unless OK."""
    if answer.result is not BalanceResult.OK:
        return {"id": request_id, "result": answer.result.value,
                **dict.fromkeys(_REPLY_KEYS)}
    return {
        "id": request_id,
        "result": BalanceResult.OK.value,
        "kpj": answer.kpj,
        "name": answer.name,
        "status": None if answer.status is None else answer.status.value,
        "balance_sen": answer.balance_sen,
        "currency": CURRENCY,
        "as_of": None if answer.as_of is None else answer.as_of.isoformat(),
        "segment": answer.segment,
        "last_contribution": answer.last_contribution,
    }


def error_reply(request_id: str | None, reason: str) -> dict[str, Any]:
    """An ERROR reply; ``reason`` starts with "bad request:" or "internal error:"."""
    return {**reply_for(request_id, BalanceAnswer(BalanceResult.ERROR)), "reason": reason}


class LedgerService:
    """Answers balance inquiries from ``store`` on ``bus``; ``start`` registers it."""

    def __init__(self, store: LedgerStore, bus: Bus) -> None:
        self.store = store
        self.bus = bus

    def start(self) -> None:
        self.bus.serve(BALANCE_REQUEST_TOPIC, self.handle, shared_group=SHARED_GROUP)

    async def handle(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request in, one reply out; never raises for anything a client sends."""
        raw_id = body.get("id")
        request_id = raw_id if isinstance(raw_id, str) else None
        try:
            request = parse_request(body)
        except BadRequest as exc:
            log.warning("request %s refused: %s", request_id, exc)
            return error_reply(request_id, f"bad request: {exc}")
        try:
            # A blocking sqlite3 call on the event loop, on purpose: an indexed lookup of
            # one row takes some tens of microseconds, far less than a thread hop.
            answer = self.store.balance(request.nik.value,
                                        None if request.kpj is None else request.kpj.value)
        except sqlite3.Error:
            log.exception("ledger storage failed for request %s", request_id)
            return error_reply(request_id, "internal error: ledger storage unavailable")
        log.debug("request %s from %s/%s nik %s: %s", request_id, request.channel,
                  request.terminal_id, mask_digits_in_text(request.nik.value), answer.result)
        return reply_for(request_id, answer)


async def run_ledger(db_path: Path, endpoint: MqttEndpoint, *, workers: int = 1,
                     stop: asyncio.Event | None = None, demo_as_of: date | None = None,
                     ready: asyncio.Event | None = None) -> None:
    """Serve balance inquiries from ``db_path`` on ``endpoint`` until ``stop`` is set (or
    the task is cancelled). Creates and seeds a fresh file first.

    Each worker has its own bus client and its own SQLite connection; the broker's shared
    subscription splits requests among them. Without shared subscriptions (amqtt) every
    worker would answer every request, so only one runs. ``ready`` is set once every
    worker is connected and subscribed.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and not endpoint.shared_subscriptions:
        log.warning("broker %s has no shared subscriptions: running 1 ledger worker, not %d",
                    endpoint.url, workers)
        workers = 1
    # Creating the schema and seeding is the one long write: keep it off the event loop.
    await asyncio.to_thread(_prepare, db_path, demo_as_of)
    async with AsyncExitStack() as stack:
        stack.callback(log.info, "ledger stopped")
        buses: list[MqttBus] = []
        for number in range(1, workers + 1):
            store = stack.enter_context(LedgerStore(db_path, seed_demo=False))
            bus = MqttBus(endpoint, f"ledger-{number}")
            # Register before connecting: the bus then subscribes before it reports
            # connected, so "connected" means "answering".
            LedgerService(store, bus).start()
            buses.append(await stack.enter_async_context(bus))
        log.info("ledger serving %s with %d worker(s) on %s", db_path, workers, endpoint.url)
        if ready is not None:
            announcer = asyncio.create_task(_announce_ready(buses, ready))
            stack.push_async_callback(_cancel, announcer)
        await (stop or asyncio.Event()).wait()


def _prepare(db_path: Path, demo_as_of: date | None) -> None:
    with LedgerStore(db_path, demo_as_of=demo_as_of):
        pass


async def _announce_ready(buses: list[MqttBus], ready: asyncio.Event) -> None:
    for bus in buses:
        while not await bus.wait_connected(timeout=60):
            pass
    ready.set()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def _required(body: Mapping[str, Any], key: str, *, nullable: bool = False) -> Any:
    if key not in body:
        raise BadRequest(f"{key}: missing")
    value = body[key]
    if value is None and not nullable:
        raise BadRequest(f"{key}: must not be null")
    return value


def _text(body: Mapping[str, Any], key: str) -> str:
    value = _required(body, key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key}: must be a non-empty string")
    if len(value) > _MAX_TEXT:
        raise BadRequest(f"{key}: longer than {_MAX_TEXT} characters")
    return value
