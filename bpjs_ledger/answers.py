"""What the ledger answers, as values: the store returns them, ``messages`` turns them into
the JSON of the MQTT contract and the CLI prints them.

An answer that refuses (NOT_FOUND, FORBIDDEN, REJECTED, ERROR) carries no participant data
at all, so nothing about someone else's account can leak through a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bpjs_ledger.jht import Contribution
from bpjs_ledger.records import JhtStatement, Status

__all__ = [
    "BalanceAnswer",
    "BalanceResult",
    "ContributionsAnswer",
    "MemberAnswer",
    "MemberResult",
    "PostOutcome",
    "PostResult",
    "StatementAnswer",
]


class BalanceResult(StrEnum):
    """The outcome of a balance or statement inquiry (docs/ledger.md, "Over MQTT")."""

    OK = "OK"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class BalanceAnswer:
    """The outcome of a balance inquiry; participant fields are set on OK only."""

    result: BalanceResult
    kpj: str | None = None
    name: str | None = None
    status: Status | None = None
    segment: str | None = None
    balance_sen: int | None = None
    as_of: date | None = None
    last_contribution: str | None = None  # YYYY-MM


@dataclass(frozen=True)
class StatementAnswer:
    """The outcome of a statement inquiry; ``statement`` is set on OK only."""

    result: BalanceResult
    statement: JhtStatement | None = None


class PostResult(StrEnum):
    """The outcome of a contribution post.

    POSTED: the contribution is in the ledger (now, or already under the same key).
    REJECTED: the post breaks a rule (the reason says which); nothing was written.
    NOT_FOUND: no such KPJ. FORBIDDEN: the KPJ is not the posting employer's worker.
    ERROR: the post could not be read, or the ledger failed; safe to send again.
    """

    POSTED = "POSTED"
    REJECTED = "REJECTED"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class PostOutcome:
    """The outcome of a contribution post; ``contribution`` is set when POSTED."""

    result: PostResult
    reason: str | None = None
    duplicate: bool = False  # POSTED earlier under the same key: this post changed nothing
    contribution: Contribution | None = None


class MemberResult(StrEnum):
    """The outcome of a membership check ("cek kepesertaan").

    OK: a participant has that NIK, birth date and name (and KPJ, when one was given).
    NO_MATCH: no participant matches all of them. One answer for every mismatch, so the
    check never tells a stranger which part of someone's identity was right.
    ERROR: the request could not be read, or the ledger failed.
    """

    OK = "OK"
    NO_MATCH = "NO_MATCH"
    ERROR = "ERROR"


@dataclass(frozen=True)
class MemberAnswer:
    """The outcome of a membership check; participant fields are set on OK only."""

    result: MemberResult
    kpj: str | None = None
    name: str | None = None
    status: Status | None = None
    segment: str | None = None
    member_since: date | None = None


@dataclass(frozen=True)
class ContributionsAnswer:
    """The contribution history of a participant (same privacy rule as a balance);
    ``contributions`` newest first, set on OK only."""

    result: BalanceResult
    kpj: str | None = None
    contributions: tuple[Contribution, ...] = ()
