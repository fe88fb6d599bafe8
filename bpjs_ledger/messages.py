"""The JSON of the ledger's MQTT contract (docs/ledger.md): requests in, replies out.

Pure functions only: ``parse_request`` and ``parse_post`` check what arrives and raise
``BadRequest`` naming the faulty field (never echoing a NIK); ``balance_reply``,
``statement_reply`` and ``post_reply`` build what leaves. Every reply of a kind has the
same keys whatever its result; participant keys are null unless the result is OK/POSTED.
Money is always integer sen; rates travel as decimal strings, never floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from bpjs_ledger.answers import (
    BalanceAnswer,
    BalanceResult,
    ContributionsAnswer,
    MemberAnswer,
    MemberResult,
    PostOutcome,
    PostResult,
    StatementAnswer,
)
from bpjs_ledger.identity import IdentityError, Kpj, Nik, parse_kpj, parse_nik
from bpjs_ledger.jht import Contribution, JhtYear, Period
from bpjs_ledger.records import ContributionPost, JhtStatement
from bpjs_ledger.sms_registry import KpjAnswer, Registration, RegistrationOutcome, SmsResult

__all__ = [
    "CURRENCY",
    "MAX_WAGE_SEN",
    "BadRequest",
    "BalanceRequest",
    "MemberRequest",
    "contribution_json",
    "contributions_error_reply",
    "contributions_reply",
    "member_error_reply",
    "member_reply",
    "parse_member_request",
    "balance_reply",
    "error_reply",
    "parse_post",
    "parse_request",
    "post_error_reply",
    "post_reply",
    "reply_for",
    "statement_error_reply",
    "statement_json",
    "statement_reply",
    "year_json",
    "SmsRequest",
    "parse_sms_request",
    "sms_balance_reply",
    "sms_error_reply",
    "sms_kpj_reply",
    "sms_register_reply",
]

CURRENCY = "IDR"
# Rp1,000,000,000 a month: far above any wage, low enough that a typo of a few extra
# digits is refused instead of posted.
MAX_WAGE_SEN = 1_000_000_000_00

_T = TypeVar("_T")
_MAX_TEXT = 128  # longest id / reply_to / channel / terminal id / key accepted
_BALANCE_KEYS = ("kpj", "name", "status", "balance_sen", "currency", "as_of", "segment",
                 "last_contribution")
_STATEMENT_KEYS = ("kpj", "name", "status", "segment", "member_since", "currency", "as_of",
                   "balance_sen", "last_contribution", "years")
_POST_KEYS = ("kpj", "period", "wage_sen", "employer_sen", "worker_sen", "jht_sen",
              "jp_employer_sen", "jp_worker_sen", "paid_on", "posted_on")


class BadRequest(ValueError):
    """A request that does not follow the contract; the message says which field."""


# -- balance and statement inquiries --------------------------------------------------


@dataclass(frozen=True)
class BalanceRequest:
    """A balance or statement inquiry from a channel (the two share their fields)."""

    id: str
    reply_to: str
    nik: Nik
    kpj: Kpj | None  # None: the participant of that NIK
    channel: str
    terminal_id: str
    requested_at: datetime


def parse_request(body: Mapping[str, Any]) -> BalanceRequest:
    """Check a balance (or statement) request against the contract; unknown extra keys
    are ignored.

    >>> parse_request({"id": "1", "reply_to": "r", "nik": "3171011505850001", "kpj": None,
    ...                "channel": "ATM", "terminal_id": "BNI00001",
    ...                "requested_at": "2026-11-02T10:00:00+07:00"}).kpj is None
    True
    >>> parse_request({"id": "1"})
    Traceback (most recent call last):
    ...
    bpjs_ledger.messages.BadRequest: reply_to: missing
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


def balance_reply(request_id: str | None, answer: BalanceAnswer) -> dict[str, Any]:
    """The balance reply JSON (docs/ledger.md): every key present, participant keys null unless
    OK."""
    if answer.result is not BalanceResult.OK:
        return {"id": request_id, "result": answer.result.value,
                **dict.fromkeys(_BALANCE_KEYS)}
    return {
        "id": request_id,
        "result": BalanceResult.OK.value,
        "kpj": answer.kpj,
        "name": answer.name,
        "status": None if answer.status is None else answer.status.value,
        "balance_sen": answer.balance_sen,
        "currency": CURRENCY,
        "as_of": _iso(answer.as_of),
        "segment": answer.segment,
        "last_contribution": answer.last_contribution,
    }


reply_for = balance_reply  # the name the first version of the service used


def error_reply(request_id: str | None, reason: str) -> dict[str, Any]:
    """A balance ERROR reply; ``reason`` starts with "bad request:" or "internal error:"."""
    return {**balance_reply(request_id, BalanceAnswer(BalanceResult.ERROR)), "reason": reason}


def year_json(year: JhtYear) -> dict[str, Any]:
    """One statement year as JSON: the five amounts in integer sen, and the credited rate
    as a decimal string (null for a year whose return is not credited yet).

    >>> year_json(JhtYear(2026, 100, 50, 0, 0, 150))["closing_sen"]
    150
    """
    return {
        "year": year.year,
        "opening_sen": year.opening_sen,
        "contributions_sen": year.contributions_sen,
        "returns_sen": year.returns_sen,
        "claims_sen": year.claims_sen,
        "closing_sen": year.closing_sen,
        "return_rate_percent": None if year.rate is None else str(year.rate.percent),
    }


def statement_reply(request_id: str | None, answer: StatementAnswer) -> dict[str, Any]:
    """The statement reply JSON: the balance keys plus ``member_since`` and ``years``."""
    statement = answer.statement
    if answer.result is not BalanceResult.OK or statement is None:
        return {"id": request_id, "result": answer.result.value,
                **dict.fromkeys(_STATEMENT_KEYS)}
    return {"id": request_id, "result": BalanceResult.OK.value, **statement_json(statement)}


def statement_json(statement: JhtStatement) -> dict[str, Any]:
    """A statement's JSON keys (the reply's, without ``id`` and ``result``)."""
    p = statement.participant
    return {
        "kpj": p.kpj.value,
        "name": p.name,
        "status": p.status.value,
        "segment": p.segment.value,
        "member_since": p.member_since.isoformat(),
        "currency": CURRENCY,
        "as_of": statement.as_of.isoformat(),
        "balance_sen": statement.balance_sen,
        "last_contribution": statement.last_contribution,
        "years": [year_json(y) for y in statement.years],
    }


def statement_error_reply(request_id: str | None, reason: str) -> dict[str, Any]:
    return {**statement_reply(request_id, StatementAnswer(BalanceResult.ERROR)),
            "reason": reason}


# -- membership checks and contribution histories -------------------------------------

_MEMBER_KEYS = ("kpj", "name", "status", "segment", "member_since")
_CONTRIBUTIONS_KEYS = ("kpj", "contributions")
_MAX_NAME = 100


@dataclass(frozen=True)
class MemberRequest:
    """A membership check: does a participant have this NIK, birth date and name (and
    this KPJ, when one is given)?"""

    id: str
    reply_to: str
    nik: Nik
    birth_date: date
    name: str
    kpj: Kpj | None
    channel: str


def parse_member_request(body: Mapping[str, Any]) -> MemberRequest:
    """Check a membership request: ``nik``, ``birth_date`` (YYYY-MM-DD), ``name`` (the
    full name as typed), ``kpj`` (or null) and ``channel``.

    >>> parse_member_request({"id": "1", "reply_to": "r", "nik": "3171011505850001",
    ...     "birth_date": "1985-05-15", "name": "Budi Santoso", "kpj": None,
    ...     "channel": "portal"}).birth_date
    datetime.date(1985, 5, 15)
    >>> parse_member_request({"id": "1", "reply_to": "r", "nik": "3171011505850001",
    ...     "birth_date": "15-05-1985", "name": "Budi", "kpj": None, "channel": "portal"})
    Traceback (most recent call last):
    ...
    bpjs_ledger.messages.BadRequest: birth_date: must be a date YYYY-MM-DD
    """
    request_id = _text(body, "id")
    reply_to = _text(body, "reply_to")
    try:
        nik = parse_nik(_required(body, "nik"))
        kpj_value = _required(body, "kpj", nullable=True)
        kpj = None if kpj_value is None else parse_kpj(kpj_value)
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    birth_date = _parsed(body, "birth_date", 10, date.fromisoformat, "a date YYYY-MM-DD")
    name = _text(body, "name")
    if len(name) > _MAX_NAME:
        raise BadRequest(f"name: longer than {_MAX_NAME} characters")
    return MemberRequest(request_id, reply_to, nik, birth_date, name, kpj,
                         _text(body, "channel"))


def member_reply(request_id: str | None, answer: MemberAnswer) -> dict[str, Any]:
    """The membership reply JSON: every key present, participant keys null unless OK."""
    if answer.result is not MemberResult.OK:
        return {"id": request_id, "result": answer.result.value,
                **dict.fromkeys(_MEMBER_KEYS)}
    return {"id": request_id, "result": MemberResult.OK.value, "kpj": answer.kpj,
            "name": answer.name,
            "status": None if answer.status is None else answer.status.value,
            "segment": answer.segment, "member_since": _iso(answer.member_since)}


def member_error_reply(request_id: str | None, reason: str) -> dict[str, Any]:
    return {**member_reply(request_id, MemberAnswer(MemberResult.ERROR)), "reason": reason}


def contribution_json(c: Contribution) -> dict[str, Any]:
    """One month's contribution as JSON, amounts in integer sen.

    >>> from bpjs_ledger.jht import Contribution, Period
    >>> contribution_json(Contribution.for_wage(Period(2026, 9), 500000000,
    ...     paid_on=date(2026, 10, 10), posted_on=date(2026, 10, 12)))["jht_sen"]
    28500000
    """
    return {"period": str(c.period), "wage_sen": c.wage_sen, "employer_sen": c.employer_sen,
            "worker_sen": c.worker_sen, "jht_sen": c.total_sen,
            "jp_employer_sen": c.jp_employer_sen, "jp_worker_sen": c.jp_worker_sen,
            "paid_on": c.paid_on.isoformat(), "posted_on": c.posted_on.isoformat()}


def contributions_reply(request_id: str | None, answer: ContributionsAnswer) -> dict[str, Any]:
    """The contribution-history reply JSON: ``kpj`` and ``contributions`` (newest first),
    null unless OK."""
    if answer.result is not BalanceResult.OK:
        return {"id": request_id, "result": answer.result.value,
                **dict.fromkeys(_CONTRIBUTIONS_KEYS)}
    return {"id": request_id, "result": BalanceResult.OK.value, "kpj": answer.kpj,
            "contributions": [contribution_json(c) for c in answer.contributions]}


def contributions_error_reply(request_id: str | None, reason: str) -> dict[str, Any]:
    return {**contributions_reply(request_id, ContributionsAnswer(BalanceResult.ERROR)),
            "reason": reason}


# -- contribution posts ---------------------------------------------------------------


def parse_post(body: Mapping[str, Any]) -> ContributionPost:
    """Check a contribution post: ``key``, ``kpj``, ``npp`` (8 digits or null),
    ``period`` (YYYY-MM), ``wage_sen`` (a positive integer) and ``paid_on`` (YYYY-MM-DD).

    >>> parse_post({"key": "k1", "kpj": "10012345678", "npp": "10012089",
    ...             "period": "2026-10", "wage_sen": 500000000,
    ...             "paid_on": "2026-11-10"}).period
    Period(year=2026, month=10)
    >>> parse_post({"key": "k1", "kpj": "10012345678", "npp": None, "period": "2026-10",
    ...             "wage_sen": 5000000.0, "paid_on": "2026-11-10"})
    Traceback (most recent call last):
    ...
    bpjs_ledger.messages.BadRequest: wage_sen: must be an integer number of sen
    """
    key = _text(body, "key")
    try:
        kpj = parse_kpj(_required(body, "kpj"))
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    npp = _required(body, "npp", nullable=True)
    if npp is not None and not (isinstance(npp, str) and len(npp) == 8 and npp.isascii()
                                and npp.isdigit()):
        raise BadRequest("npp: must be 8 digits or null")
    period = _parsed(body, "period", 7, Period.parse, "YYYY-MM")
    wage = _required(body, "wage_sen")
    # bool is an int subclass; a float would break the integer-sen rule.
    if not isinstance(wage, int) or isinstance(wage, bool):
        raise BadRequest("wage_sen: must be an integer number of sen")
    if not 0 < wage <= MAX_WAGE_SEN:
        raise BadRequest(f"wage_sen: must be between 1 and {MAX_WAGE_SEN}")
    paid_on = _parsed(body, "paid_on", 10, date.fromisoformat, "a date YYYY-MM-DD")
    return ContributionPost(key, kpj, npp, period, wage, paid_on)


def post_reply(request_id: str | None, key: str | None, outcome: PostOutcome,
               kpj: str | None = None) -> dict[str, Any]:
    """The post reply JSON: the contribution as the ledger recorded it when POSTED
    (``duplicate`` true when the key had been posted before), otherwise the reason."""
    base = {"id": request_id, "result": outcome.result.value, "key": key,
            "duplicate": outcome.duplicate, "reason": outcome.reason}
    c = outcome.contribution
    if outcome.result is not PostResult.POSTED or c is None:
        return {**base, **dict.fromkeys(_POST_KEYS)}
    return {
        **base,
        "kpj": kpj,
        "period": str(c.period),
        "wage_sen": c.wage_sen,
        "employer_sen": c.employer_sen,
        "worker_sen": c.worker_sen,
        "jht_sen": c.total_sen,
        "jp_employer_sen": c.jp_employer_sen,
        "jp_worker_sen": c.jp_worker_sen,
        "paid_on": c.paid_on.isoformat(),
        "posted_on": c.posted_on.isoformat(),
    }


def post_error_reply(request_id: str | None, key: str | None, reason: str) -> dict[str, Any]:
    return post_reply(request_id, key, PostOutcome(PostResult.ERROR, reason))


# -- the SMS 2757 channel -------------------------------------------------------------

SMS_TYPES = ("register", "balance", "kpj")
_SMS_KEYS = ("kpj", "name", "status", "balance_sen", "currency", "as_of", "segment",
             "last_contribution", "kpjs", "already", "moved")
_MAX_EMAIL = 254


@dataclass(frozen=True)
class SmsRequest:
    """A request from the SMS gateway: ``type`` register, balance or kpj, for the
    number ``msisdn``; ``registration`` (register), ``kpj`` (balance) or ``nik`` (kpj)."""

    id: str
    type: str
    msisdn: str
    registration: Registration | None = None
    kpj: str | None = None
    nik: str | None = None


def parse_sms_request(body: Mapping[str, Any]) -> SmsRequest:
    """Check an SMS request (docs/ledger.md, "SMS 2757").

    >>> parse_sms_request({"id": "1", "reply_to": "r", "type": "balance",
    ...                    "msisdn": "6281234567890", "kpj": "10012345678",
    ...                    "channel": "SMS", "requested_at": "2026-11-02T10:00:00+07:00"}).kpj
    '10012345678'
    >>> parse_sms_request({"id": "1", "reply_to": "r", "type": "balance", "msisdn": "0812"})
    Traceback (most recent call last):
    ...
    bpjs_ledger.messages.BadRequest: msisdn: must be 8 to 15 digits (62...)
    """
    request_id = _text(body, "id")
    _text(body, "reply_to")
    kind = _text(body, "type")
    if kind not in SMS_TYPES:
        raise BadRequest(f"type: must be one of {', '.join(SMS_TYPES)}")
    msisdn = _text(body, "msisdn")
    if not (msisdn.isascii() and msisdn.isdigit() and 8 <= len(msisdn) <= 15):
        raise BadRequest("msisdn: must be 8 to 15 digits (62...)")
    _text(body, "channel")
    try:
        datetime.fromisoformat(_text(body, "requested_at"))
    except ValueError:
        raise BadRequest("requested_at: not an ISO 8601 date-time") from None
    try:
        if kind == "balance":
            return SmsRequest(request_id, kind, msisdn, kpj=parse_kpj(_required(body, "kpj")).value)
        nik = parse_nik(_required(body, "nik")).value
        if kind == "kpj":
            return SmsRequest(request_id, kind, msisdn, nik=nik)
        kpj = parse_kpj(_required(body, "kpj")).value
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    birth_date = _parsed(body, "birth_date", 10, date.fromisoformat, "a date YYYY-MM-DD")
    name = _optional_text(body, "name", _MAX_TEXT)
    email = _optional_text(body, "email", _MAX_EMAIL)
    return SmsRequest(request_id, kind, msisdn, Registration(msisdn, kpj, nik, birth_date,
                                                             name, email))


def _optional_text(body: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = _required(body, key, nullable=True)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{key}: must be null or a string of 1 to {limit} characters")
    return value


def _sms(request_id: str | None, kind: str | None, result: SmsResult,
         **values: Any) -> dict[str, Any]:
    return {"id": request_id, "type": kind, "result": result.value,
            **dict.fromkeys(_SMS_KEYS), **values}


def sms_register_reply(request_id: str | None, outcome: RegistrationOutcome) -> dict[str, Any]:
    """REGISTERED (with the participant's name and status) or MISMATCH."""
    if outcome.result is not SmsResult.REGISTERED:
        return _sms(request_id, "register", outcome.result)
    return _sms(request_id, "register", outcome.result, name=outcome.name,
                status=None if outcome.status is None else outcome.status.value,
                already=outcome.already, moved=outcome.moved)


def sms_balance_reply(request_id: str | None, result: SmsResult,
                      answer: BalanceAnswer | None) -> dict[str, Any]:
    """OK with the balance keys of a balance reply, NOT_REGISTERED or FORBIDDEN."""
    if result is not SmsResult.OK or answer is None:
        return _sms(request_id, "balance", result)
    balance = balance_reply(request_id, answer)
    return _sms(request_id, "balance", result,
                **{k: balance[k] for k in _BALANCE_KEYS})


def sms_kpj_reply(request_id: str | None, answer: KpjAnswer) -> dict[str, Any]:
    """OK with ``kpjs`` (the registered KPJs of that NIK), NOT_REGISTERED or FORBIDDEN."""
    if answer.result is not SmsResult.OK:
        return _sms(request_id, "kpj", answer.result)
    return _sms(request_id, "kpj", answer.result, kpjs=list(answer.kpjs))


def sms_error_reply(request_id: str | None, kind: str | None, reason: str) -> dict[str, Any]:
    return {**_sms(request_id, kind if kind in SMS_TYPES else None, SmsResult.ERROR),
            "reason": reason}


# -- fields ---------------------------------------------------------------------------


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _required(body: Mapping[str, Any], key: str, *, nullable: bool = False) -> Any:
    if key not in body:
        raise BadRequest(f"{key}: missing")
    value = body[key]
    if value is None and not nullable:
        raise BadRequest(f"{key}: must not be null")
    return value


def _parsed(body: Mapping[str, Any], key: str, length: int, parse: Callable[[str], _T],
            wanted: str) -> _T:
    """``body[key]`` read by ``parse``; exactly ``length`` characters, so that the lenient
    forms ``parse`` also takes ("2026-1", "20260101") are refused."""
    text = _text(body, key)
    try:
        if len(text) != length:
            raise ValueError(text)
        return parse(text)
    except ValueError:
        raise BadRequest(f"{key}: must be {wanted}") from None


def _text(body: Mapping[str, Any], key: str) -> str:
    value = _required(body, key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key}: must be a non-empty string")
    if len(value) > _MAX_TEXT:
        raise BadRequest(f"{key}: longer than {_MAX_TEXT} characters")
    return value
