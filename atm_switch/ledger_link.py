"""The switch's side of the ledger contract: one balance request over the bus.

Builds the DESIGN.md request JSON, waits within the ledger deadline, and checks the reply
before anything of it reaches field 54: a reply that is not what the contract says is
treated as an internal error, never passed on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from atmsim.bus import Bus

__all__ = ["BALANCE_TOPIC", "LedgerReply", "LedgerReplyInvalid", "request_balance"]

BALANCE_TOPIC = "bpjs/jht/v1/balance/req"


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
    request = {
        "id": str(uuid.uuid4()),
        "nik": nik,
        "kpj": kpj,
        "channel": "ATM",
        "terminal_id": terminal_id,
        "requested_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    reply = await bus.request(BALANCE_TOPIC, request, deadline)
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
