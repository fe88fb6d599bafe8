"""The switch's side of the ledger contract: one balance request over the bus.

Builds the request JSON of docs/ledger.md, waits within the ledger deadline, and checks
the reply before anything of it reaches field 54: a reply that is not what the contract says is
treated as an internal error, never passed on.

With tracing on, the request is a CLIENT span whose W3C ``traceparent`` goes with it (an
MQTT 5 user property, or the ``traceparent`` key of the JSON on MQTT 3.1.1), so that the
ledger's spans join the inquiry's trace. The span names the topic, the request id and
the ledger's result; never the NIK or KPJ.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from atmsim.kernel import otel
from atmsim.kernel.bus import Bus, BusTimeout

__all__ = ["BALANCE_TOPIC", "LedgerReply", "LedgerReplyInvalid", "request_balance"]

BALANCE_TOPIC = "bpjs/jht/v1/balance/req"
RETRY_AFTER = 1.0  # seconds without an answer before the same request is sent again
_LAST_ATTEMPT_MARGIN = 0.05  # no new attempt when less than this is left


# Request ids need only be unique among this process's requests (replies come back on its
# own reply topic): a random prefix and a counter, instead of a uuid4 (an urandom system
# call) per inquiry.
_ID_PREFIX = uuid.uuid4().hex[:12]
_ID_COUNTER = itertools.count(1)


def next_request_id() -> str:
    return f"{_ID_PREFIX}-{next(_ID_COUNTER)}"


class LedgerReplyInvalid(ValueError):
    """The ledger answered something that breaks the contract."""


@dataclass(frozen=True)
class LedgerReply:
    result: str
    kpj: str | None = None
    name: str | None = None
    status: str | None = None
    balance_sen: int | None = None
    as_of: str | None = None  # ISO date
    segment: str | None = None


async def request_balance(bus: Bus, *, nik: str, kpj: str | None, terminal_id: str,
                          deadline: float) -> LedgerReply:
    """Ask the ledger for the balance; raises the bus errors on timeout or no broker."""
    if otel.tracer("switch") is not None:
        return await _traced_request(bus, nik=nik, kpj=kpj, terminal_id=terminal_id,
                                     deadline=deadline)
    return await _request(bus, nik=nik, kpj=kpj, terminal_id=terminal_id, deadline=deadline)


async def _traced_request(bus: Bus, *, nik: str, kpj: str | None, terminal_id: str,
                          deadline: float) -> LedgerReply:
    with otel.span("switch", f"{BALANCE_TOPIC} request", "client", {
            "messaging.system": "mqtt", "messaging.destination.name": BALANCE_TOPIC,
            "messaging.operation.type": "send"}) as span:
        reply = await _request(bus, nik=nik, kpj=kpj, terminal_id=terminal_id,
                               deadline=deadline, headers=otel.inject())
        if span is not None:
            span.set_attribute("atmsim.ledger.result", reply.result)
        return reply


async def _request(bus: Bus, *, nik: str, kpj: str | None, terminal_id: str, deadline: float,
                   headers: dict[str, str] | None = None) -> LedgerReply:
    request = {
        "id": next_request_id(),
        "nik": nik,
        "kpj": kpj,
        "channel": "ATM",
        "terminal_id": terminal_id,
        "requested_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    loop = asyncio.get_running_loop()
    ends = loop.time() + deadline
    # A ledger worker that dies after taking a request never answers it (no persistent
    # sessions): ask again, with the same id, while the deadline allows. Another worker
    # answers; a late answer to the first attempt completes the current one just as well.
    retry_after = min(RETRY_AFTER, deadline / 3)
    while True:
        remaining = ends - loop.time()
        try:
            timeout = min(retry_after, remaining)
            reply = await (bus.request(BALANCE_TOPIC, request, timeout, headers=headers)
                           if headers else bus.request(BALANCE_TOPIC, request, timeout))
        except BusTimeout:
            if ends - loop.time() <= _LAST_ATTEMPT_MARGIN:
                raise
            continue
        return parse_reply(reply)


def parse_reply(reply: dict[str, object]) -> LedgerReply:
    result = reply.get("result")
    if result not in ("OK", "NOT_FOUND", "FORBIDDEN", "ERROR"):
        raise LedgerReplyInvalid(f"unknown result {result!r}")
    if result != "OK":
        return LedgerReply(str(result))
    balance = reply.get("balance_sen")
    # bool is an int subclass; a float would mean someone broke the integer-sen rule.
    if not isinstance(balance, int) or isinstance(balance, bool):
        raise LedgerReplyInvalid("balance_sen is not an integer")
    kpj, name, status, as_of = (reply.get(k) for k in ("kpj", "name", "status", "as_of"))
    if not (isinstance(kpj, str) and len(kpj) == 11 and kpj.isdigit()):
        raise LedgerReplyInvalid("kpj is not 11 digits")
    if status not in ("AKTIF", "NONAKTIF"):
        raise LedgerReplyInvalid(f"unknown status {status!r}")
    if not isinstance(name, str) or not isinstance(as_of, str) or len(as_of) < 10:
        raise LedgerReplyInvalid("name or as_of missing")
    if reply.get("currency", "IDR") != "IDR":
        raise LedgerReplyInvalid("currency is not IDR")
    segment = reply.get("segment")
    return LedgerReply("OK", kpj, name, str(status), balance, as_of[:10],
                       segment if isinstance(segment, str) else None)
