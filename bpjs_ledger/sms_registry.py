"""SMS 2757 registrations: which phone number may ask for which KPJ (docs/channels.md).

``DAFTAR SALDO`` binds the sending number (MSISDN, international digits ``62812...``) to a
participant once the KPJ, NIK, birth date and (when given) the name all match the
ledger. After that, ``SALDO <KPJ>`` is answered only to the number that KPJ is
registered to, and ``CEK NOMOR KTP <NIK>`` tells that number its own KPJ(s) of that NIK.

The answers are built so that the SMS channel cannot be used to learn anything about a
KPJ or NIK one cannot already prove: a registration with any mismatch, an unknown KPJ
included, is the same ``MISMATCH``; a balance or KPJ question about someone else's KPJ or
NIK, or about one that does not exist, is the same ``FORBIDDEN``.

The functions take a ``Database`` (either engine) and run inside the caller's
transaction or read; ``LedgerStore`` wraps them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from bpjs_ledger.answers import BalanceAnswer, BalanceResult
from bpjs_ledger.db import Database
from bpjs_ledger.records import Status

__all__ = [
    "Registration",
    "RegistrationOutcome",
    "SmsResult",
    "KpjAnswer",
    "names_match",
    "register",
    "registered_balance",
    "registered_kpjs",
]


class SmsResult(StrEnum):
    """The outcomes of the SMS requests (docs/ledger.md, "SMS 2757")."""

    REGISTERED = "REGISTERED"  # the number now holds the KPJ
    MISMATCH = "MISMATCH"  # the data do not match a participant (or the KPJ is unknown)
    OK = "OK"
    NOT_REGISTERED = "NOT_REGISTERED"  # the number holds no registration at all
    FORBIDDEN = "FORBIDDEN"  # not registered to this number (or does not exist)
    ERROR = "ERROR"


@dataclass(frozen=True)
class Registration:
    """A DAFTAR SALDO as the gateway read it. ``name`` None: the variant without a name."""

    msisdn: str
    kpj: str
    nik: str
    birth_date: date
    name: str | None
    email: str | None


@dataclass(frozen=True)
class RegistrationOutcome:
    result: SmsResult
    name: str | None = None  # the participant's, on REGISTERED only
    status: Status | None = None
    already: bool = False  # this number held this KPJ before
    moved: bool = False  # the KPJ was registered to another number until now


@dataclass(frozen=True)
class KpjAnswer:
    result: SmsResult
    kpjs: tuple[str, ...] = ()


def _letters(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return re.sub(r"[^A-Z]", "", decomposed.upper())


def names_match(given: str, on_record: str) -> bool:
    """Whether a typed name is the participant's: case, spaces, dots, apostrophes and
    accents aside (an SMS may write ``BUDISANTOSO`` or ``budi santoso``).

    >>> names_match("budisantoso", "Budi Santoso"), names_match("Budi S", "Budi Santoso")
    (True, False)
    """
    letters = _letters(given)
    return bool(letters) and letters == _letters(on_record)


def register(db: Database, registration: Registration, *,
             now: datetime | None = None) -> RegistrationOutcome:
    """Check a DAFTAR SALDO against the participant and, when every part matches, record
    the number for the KPJ (replacing an earlier number). Runs in the caller's
    write transaction."""
    row = db.query_one(f"SELECT nik, name, birth_date, status FROM participants "
                       f"WHERE kpj = ?{db.lock_rows}", (registration.kpj,))
    if row is None:
        return RegistrationOutcome(SmsResult.MISMATCH)
    nik, name, birth_date, status = row
    birth = birth_date if isinstance(birth_date, date) else date.fromisoformat(str(birth_date))
    if (nik != registration.nik or birth != registration.birth_date
            or (registration.name is not None and not names_match(registration.name, name))):
        return RegistrationOutcome(SmsResult.MISMATCH)
    earlier = db.query_one("SELECT msisdn FROM sms_registrations WHERE kpj = ?",
                           (registration.kpj,))
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    db.execute(
        "INSERT INTO sms_registrations (kpj, msisdn, email, registered_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kpj) DO UPDATE SET msisdn = excluded.msisdn, email = excluded.email, "
        "registered_at = excluded.registered_at",
        (registration.kpj, registration.msisdn, registration.email, at))
    already = earlier is not None and earlier[0] == registration.msisdn
    return RegistrationOutcome(SmsResult.REGISTERED, str(name), Status(str(status)),
                               already=already, moved=earlier is not None and not already)


def _has_registration(db: Database, msisdn: str) -> bool:
    return db.query_one("SELECT 1 FROM sms_registrations WHERE msisdn = ? LIMIT 1",
                        (msisdn,)) is not None


def registered_balance(db: Database, msisdn: str, kpj: str,
                       balance: BalanceAnswer) -> tuple[SmsResult, BalanceAnswer | None]:
    """SALDO: ``balance`` (the account's answer, read by the caller) when ``kpj`` is
    registered to ``msisdn``; else NOT_REGISTERED (the number holds nothing) or FORBIDDEN."""
    row = db.query_one("SELECT msisdn FROM sms_registrations WHERE kpj = ?", (kpj,))
    if row is not None and row[0] == msisdn and balance.result is BalanceResult.OK:
        return SmsResult.OK, balance
    if not _has_registration(db, msisdn):
        return SmsResult.NOT_REGISTERED, None
    return SmsResult.FORBIDDEN, None


def registered_kpjs(db: Database, msisdn: str, nik: str) -> KpjAnswer:
    """CEK NOMOR KTP: the KPJs of ``nik`` registered to ``msisdn``."""
    rows = db.query("SELECT r.kpj FROM sms_registrations AS r JOIN participants AS p "
                    "ON p.kpj = r.kpj WHERE r.msisdn = ? AND p.nik = ? ORDER BY r.kpj",
                    (msisdn, nik))
    if rows:
        return KpjAnswer(SmsResult.OK, tuple(str(r[0]) for r in rows))
    if not _has_registration(db, msisdn):
        return KpjAnswer(SmsResult.NOT_REGISTERED)
    return KpjAnswer(SmsResult.FORBIDDEN)
