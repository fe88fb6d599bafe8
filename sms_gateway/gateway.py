"""One SMS to 2757 in, its answer out: command, rate limits, the ledger over MQTT, the
reply text and the event (docs/channels.md, "SMS 2757").

``SmsGateway.answer(msisdn, text)`` is the whole decision for one message, independent
of SMPP (``sms_gateway.esme`` carries the messages to and from the SMSC). The ledger is
asked on ``bpjs/jht/v1/sms/req`` (docs/ledger.md); when it does not answer within
``ledger_deadline`` or the broker is away, the participant is told the service is
unavailable (and nothing is counted against the number). Every answered message gives
one event on ``atmsim/v1/events/sms`` with ``channel: "sms"``, the number and any KPJ
masked, never a NIK, a name or a balance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atmsim.kernel.bus import Bus, BusError
from atmsim.kernel.masking import mask_phone
from sms_gateway import replies
from sms_gateway.commands import (
    Balance,
    Command,
    CommandError,
    Help,
    KpjLookup,
    Register,
    command_name,
    parse_command,
)
from sms_gateway.limits import RateLimits

__all__ = ["EVENTS_TOPIC", "SMS_REQUEST_TOPIC", "GatewayConfig", "SmsGateway"]

log = logging.getLogger("atmsim.sms")

SMS_REQUEST_TOPIC = "bpjs/jht/v1/sms/req"
EVENTS_TOPIC = "atmsim/v1/events/sms"
_FAILED = {"MISMATCH", "FORBIDDEN", "NOT_REGISTERED"}



@dataclass(frozen=True)
class GatewayConfig:
    ledger_deadline: float = 5.0  # seconds the gateway waits for the ledger
    per_minute: int = 5  # commands per number in any 60 s
    failures_per_day: int = 5  # failed attempts per number in any 24 h


@dataclass(frozen=True)
class Outcome:
    """What became of one message: the reply (None: not answered) and the event."""

    reply: str | None
    command: str
    result: str


class SmsGateway:
    def __init__(self, bus: Bus, config: GatewayConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.config = config or GatewayConfig()
        self.limits = RateLimits(self.config.per_minute, self.config.failures_per_day,
                                 clock=clock)

    async def answer(self, msisdn: str, text: str) -> str | None:
        """The reply to ``text`` from ``msisdn`` (international digits), or None when the
        number is limited and was already told so."""
        started = time.perf_counter()
        outcome = await self._decide(msisdn, text)
        latency_ms = (time.perf_counter() - started) * 1000
        self.bus.publish_soon(EVENTS_TOPIC, {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "channel": "sms", "msisdn": mask_phone(msisdn), "command": outcome.command,
            "result": outcome.result, "latency_ms": round(latency_ms, 3),
        })
        log.info("sms %s from %s: %s", outcome.command, mask_phone(msisdn), outcome.result)
        return outcome.reply

    async def _decide(self, msisdn: str, text: str) -> Outcome:
        admission = self.limits.admit(msisdn)
        if not admission.allowed:
            if admission.reason == "failures":
                reply = replies.failures_limited(round(admission.retry_after / 3600))
            else:
                reply = replies.rate_limited(round(admission.retry_after))
            return Outcome(reply if admission.notify else None, "-", "LIMITED")
        try:
            command = parse_command(text)
        except CommandError as exc:
            return Outcome(replies.format_error(exc.command, exc.problem),
                           exc.command or "UNKNOWN", "FORMAT")
        name = command_name(command)
        if isinstance(command, Help):
            return Outcome(replies.help_text(), name, "OK")
        try:
            answer = await self.bus.request(SMS_REQUEST_TOPIC, _request(msisdn, command),
                                            timeout=self.config.ledger_deadline)
        except BusError as exc:
            log.warning("sms %s from %s: ledger unavailable: %s", name, mask_phone(msisdn),
                        exc)
            return Outcome(replies.unavailable(), name, "UNAVAILABLE")
        result = answer.get("result")
        if result in _FAILED:
            self.limits.record_failure(msisdn)
        return Outcome(_reply(command, answer), name, str(result))


def _request(msisdn: str, command: Command) -> dict[str, Any]:
    base: dict[str, Any] = {"msisdn": msisdn, "channel": "SMS",
                            "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if isinstance(command, Register):
        return {**base, "type": "register", "nik": command.nik, "name": command.name,
                "birth_date": command.birth_date.isoformat(), "kpj": command.kpj,
                "email": command.email}
    if isinstance(command, Balance):
        return {**base, "type": "balance", "kpj": command.kpj}
    assert isinstance(command, KpjLookup)
    return {**base, "type": "kpj", "nik": command.nik}


def _reply(command: Command, answer: dict[str, Any]) -> str:
    result = answer.get("result")
    if result == "NOT_REGISTERED":
        return replies.not_registered()
    if isinstance(command, Register):
        if result == "REGISTERED":
            return replies.registered(command.kpj, answer.get("status"),
                                      already=bool(answer.get("already")))
        if result == "MISMATCH":
            return replies.mismatch()
    elif isinstance(command, Balance):
        if result == "OK" and _is_balance(answer):
            return replies.balance(command.kpj, answer["status"], answer["balance_sen"],
                                   answer["as_of"], answer.get("last_contribution"))
        if result == "FORBIDDEN":
            return replies.kpj_not_registered()
    elif isinstance(command, KpjLookup):
        if result == "OK" and isinstance(answer.get("kpjs"), list) and answer["kpjs"]:
            return replies.kpj_found([str(k) for k in answer["kpjs"]])
        if result == "FORBIDDEN":
            return replies.nik_not_registered()
    log.warning("sms: the ledger answered %s (%s)", result, answer.get("reason"))
    return replies.unavailable()


def _is_balance(answer: dict[str, Any]) -> bool:
    sen = answer.get("balance_sen")
    return (isinstance(sen, int) and not isinstance(sen, bool)
            and isinstance(answer.get("status"), str) and isinstance(answer.get("as_of"), str))
