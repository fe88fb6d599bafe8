"""The ledger's member services for chat channels (docs/ledger.md, "Member services"):
membership information after identity verification, BSU candidacy, and complaints
(e-Form pengaduan).

Topics: ``bpjs/jht/v1/membership/req``, ``bpjs/jht/v1/bsu/req``,
``bpjs/jht/v1/complaint/post``. None of them answers a balance: a chat channel sends its
users to JMO, SMS 2757 or an ATM for that.

Identity: a request names a NIK and at least one of ``birth_date`` (``YYYY-MM-DD``) or
``kpj``; each one given must match the ledger's record of that person. The answer is
``OK``; ``NOT_FOUND`` (no participant with that NIK or KPJ) or ``NOT_VERIFIED`` (the
details do not belong together: a wrong birth date, a KPJ of somebody else). A requester
should tell its user the same thing for both.

This module holds the pure parts (requests checked, replies built) and the SQL reads and
writes, as functions of a ``Database``, which ``LedgerStore`` calls inside its own
connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from bpjs_ledger.bsu import BsuAssessment, assess, programme
from bpjs_ledger.db import ConstraintViolation, Database
from bpjs_ledger.identity import IdentityError, Kpj, Nik, parse_kpj, parse_nik
from bpjs_ledger.messages import BadRequest

__all__ = [
    "BSU_REQUEST_TOPIC",
    "COMPLAINT_CATEGORIES",
    "COMPLAINT_POST_TOPIC",
    "MAX_COMPLAINT_TEXT",
    "MEMBERSHIP_REQUEST_TOPIC",
    "PROGRAMS_BY_SEGMENT",
    "ComplaintPost",
    "IdentityClaim",
    "Member",
    "VerifyResult",
    "assess_member",
    "bsu_reply",
    "complaint_reply",
    "file_complaint",
    "find_member",
    "membership_reply",
    "parse_bsu_programme",
    "parse_complaint",
    "parse_identity",
    "ticket_number",
    "wage_for_period",
]

MEMBERSHIP_REQUEST_TOPIC = "bpjs/jht/v1/membership/req"
BSU_REQUEST_TOPIC = "bpjs/jht/v1/bsu/req"
COMPLAINT_POST_TOPIC = "bpjs/jht/v1/complaint/post"

COMPLAINT_CATEGORIES = ("KEPESERTAAN", "KLAIM", "IURAN", "LAYANAN", "LAINNYA")
MAX_COMPLAINT_TEXT = 1000
_MAX_FIELD = 128

# The programmes a segment joins (JHT, JKK, JKM, JP, JKP), as the public guides list them.
PROGRAMS_BY_SEGMENT: dict[str, tuple[str, ...]] = {
    "PU": ("JHT", "JKK", "JKM", "JP", "JKP"),
    "BPU": ("JKK", "JKM", "JHT"),
    "PMI": ("JKK", "JKM", "JHT"),
    "JAKON": ("JKK", "JKM"),
}

_MEMBERSHIP_KEYS = ("kpj", "name", "status", "segment", "member_since", "inactive_since",
                    "employer", "programs", "last_contribution")
_BSU_KEYS = ("kpj", "programme", "eligible", "reasons", "active_through", "wage_limit_sen",
             "regulation", "note")
_BSU_NOTE = ("judged from the ledger: segment PU, a contribution for the cut-off month, "
             "the wage reported for it; not judged here: a higher regional minimum wage "
             "(UMP/UMK), citizenship, ASN/TNI/Polri, other aid")


class VerifyResult(StrEnum):
    OK = "OK"
    NOT_FOUND = "NOT_FOUND"
    NOT_VERIFIED = "NOT_VERIFIED"
    ERROR = "ERROR"


@dataclass(frozen=True)
class IdentityClaim:
    """Who the requester says they are: a NIK and a birth date, a KPJ, or both."""

    nik: Nik
    birth_date: date | None
    kpj: Kpj | None


@dataclass(frozen=True)
class Member:
    """What a verified participant may be told about their membership (no balance)."""

    kpj: str
    name: str
    status: str
    segment: str
    member_since: date
    inactive_since: date | None
    employer: str | None
    last_contribution: str | None


def _text(body: Mapping[str, Any], key: str, *, nullable: bool = False,
          limit: int = _MAX_FIELD) -> str | None:
    if key not in body:
        raise BadRequest(f"{key}: missing")
    value = body[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key}: must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{key}: longer than {limit} characters")
    return value


def parse_identity(body: Mapping[str, Any]) -> IdentityClaim:
    """The identity of a membership or BSU request (and the fields every request has).

    >>> claim = parse_identity({"id": "1", "reply_to": "r", "channel": "whatsapp",
    ...     "terminal_id": "wa", "requested_at": "2026-11-02T10:00:00+07:00",
    ...     "nik": "3171011505850001", "birth_date": "1985-05-15", "kpj": None})
    >>> claim.birth_date, claim.kpj
    (datetime.date(1985, 5, 15), None)
    >>> parse_identity({"id": "1", "reply_to": "r", "channel": "whatsapp",
    ...     "terminal_id": "wa", "requested_at": "2026-11-02T10:00:00+07:00",
    ...     "nik": "3171011505850001", "birth_date": None, "kpj": None})
    Traceback (most recent call last):
    ...
    bpjs_ledger.messages.BadRequest: birth_date or kpj: one of them is needed
    """
    for key in ("id", "reply_to", "channel", "terminal_id", "requested_at"):
        _text(body, key)
    try:
        datetime.fromisoformat(str(body["requested_at"]))
    except ValueError:
        raise BadRequest("requested_at: not an ISO 8601 date-time") from None
    try:
        nik = parse_nik(_text(body, "nik") or "")
        kpj_text = _text(body, "kpj", nullable=True) if "kpj" in body else None
        kpj = None if kpj_text is None else parse_kpj(kpj_text)
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    birth_text = _text(body, "birth_date", nullable=True) if "birth_date" in body else None
    birth_date = None
    if birth_text is not None:
        try:
            if len(birth_text) != 10:
                raise ValueError(birth_text)
            birth_date = date.fromisoformat(birth_text)
        except ValueError:
            raise BadRequest("birth_date: must be a date YYYY-MM-DD") from None
    if birth_date is None and kpj is None:
        raise BadRequest("birth_date or kpj: one of them is needed")
    return IdentityClaim(nik, birth_date, kpj)


# -- reads ----------------------------------------------------------------------------

_MEMBER = """SELECT p.kpj, p.nik, p.name, p.status, p.segment, p.member_since,
    p.inactive_since, e.name, b.last_contribution, p.birth_date
    FROM participants AS p JOIN balances AS b ON b.kpj = p.kpj
    LEFT JOIN employers AS e ON e.npp = p.employer_npp"""
# Several KPJs for one NIK: the same choice as a balance inquiry's (store._BY_NIK).
_MEMBER_BY_NIK = (f"{_MEMBER} WHERE p.nik = ? ORDER BY p.status = 'AKTIF' DESC, "
                  "p.member_since DESC, p.kpj LIMIT 1")
_MEMBER_BY_KPJ = f"{_MEMBER} WHERE p.kpj = ?"


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def find_member(db: Database, claim: IdentityClaim) -> tuple[VerifyResult, Member | None]:
    """The participant the claim describes, when every detail in it matches."""
    nik = claim.nik.value
    if claim.kpj is not None:
        row = db.query_one(_MEMBER_BY_KPJ, (claim.kpj.value,))
        if row is None:
            return VerifyResult.NOT_FOUND, None
        if row[1] != nik:
            return VerifyResult.NOT_VERIFIED, None
    else:
        row = db.query_one(_MEMBER_BY_NIK, (nik,))
        if row is None:
            return VerifyResult.NOT_FOUND, None
    if claim.birth_date is not None and _day(row[9]) != claim.birth_date:
        return VerifyResult.NOT_VERIFIED, None
    return VerifyResult.OK, Member(
        kpj=str(row[0]), name=str(row[2]), status=str(row[3]), segment=str(row[4]),
        member_since=_day(row[5]),
        inactive_since=None if row[6] is None else _day(row[6]),
        employer=None if row[7] is None else str(row[7]),
        last_contribution=None if row[8] is None else str(row[8]))


def wage_for_period(db: Database, kpj: str, period: str) -> int | None:
    """The wage reported for ``period`` (``YYYY-MM``), None when nothing was posted."""
    row = db.query_one("SELECT wage_sen FROM contributions WHERE kpj = ? AND period = ?",
                       (kpj, period))
    return None if row is None else int(row[0])


# -- replies --------------------------------------------------------------------------


def membership_reply(request_id: str | None, result: VerifyResult, member: Member | None,
                     reason: str | None = None) -> dict[str, Any]:
    """Every key present; the member's keys null unless OK. Never a balance."""
    reply: dict[str, Any] = {"id": request_id, "result": result.value,
                             **dict.fromkeys(_MEMBERSHIP_KEYS)}
    if result is VerifyResult.OK and member is not None:
        reply.update(
            kpj=member.kpj, name=member.name, status=member.status, segment=member.segment,
            member_since=member.member_since.isoformat(),
            inactive_since=None if member.inactive_since is None
            else member.inactive_since.isoformat(),
            employer=member.employer, programs=list(PROGRAMS_BY_SEGMENT.get(member.segment, ())),
            last_contribution=member.last_contribution)
    if reason is not None:
        reply["reason"] = reason
    return reply


def bsu_reply(request_id: str | None, result: VerifyResult, kpj: str | None,
              assessment: BsuAssessment | None, reason: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": request_id, "result": result.value,
                             **dict.fromkeys(_BSU_KEYS)}
    if result is VerifyResult.OK and assessment is not None:
        p = assessment.programme
        reply.update(kpj=kpj, programme=p.year, eligible=assessment.eligible,
                     reasons=[r.value for r in assessment.reasons],
                     active_through=str(p.active_through), wage_limit_sen=p.wage_limit_sen,
                     regulation=p.regulation, note=_BSU_NOTE)
    if reason is not None:
        reply["reason"] = reason
    return reply


def parse_bsu_programme(body: Mapping[str, Any]) -> str:
    """The programme year a BSU request asks about.

    >>> parse_bsu_programme({"programme": "2025"})
    '2025'
    """
    year = _text(body, "programme") or ""
    if programme(year) is None:
        raise BadRequest("programme: one of 2020, 2021, 2022, 2025")
    return year


def assess_member(db: Database, member: Member, year: str) -> BsuAssessment:
    bsu = programme(year)
    assert bsu is not None  # checked by parse_bsu_programme
    wage = wage_for_period(db, member.kpj, str(bsu.active_through))
    return assess(bsu, segment=member.segment, cutoff_wage_sen=wage)


# -- complaints -----------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintPost:
    key: str
    channel: str
    contact: str
    nik: str | None
    kpj: str | None
    category: str
    text: str


def parse_complaint(body: Mapping[str, Any]) -> ComplaintPost:
    """A complaint post: ``key`` (idempotency), ``channel``, ``contact`` (whom to answer),
    ``nik`` and ``kpj`` (each or null), ``category``, ``text`` (1-1000 characters).

    >>> parse_complaint({"key": "wamid.1", "channel": "whatsapp", "contact": "6281200000001",
    ...     "nik": None, "kpj": None, "category": "KLAIM", "text": "Klaim belum cair"}).category
    'KLAIM'
    """
    key = _text(body, "key") or ""
    channel = _text(body, "channel", limit=32) or ""
    contact = _text(body, "contact", limit=32) or ""
    try:
        nik_text = _text(body, "nik", nullable=True)
        nik = None if nik_text is None else parse_nik(nik_text).value
        kpj_text = _text(body, "kpj", nullable=True)
        kpj = None if kpj_text is None else parse_kpj(kpj_text).value
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    category = _text(body, "category") or ""
    if category not in COMPLAINT_CATEGORIES:
        raise BadRequest(f"category: one of {', '.join(COMPLAINT_CATEGORIES)}")
    text = _text(body, "text", limit=MAX_COMPLAINT_TEXT) or ""
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        raise BadRequest("text: control characters")
    return ComplaintPost(key, channel, contact, nik, kpj, category, text.strip())


def ticket_number(complaint_id: int, filed_on: date) -> str:
    """The ticket a complainant quotes: ``PGD-YYYYMMDD-NNNNNN`` from the row id.

    >>> ticket_number(42, date(2026, 11, 2))
    'PGD-20261102-000042'
    """
    return f"PGD-{filed_on:%Y%m%d}-{complaint_id:06d}"


def file_complaint(db: Database, post: ComplaintPost, *, today: date
                   ) -> tuple[str, bool]:
    """Store the complaint once per key; its ticket and whether it had been filed before.
    Inside the caller's transaction."""
    earlier = db.query_one("SELECT ticket FROM complaints WHERE post_key = ?", (post.key,))
    if earlier is not None:
        return str(earlier[0]), True
    row = db.query_one(
        "INSERT INTO complaints (post_key, channel, contact, nik, kpj, category, body, "
        "filed_on, filed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (post.key, post.channel, post.contact, post.nik, post.kpj, post.category, post.text,
         today, datetime.now(UTC).isoformat(timespec="milliseconds")))
    if row is None:
        raise ConstraintViolation("complaints: no id returned", unique=False)
    ticket = ticket_number(int(row[0]), today)
    db.execute("UPDATE complaints SET ticket = ? WHERE id = ?", (ticket, int(row[0])))
    return ticket, False


def complaint_reply(request_id: str | None, result: str, ticket: str | None = None,
                    duplicate: bool = False, reason: str | None = None) -> dict[str, Any]:
    return {"id": request_id, "result": result, "ticket": ticket, "duplicate": duplicate,
            "reason": reason}
