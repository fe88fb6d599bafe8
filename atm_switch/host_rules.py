"""What a matched rule (``atmsim switch --rules FILE``, docs/rules.md) does to a request.

The dispatcher asks its ``RuleBook`` for the first rule matching a request's facts
(``switch_facts``) and, when one matches, lets ``by_rule`` answer instead of the usual way:
after the rule's delay it drops the request, closes the connection, sends garbage, answers
with the rule's code (and field overrides), or answers as usual but twice or with a wrong
STAN. Which bytes reach the socket is the channel's business (``Answer``'s fields).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from atm_switch.channel import Answer
from atm_switch.message_types import response_mti
from atm_switch.responses import answer
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.rules import Rule, RuleError, RuleSet
from atmsim.kernel.wire import IsoMessage, WireError, WireProfile

__all__ = ["switch_facts", "by_rule", "check_switch_rules"]

log = logging.getLogger("atmsim.switch")

Usual = Callable[[IsoMessage], Awaitable[Answer | None]]


def switch_facts(request: IsoMessage) -> dict[str, Any]:
    """What a switch rule can match on, from a decoded request.

    >>> switch_facts({"t": "0200", "3": "310000", "4": "000000000000", "41": "BNI00001"})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'mti': '0200', 'processing_code': '310000', 'pan': None, 'kpj': None,
     'terminal': 'BNI00001', 'amount': 0, 'fields': {'t': '0200', '3': '310000',
     '4': '000000000000', '41': 'BNI00001'}}
    """
    amount = request.get("4")
    return {"mti": request.get("t"), "processing_code": request.get("3"),
            "pan": request.get("2"), "kpj": request.get("103"), "terminal": request.get("41"),
            "amount": int(amount) if amount and amount.isdigit() else None,
            "fields": request}


def check_switch_rules(rules: RuleSet, profile: WireProfile) -> None:
    """``RuleError`` for a field override ``profile`` cannot encode: found when the file
    is read, not as an answer that fails to leave."""
    for number, rule in enumerate(rules.rules, 1):
        for field_number, value in rule.action.fields.items():
            if not field_number.isdigit():
                raise RuleError(f"{rules.source}: rule {number}: field {field_number!r} is "
                                "not a field number")
            try:
                profile.check_field(field_number, value)
            except WireError as exc:
                raise RuleError(f"{rules.source}: rule {number}: {exc}") from None


def _wrong_stan(stan: str | None) -> str:
    """A STAN the request did not carry: the next one (what a host mixing up two
    requests would send)."""
    number = int(stan) if stan and stan.isdigit() else 0
    return f"{(number + 1) % 1_000_000:06d}"


async def by_rule(rule: Rule, request: IsoMessage, usual: Usual) -> Answer | None:
    """The answer ``rule`` makes of ``request``; ``usual`` is the answer without rules."""
    action = rule.action
    wait = action.wait()
    if wait > 0:
        await asyncio.sleep(wait)
    why = f"rule {rule.name!r}: {action.kind}"
    log.info("%s for %s term=%s stan=%s pan=%s", why, request.get("t"), request.get("41"),
             request.get("11"), mask_pan(request["2"]) if request.get("2") else "-")
    kind = action.kind
    if kind == "drop":
        return None
    if kind == "close":
        return Answer(request, {}, why, copies=0, close=True)
    if kind == "garbage":
        # Seeded by the STAN: the same request gets the same garbage on every run.
        noise = random.Random(request.get("11", "")).randbytes(action.garbage_bytes)
        return Answer(request, {}, why, garbage=noise, framed=action.framed)
    if kind == "respond" and action.code is not None and response_mti(request["t"]):
        usual_answer: Answer | None = Answer(
            request, answer(request, ResponseCode.APPROVED, {"39": action.code}), why)
    else:
        usual_answer = await usual(request)
    if usual_answer is None:
        return None
    response = dict(usual_answer.response)
    response.update(action.fields)
    if kind == "wrong_stan":
        response["11"] = _wrong_stan(request.get("11"))
    return Answer(request, response, why, copies=2 if kind == "twice" else 1)
