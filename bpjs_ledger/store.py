"""The JHT ledger's storage: participants, their posted rows, and the answers to inquiries.

``LedgerStore`` owns one database (``db.open_database``: a SQLite file by default, or a
PostgreSQL URL). Opening one brings its schema up to date and, when it holds no
participant yet, seeds the demo histories. Inquiries from a channel (``balance``,
``statement``) follow its privacy rule:

* with a KPJ: an unknown KPJ is NOT_FOUND; a KPJ that belongs to another NIK is FORBIDDEN
  (the card holder may only see their own account); otherwise OK;
* without a KPJ: the participant of that NIK, or NOT_FOUND.

``account`` and ``account_statement`` are the back office's reads by KPJ alone (the CLI).

Every write (a whole history, a posted contribution) refreshes the balance snapshot in
the same transaction, computed by SQL from the rows, so an answer always equals opening +
contributions + returns - claims. A statement reads every row of an account inside one
read-only transaction, so its last closing is the balance of that same moment.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from atmsim.kernel.masking import mask_digits_in_text
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
from bpjs_ledger.bsu import BsuAssessment
from bpjs_ledger.db import (
    ConstraintViolation,
    Database,
    SqliteDatabase,
    StorageError,
    open_database,
)
from bpjs_ledger.demo import default_as_of, demo_histories
from bpjs_ledger.identity import Kpj, Nik, parse_kpj, parse_nik
from bpjs_ledger.jht import (
    Contribution,
    JhtYear,
    Period,
    ReturnRate,
    returns_due,
    statement_years,
)
from bpjs_ledger.member_services import (
    ComplaintPost,
    IdentityClaim,
    Member,
    VerifyResult,
    assess_member,
    file_complaint,
    find_member,
)
from bpjs_ledger.records import (
    ContributionPost,
    Employer,
    JhtStatement,
    Participant,
    ParticipantHistory,
    Segment,
    Status,
    contribution_for,
)
from bpjs_ledger.schema import migrate
from bpjs_ledger.sms_registry import (
    KpjAnswer,
    Registration,
    RegistrationOutcome,
    SmsResult,
    register,
    registered_balance,
    registered_kpjs,
)

__all__ = [
    "BalanceAnswer",
    "BalanceResult",
    "LedgerError",
    "LedgerStore",
    "PostOutcome",
    "PostResult",
    "StatementAnswer",
    "same_name",
]

log = logging.getLogger("atmsim.ledger")


class LedgerError(StorageError):
    """The ledger's data is inconsistent or cannot be written."""


_NOT_FOUND = BalanceAnswer(BalanceResult.NOT_FOUND)
_FORBIDDEN = BalanceAnswer(BalanceResult.FORBIDDEN)

_ANSWER_COLUMNS = """p.kpj, p.nik, p.name, p.status, p.segment,
    b.balance_sen, b.as_of, b.last_contribution
    FROM participants AS p JOIN balances AS b ON b.kpj = p.kpj"""

# Several KPJs for one NIK (duplicate registrations): an active one first, then the most
# recent membership, then the KPJ, so the choice is stable.
_BY_NIK = f"""SELECT {_ANSWER_COLUMNS} WHERE p.nik = ?
    ORDER BY p.status = 'AKTIF' DESC, p.member_since DESC, p.kpj LIMIT 1"""
_BY_KPJ = f"SELECT {_ANSWER_COLUMNS} WHERE p.kpj = ?"

_PARTICIPANT = """SELECT p.kpj, p.nik, p.name, p.birth_date, p.sex, p.segment, p.status,
    p.member_since, p.employer_npp, e.name, p.inactive_since, p.inactive_reason,
    b.balance_sen, b.as_of, b.last_contribution
    FROM participants AS p JOIN balances AS b ON b.kpj = p.kpj
    LEFT JOIN employers AS e ON e.npp = p.employer_npp
    WHERE p.kpj = ?"""

_MEMBER_BY_NIK = """SELECT kpj, name, birth_date, status, segment, member_since
    FROM participants WHERE nik = ? ORDER BY status = 'AKTIF' DESC, member_since DESC, kpj"""
_CONTRIBUTION_ROWS = """SELECT period, wage_sen, employer_sen, worker_sen, paid_on, posted_on,
    jp_employer_sen, jp_worker_sen FROM contributions WHERE kpj = ? ORDER BY period DESC"""

# Claims are negative movements: they lower the balance and stop earning (jht module).
_MOVEMENTS = """SELECT posted_on, employer_sen + worker_sen FROM contributions WHERE kpj = ?
    UNION ALL SELECT paid_on, -amount_sen FROM claims WHERE kpj = ?"""

_REFRESH_BALANCE = """
INSERT INTO balances (kpj, balance_sen, as_of, last_contribution)
SELECT p.kpj,
    COALESCE((SELECT amount_sen FROM opening_balances WHERE kpj = p.kpj), 0)
    + COALESCE((SELECT SUM(employer_sen + worker_sen) FROM contributions WHERE kpj = p.kpj), 0)
    + COALESCE((SELECT SUM(amount_sen) FROM yearly_returns WHERE kpj = p.kpj), 0)
    - COALESCE((SELECT SUM(amount_sen) FROM claims WHERE kpj = p.kpj), 0),
    ?,
    (SELECT MAX(period) FROM contributions WHERE kpj = p.kpj)
FROM participants AS p WHERE p.kpj = ?
ON CONFLICT (kpj) DO UPDATE SET balance_sen = excluded.balance_sen,
    as_of = excluded.as_of, last_contribution = excluded.last_contribution"""

CONTRIBUTION_COLUMNS = ("kpj", "period", "wage_sen", "employer_sen", "worker_sen",
                        "jp_employer_sen", "jp_worker_sen", "paid_on", "posted_on")
_INSERT_CONTRIBUTION = (f"INSERT INTO contributions ({', '.join(CONTRIBUTION_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(CONTRIBUTION_COLUMNS))})")
_INSERT_RETURN = ("INSERT INTO yearly_returns (kpj, year, rate_percent, rate_is_placeholder, "
                  "amount_sen, credited_on) VALUES (?, ?, ?, ?, ?, ?)")

# Tables in an order that deletes children before parents.
_TABLES = ("sms_registrations", "contribution_posts", "balances", "claims",
           "yearly_returns", "contributions", "opening_balances", "participants", "employers")

# A unique-key collision while posting means another worker committed the same key or
# month between our read and our insert; reading again gives the right answer.
_POST_ATTEMPTS = 3


class LedgerStore:
    """The ledger database. ``with LedgerStore(path_or_url) as store: store.balance(...)``.

    ``target`` is a SQLite file path or a ``postgresql://`` URL. ``demo_as_of`` is the
    balance date of the demo data seeded into a fresh database (default: the last day of
    the previous month); ``seed_demo=False`` leaves a fresh database empty. A store is used
    by one thread at a time; open one per worker.
    """

    def __init__(self, target: Path | str, *, demo_as_of: date | None = None,
                 seed_demo: bool = True) -> None:
        self.db: Database = open_database(target)
        self.path: Path | None = self.db.path if isinstance(self.db, SqliteDatabase) else None
        try:
            migrate(self.db)
            if seed_demo:
                self._seed_demo_if_empty(demo_as_of or default_as_of())
        except BaseException:
            self.db.close()
            raise

    @property
    def location(self) -> str:
        """Where the data is, as it may be printed (no password)."""
        return self.db.location

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- inquiries from a channel -----------------------------------------------------

    def balance(self, nik: str, kpj: str | None) -> BalanceAnswer:
        """Answer a balance inquiry for the holder of ``nik``, optionally naming a KPJ.

        Raises ``IdentityError`` (a ``ValueError``) for a malformed NIK or KPJ. One SELECT
        reads the participant and the snapshot, so the answer comes from one consistent
        state of the database even while a writer commits.
        """
        nik = parse_nik(nik).value
        if kpj is None:
            row = self.db.query_one(_BY_NIK, (nik,))
            return _answer(row) if row else _NOT_FOUND
        row = self.db.query_one(_BY_KPJ, (parse_kpj(kpj).value,))
        if row is None:
            return _NOT_FOUND
        if row[1] != nik:
            _log_forbidden(nik)
            return _FORBIDDEN
        return _answer(row)

    def statement(self, nik: str, kpj: str | None) -> StatementAnswer:
        """The yearly statement for the holder of ``nik`` (same privacy rule as
        ``balance``); raises ``IdentityError`` for a malformed NIK or KPJ."""
        nik = parse_nik(nik).value
        wanted = None if kpj is None else parse_kpj(kpj).value
        with self.db.snapshot():
            if wanted is None:
                row = self.db.query_one(_BY_NIK, (nik,))
                if row is None:
                    return StatementAnswer(BalanceResult.NOT_FOUND)
                wanted = str(row[0])
            else:
                owner = self.db.query_one("SELECT nik FROM participants WHERE kpj = ?",
                                          (wanted,))
                if owner is None:
                    return StatementAnswer(BalanceResult.NOT_FOUND)
                if owner[0] != nik:
                    _log_forbidden(nik)
                    return StatementAnswer(BalanceResult.FORBIDDEN)
            statement = self._read_statement(wanted)
        if statement is None:
            return StatementAnswer(BalanceResult.NOT_FOUND)
        return StatementAnswer(BalanceResult.OK, statement)

    def member(self, nik: str, birth_date: date, name: str,
               kpj: str | None = None) -> MemberAnswer:
        """The membership check a portal's "cek kepesertaan" form makes: the participant
        whose NIK, birth date and name (and KPJ, when given) all match, else NO_MATCH.

        Names match as people type them: case, spaces and punctuation aside
        (``same_name``). Raises ``IdentityError`` for a malformed NIK or KPJ.
        """
        nik = parse_nik(nik).value
        wanted = None if kpj is None else parse_kpj(kpj).value
        for row in self.db.query(_MEMBER_BY_NIK, (nik,)):
            (row_kpj, row_name, row_birth, status, segment, member_since) = row
            if wanted is not None and str(row_kpj) != wanted:
                continue
            if _day(row_birth) != birth_date or not same_name(str(row_name), name):
                continue
            return MemberAnswer(MemberResult.OK, kpj=str(row_kpj), name=str(row_name),
                                status=Status(status), segment=str(segment),
                                member_since=_day(member_since))
        log.info("membership check for NIK %s: no match", mask_digits_in_text(nik))
        return MemberAnswer(MemberResult.NO_MATCH)

    def contributions(self, nik: str, kpj: str | None) -> ContributionsAnswer:
        """The monthly contributions the ledger holds row by row for the holder of
        ``nik`` (same privacy rule as ``balance``), newest first."""
        nik = parse_nik(nik).value
        with self.db.snapshot():
            if kpj is None:
                row = self.db.query_one(_BY_NIK, (nik,))
                if row is None:
                    return ContributionsAnswer(BalanceResult.NOT_FOUND)
                wanted = str(row[0])
            else:
                wanted = parse_kpj(kpj).value
                owner = self.db.query_one("SELECT nik FROM participants WHERE kpj = ?",
                                          (wanted,))
                if owner is None:
                    return ContributionsAnswer(BalanceResult.NOT_FOUND)
                if owner[0] != nik:
                    _log_forbidden(nik)
                    return ContributionsAnswer(BalanceResult.FORBIDDEN)
            rows = self.db.query(_CONTRIBUTION_ROWS, (wanted,))
        return ContributionsAnswer(BalanceResult.OK, wanted, tuple(
            Contribution(Period.parse(str(r[0])), int(r[1]), int(r[2]), int(r[3]),
                         _day(r[4]), _day(r[5]), int(r[6]), int(r[7])) for r in rows))
    # -- member services for chat channels (bpjs_ledger.member_services) --------------

    def membership(self, claim: IdentityClaim) -> tuple[VerifyResult, Member | None]:
        """The membership of the participant ``claim`` describes, if every detail matches."""
        result, member = find_member(self.db, claim)
        if result is VerifyResult.NOT_VERIFIED:
            log.info("identity not verified for NIK %s", mask_digits_in_text(claim.nik.value))
        return result, member

    def bsu(self, claim: IdentityClaim, year: str
            ) -> tuple[VerifyResult, Member | None, BsuAssessment | None]:
        """BSU candidacy in programme ``year`` of the verified participant."""
        with self.db.snapshot():
            result, member = self.membership(claim)
            if member is None:
                return result, None, None
            return result, member, assess_member(self.db, member, year)

    def file_complaint(self, post: ComplaintPost, *, today: date) -> tuple[str, bool]:
        """Store a complaint (once per ``post.key``): its ticket, and whether it was
        filed before. Returns after the commit."""
        for attempt in range(1, _POST_ATTEMPTS + 1):
            try:
                with self.db.transaction():
                    return file_complaint(self.db, post, today=today)
            except ConstraintViolation as exc:
                if not exc.unique or attempt == _POST_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")
    # -- the SMS 2757 channel (bpjs_ledger.sms_registry) --------------------------------

    def sms_register(self, registration: Registration) -> RegistrationOutcome:
        """DAFTAR SALDO: record the number for the KPJ when the data match."""
        with self.db.transaction():
            return register(self.db, registration)

    def sms_balance(self, msisdn: str, kpj: str) -> tuple[SmsResult, BalanceAnswer | None]:
        """SALDO: the balance of ``kpj`` if it is registered to ``msisdn``."""
        with self.db.snapshot():
            return registered_balance(self.db, msisdn, kpj, self.account(kpj))

    def sms_kpjs(self, msisdn: str, nik: str) -> KpjAnswer:
        """CEK NOMOR KTP: the KPJs of ``nik`` registered to ``msisdn``."""
        return registered_kpjs(self.db, msisdn, parse_nik(nik).value)

    # -- back-office reads ------------------------------------------------------------

    def account(self, kpj: str) -> BalanceAnswer:
        """The balance of a KPJ for the ledger's own staff (no NIK, no privacy rule)."""
        row = self.db.query_one(_BY_KPJ, (parse_kpj(kpj).value,))
        return _answer(row) if row else _NOT_FOUND

    def account_statement(self, kpj: str) -> JhtStatement | None:
        """The statement of a KPJ for the ledger's own staff; None for an unknown KPJ."""
        wanted = parse_kpj(kpj).value
        with self.db.snapshot():
            return self._read_statement(wanted)

    def participant_count(self) -> int:
        row = self.db.query_one("SELECT COUNT(*) FROM participants")
        return int(row[0]) if row else 0

    # -- writing ----------------------------------------------------------------------

    def add_history(self, history: ParticipantHistory) -> None:
        """Store a new participant's history and balance snapshot in one transaction."""
        self.add_histories([history])

    def add_histories(self, histories: Iterable[ParticipantHistory]) -> int:
        """Store several new histories in one transaction; how many were stored."""
        count = 0
        with self.db.transaction():
            for history in histories:
                _write_history(self.db, history)
                count += 1
        return count

    def clear(self) -> None:
        """Delete every participant and row (``atmsim ledger seed --replace``)."""
        with self.db.transaction(exclusive=True):
            if self.db.dialect == "postgresql":
                self.db.execute(f"TRUNCATE {', '.join(_TABLES)}")
            else:
                for table in _TABLES:
                    self.db.execute(f"DELETE FROM {table}")

    def post_contribution(self, post: ContributionPost, *, today: date) -> PostOutcome:
        """Post one month's contribution, at most once per ``post.key``.

        Returns only after the transaction that wrote it has committed, so an answer of
        POSTED means the contribution is durable. The posting date is ``today``, or the
        account's balance date if that is later (a posting never lands in a year whose
        return is already credited). Years that closed since the account's balance date
        get their return credited first, in the same transaction.
        """
        for attempt in range(1, _POST_ATTEMPTS + 1):
            try:
                with self.db.transaction():
                    return self._post(post, today)
            except ConstraintViolation as exc:
                if not exc.unique or attempt == _POST_ATTEMPTS:
                    raise
                log.info("post %s raced another worker; reading again", post.key)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _seed_demo_if_empty(self, as_of: date) -> None:
        with self.db.transaction(exclusive=True):
            # Checked under the lock: two processes opening a fresh database seed it once.
            if self.db.query_one("SELECT 1 FROM participants LIMIT 1"):
                return
            histories = demo_histories(as_of)
            for history in histories:
                _write_history(self.db, history)
        log.info("seeded %d demo participants as of %s into %s", len(histories), as_of,
                 self.location)

    # -- inside transactions ----------------------------------------------------------

    def _read_statement(self, kpj: str) -> JhtStatement | None:
        row = self.db.query_one(_PARTICIPANT, (kpj,))
        if row is None:
            return None
        participant = _participant(row)
        balance_sen, as_of, last_contribution = int(row[12]), _day(row[13]), row[14]
        first_year, opening_sen = self._opening(participant)
        years = statement_years(first_year=first_year, last_year=as_of.year,
                                opening_sen=opening_sen, movements=self._movements(kpj),
                                credited=self._credited(kpj))
        if years[-1].closing_sen != balance_sen:
            # The snapshot and the rows disagree: answer nothing rather than two figures.
            raise LedgerError(f"KPJ {kpj}: rows close at {years[-1].closing_sen} sen, "
                              f"balance snapshot says {balance_sen} sen")
        return JhtStatement(participant, years, balance_sen, as_of,
                            None if last_contribution is None else str(last_contribution))

    def _opening(self, participant: Participant) -> tuple[int, int]:
        row = self.db.query_one("SELECT year, amount_sen FROM opening_balances WHERE kpj = ?",
                                (participant.kpj.value,))
        if row is None:
            return participant.member_since.year, 0
        return int(row[0]), int(row[1])

    def _movements(self, kpj: str) -> list[tuple[date, int]]:
        return [(_day(day), int(amount))
                for day, amount in self.db.query(_MOVEMENTS, (kpj, kpj))]

    def _credited(self, kpj: str) -> dict[int, tuple[ReturnRate, int]]:
        rows = self.db.query("SELECT year, rate_percent, rate_is_placeholder, amount_sen "
                             "FROM yearly_returns WHERE kpj = ?", (kpj,))
        return {int(year): (ReturnRate(int(year), Decimal(str(rate)),
                                       None if placeholder else "stored"), int(amount))
                for year, rate, placeholder, amount in rows}

    def _post(self, post: ContributionPost, today: date) -> PostOutcome:
        kpj = post.kpj.value
        # Lock the account first (PostgreSQL: FOR UPDATE; SQLite: the write lock taken at
        # BEGIN), so that everything read below stays true until we commit.
        account = self.db.query_one(
            "SELECT p.segment, p.status, p.employer_npp, p.member_since, b.as_of "
            f"FROM participants AS p JOIN balances AS b ON b.kpj = p.kpj WHERE p.kpj = ?"
            f"{self.db.lock_rows}", (kpj,))
        earlier = self.db.query_one(
            "SELECT kpj, period, fingerprint FROM contribution_posts WHERE post_key = ?",
            (post.key,))
        if earlier is not None:
            if earlier[2] != post.fingerprint:
                return PostOutcome(PostResult.REJECTED,
                                   "key already used for a different contribution")
            return PostOutcome(PostResult.POSTED, duplicate=True,
                               contribution=self._contribution(str(earlier[0]),
                                                               str(earlier[1])))
        if account is None:
            return PostOutcome(PostResult.NOT_FOUND, "no participant with this KPJ")
        segment, status, npp, member_since, as_of = (
            Segment(account[0]), Status(account[1]), account[2], _day(account[3]),
            _day(account[4]))
        if npp != post.npp:
            return PostOutcome(PostResult.FORBIDDEN,
                               "the KPJ is not a worker of this employer" if post.npp else
                               "the participant has an employer: npp is required")
        if status is Status.NONAKTIF:
            return PostOutcome(PostResult.REJECTED, "the participant is NONAKTIF")
        if segment is Segment.JAKON:
            return PostOutcome(PostResult.REJECTED, "segment JAKON has no JHT programme")
        posted_on = max(today, as_of)
        problem = _period_problem(post, member_since, posted_on)
        if problem:
            return PostOutcome(PostResult.REJECTED, problem)
        if self.db.query_one("SELECT 1 FROM contributions WHERE kpj = ? AND period = ?",
                             (kpj, str(post.period))):
            return PostOutcome(PostResult.REJECTED,
                               f"period {post.period} is already posted for this KPJ")
        self._credit_due_returns(kpj, member_since, posted_on)
        contribution = contribution_for(segment, post.period, post.wage_sen,
                                        paid_on=post.paid_on, posted_on=posted_on)
        self.db.execute(_INSERT_CONTRIBUTION, _contribution_row(kpj, contribution))
        self.db.execute(
            "INSERT INTO contribution_posts (post_key, kpj, period, fingerprint, committed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (post.key, kpj, str(post.period), post.fingerprint,
             datetime.now(UTC).isoformat(timespec="milliseconds")))
        self.db.execute(_REFRESH_BALANCE, (posted_on, kpj))
        return PostOutcome(PostResult.POSTED, contribution=contribution)

    def _credit_due_returns(self, kpj: str, member_since: date, through: date) -> None:
        opening = self.db.query_one(
            "SELECT year, amount_sen FROM opening_balances WHERE kpj = ?", (kpj,))
        first_year, opening_sen = ((int(opening[0]), int(opening[1])) if opening
                                   else (member_since.year, 0))
        credited = {year: amount for year, (_, amount) in self._credited(kpj).items()}
        due = returns_due(first_year=first_year, opening_sen=opening_sen,
                          movements=self._movements(kpj), credited=credited, through=through)
        for year, (rate, amount) in sorted(due.items()):
            self.db.execute(_INSERT_RETURN, (kpj, year, str(rate.percent),
                                             int(rate.is_placeholder), amount,
                                             date(year, 12, 31)))

    def _contribution(self, kpj: str, period: str) -> Contribution | None:
        row = self.db.query_one(
            "SELECT period, wage_sen, employer_sen, worker_sen, paid_on, posted_on, "
            "jp_employer_sen, jp_worker_sen FROM contributions WHERE kpj = ? AND period = ?",
            (kpj, period))
        if row is None:
            return None
        return Contribution(Period.parse(str(row[0])), int(row[1]), int(row[2]), int(row[3]),
                            _day(row[4]), _day(row[5]), int(row[6]), int(row[7]))


# -- rows -----------------------------------------------------------------------------


def same_name(stored: str, typed: str) -> bool:
    """Whether ``typed`` is the participant's name as people type it: case, spaces and
    punctuation do not count (an SMS may drop the spaces, a form may add a dot).

    >>> same_name("Siti Rahayu", "SITI  RAHAYU"), same_name("Siti Rahayu", "sitirahayu")
    (True, True)
    >>> same_name("Siti Rahayu", "Siti Rahmawati"), same_name("Siti Rahayu", "")
    (False, False)
    """
    def letters(name: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKC", name).casefold()
                       if c.isalnum())
    return bool(letters(typed)) and letters(stored) == letters(typed)


def _day(value: Any) -> date:
    # SQLite hands dates back as ISO text, PostgreSQL as dates.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _log_forbidden(nik: str) -> None:
    log.info("KPJ requested by another NIK (%s): forbidden", mask_digits_in_text(nik))


def _answer(row: Sequence[Any]) -> BalanceAnswer:
    kpj, _nik, name, status, segment, balance_sen, as_of, last_contribution = row
    return BalanceAnswer(
        BalanceResult.OK,
        kpj=str(kpj),
        name=str(name),
        status=Status(status),
        segment=str(segment),
        balance_sen=int(balance_sen),
        as_of=_day(as_of),
        last_contribution=None if last_contribution is None else str(last_contribution),
    )


def _participant(row: Sequence[Any]) -> Participant:
    (kpj, nik, name, birth_date, sex, segment, status, member_since, npp, employer_name,
     inactive_since, inactive_reason) = row[:12]
    return Participant(
        kpj=Kpj(str(kpj)),
        # Stored NIKs were checked on the way in; birth date and sex are stored beside.
        nik=Nik(str(nik), _day(birth_date), "P" if sex == "P" else "L"),
        name=str(name),
        segment=Segment(segment),
        status=Status(status),
        member_since=_day(member_since),
        employer=None if npp is None else Employer(str(npp), str(employer_name)),
        inactive_since=None if inactive_since is None else _day(inactive_since),
        inactive_reason=None if inactive_reason is None else str(inactive_reason),
    )


def _period_problem(post: ContributionPost, member_since: date, posted_on: date) -> str | None:
    """Why a post's dates cannot be accepted, or None."""
    if post.period < Period.of(member_since):
        return (f"period {post.period} is before the membership started "
                f"({Period.of(member_since)})")
    if post.period > Period.of(posted_on):
        return f"period {post.period} has not started yet (posting date {posted_on})"
    if post.paid_on < post.period.first_day:
        return f"paid_on {post.paid_on} is before period {post.period}"
    if post.paid_on > posted_on:
        return f"paid_on {post.paid_on} is after the posting date {posted_on}"
    return None


def _contribution_row(kpj: str, c: Contribution) -> tuple[Any, ...]:
    return (kpj, str(c.period), c.wage_sen, c.employer_sen, c.worker_sen, c.jp_employer_sen,
            c.jp_worker_sen, c.paid_on, c.posted_on)


def _write_history(db: Database, history: ParticipantHistory) -> None:
    """Insert one participant's rows and snapshot; the caller owns the transaction."""
    p = history.participant
    kpj = p.kpj.value
    if p.employer is not None:
        db.execute("INSERT INTO employers (npp, name) VALUES (?, ?) "
                   "ON CONFLICT (npp) DO UPDATE SET name = excluded.name",
                   (p.employer.npp, p.employer.name))
    db.execute(
        "INSERT INTO participants (kpj, nik, name, birth_date, sex, segment, status, "
        "inactive_since, inactive_reason, employer_npp, member_since) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kpj, p.nik.value, p.name, p.birth_date, p.sex, p.segment.value, p.status.value,
         p.inactive_since, p.inactive_reason, p.employer.npp if p.employer else None,
         p.member_since),
    )
    if history.opening_sen or history.first_year != p.member_since.year:
        db.execute("INSERT INTO opening_balances (kpj, year, amount_sen) VALUES (?, ?, ?)",
                   (kpj, history.first_year, history.opening_sen))
    db.executemany(_INSERT_CONTRIBUTION,
                   [_contribution_row(kpj, c) for c in history.contributions])
    db.executemany("INSERT INTO claims (kpj, kind, amount_sen, paid_on) VALUES (?, ?, ?, ?)",
                   [(kpj, k.kind.value, k.amount_sen, k.paid_on) for k in history.claims])
    db.executemany(_INSERT_RETURN, [
        (kpj, y.year, str(rate.percent), int(rate.is_placeholder), y.returns_sen, credited_on)
        for y, rate, credited_on in _credited_years(history.years)])
    db.execute(_REFRESH_BALANCE, (history.as_of, kpj))
    stored = db.query_one("SELECT balance_sen FROM balances WHERE kpj = ?", (kpj,))
    if stored is None or int(stored[0]) != history.balance_sen:
        # The rows and the year-by-year arithmetic disagree: refuse to commit either.
        raise LedgerError(f"KPJ {kpj}: stored rows sum to {stored and stored[0]} sen, "
                          f"history closes at {history.balance_sen} sen")


def _credited_years(years: Iterable[JhtYear]) -> list[tuple[JhtYear, ReturnRate, date]]:
    return [(y, y.rate, y.credited_on) for y in years
            if y.rate is not None and y.credited_on is not None]
