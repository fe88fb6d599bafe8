"""The portal's questions to the BPJS JHT ledger, over the same MQTT contract as every
channel (docs/ledger.md): membership checks, balances, statements and contribution
histories, each asked as the logged-in participant's NIK, so the ledger's privacy rule (a
person sees only their own KPJ) holds here too.

``PortalLedger`` turns the replies into values for the pages, and every way a request can
fail (no broker, no reply in time, an ERROR reply) into ``LedgerUnavailable``, which the
pages show as "layanan sedang tidak tersedia" instead of an error trace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from atmsim.kernel.bus import Bus, BusError

__all__ = ["PortalLedger", "LedgerUnavailable", "Membership", "CHANNEL",
           "MEMBER_TOPIC", "BALANCE_TOPIC", "STATEMENT_TOPIC", "CONTRIBUTIONS_TOPIC"]

CHANNEL = "JMO"  # the "channel" of every request the portal makes
TERMINAL = "jmo-portal"
MEMBER_TOPIC = "bpjs/jht/v1/member/req"
BALANCE_TOPIC = "bpjs/jht/v1/balance/req"
STATEMENT_TOPIC = "bpjs/jht/v1/statement/req"
CONTRIBUTIONS_TOPIC = "bpjs/jht/v1/contributions/req"


class LedgerUnavailable(RuntimeError):
    """The ledger could not answer (the message says why; no personal data in it)."""


@dataclass(frozen=True)
class Membership:
    """What a membership check confirms."""

    kpj: str
    name: str
    status: str
    segment: str
    member_since: str


class PortalLedger:
    """Requests to the ledger on ``bus``, each waiting at most ``timeout`` seconds."""

    def __init__(self, bus: Bus, *, timeout: float = 5.0) -> None:
        self.bus = bus
        self.timeout = timeout

    async def _ask(self, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self.bus.request(topic, {"id": uuid.uuid4().hex, **payload},
                                           self.timeout)
        except BusError as exc:
            raise LedgerUnavailable(str(exc)) from None
        if reply.get("result") == "ERROR":
            raise LedgerUnavailable(str(reply.get("reason") or "ledger error"))
        return reply

    async def member(self, nik: str, birth_date: date, name: str,
                     kpj: str | None = None) -> Membership | None:
        """The participant with this NIK, birth date and name (and KPJ), or None."""
        reply = await self._ask(MEMBER_TOPIC, {
            "nik": nik, "birth_date": birth_date.isoformat(), "name": name, "kpj": kpj,
            "channel": CHANNEL})
        if reply.get("result") != "OK":
            return None
        return Membership(str(reply["kpj"]), str(reply["name"]), str(reply["status"]),
                          str(reply["segment"]), str(reply["member_since"]))

    async def balance(self, nik: str, kpj: str) -> dict[str, Any] | None:
        """The balance reply (docs/ledger.md): status, segment, balance, last contribution;
        None when refused."""
        reply = await self._ask(BALANCE_TOPIC, self._inquiry(nik, kpj))
        return reply if reply.get("result") == "OK" else None

    async def statement(self, nik: str, kpj: str) -> dict[str, Any] | None:
        """The yearly JHT statement reply (docs/ledger.md), or None when refused."""
        reply = await self._ask(STATEMENT_TOPIC, self._inquiry(nik, kpj))
        return reply if reply.get("result") == "OK" else None

    async def contributions(self, nik: str, kpj: str) -> list[dict[str, Any]] | None:
        """The monthly contributions (newest first), or None when refused."""
        reply = await self._ask(CONTRIBUTIONS_TOPIC, self._inquiry(nik, kpj))
        if reply.get("result") != "OK":
            return None
        return list(reply.get("contributions") or [])

    @staticmethod
    def _inquiry(nik: str, kpj: str) -> dict[str, Any]:
        return {"nik": nik, "kpj": kpj, "channel": CHANNEL, "terminal_id": TERMINAL,
                "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}
