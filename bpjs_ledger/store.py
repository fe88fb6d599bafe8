"""The JHT ledger's storage: participants, their posted rows, and the balance answer.

``LedgerStore`` owns one SQLite connection. Opening a file brings its schema up to date
and, when the file holds no participant yet, seeds the demo histories. ``balance`` answers
an inquiry under the privacy rule of the channel:

* with a KPJ: an unknown KPJ is NOT_FOUND; a KPJ that belongs to another NIK is FORBIDDEN
  (the card holder may only see their own balance); otherwise OK;
* without a KPJ: the participant of that NIK, or NOT_FOUND.

Every history is written together with its balance snapshot in one transaction, and the
snapshot is computed by SQL from the rows just written, so the answer always equals
contributions + returns - claims.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from atmsim.masking import mask_digits_in_text
from bpjs_ledger.demo import default_as_of, demo_histories
from bpjs_ledger.identity import parse_kpj, parse_nik
from bpjs_ledger.records import ParticipantHistory, Status
from bpjs_ledger.schema import connect, migrate, transaction

__all__ = ["BalanceAnswer", "BalanceResult", "LedgerError", "LedgerStore"]

log = logging.getLogger("atmsim.ledger")


class LedgerError(RuntimeError):
    """The ledger's data is inconsistent or cannot be written."""


class BalanceResult(StrEnum):
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

_REFRESH_BALANCE = """
INSERT INTO balances (kpj, balance_sen, as_of, last_contribution)
SELECT :kpj,
    (SELECT COALESCE(SUM(employer_sen + worker_sen), 0) FROM contributions WHERE kpj = :kpj)
    + (SELECT COALESCE(SUM(amount_sen), 0) FROM yearly_returns WHERE kpj = :kpj)
    - (SELECT COALESCE(SUM(amount_sen), 0) FROM claims WHERE kpj = :kpj),
    :as_of,
    (SELECT MAX(period) FROM contributions WHERE kpj = :kpj)
ON CONFLICT (kpj) DO UPDATE SET balance_sen = excluded.balance_sen,
    as_of = excluded.as_of, last_contribution = excluded.last_contribution"""


class LedgerStore:
    """The ledger file. ``with LedgerStore(path) as store: store.balance(nik, kpj)``.

    ``demo_as_of`` is the balance date of the demo data seeded into a fresh file (default:
    the last day of the previous month); ``seed_demo=False`` leaves a fresh file empty.
    One store is used from one thread (sqlite3's rule); open one per worker.
    """

    def __init__(self, path: Path | str, *, demo_as_of: date | None = None,
                 seed_demo: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a fresh data directory
        self._conn = connect(self.path)
        try:
            migrate(self._conn)
            if seed_demo:
                self._seed_demo_if_empty(demo_as_of or default_as_of())
        except BaseException:
            self._conn.close()
            raise

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------

    def balance(self, nik: str, kpj: str | None) -> BalanceAnswer:
        """Answer a balance inquiry for the holder of ``nik``, optionally naming a KPJ.

        Raises ``IdentityError`` (a ``ValueError``) for a malformed NIK or KPJ. One SELECT
        reads the participant and the snapshot, so the answer comes from one consistent
        state of the file even while a writer commits.
        """
        nik = parse_nik(nik).value
        if kpj is None:
            row = self._conn.execute(_BY_NIK, (nik,)).fetchone()
            return _answer(row) if row else _NOT_FOUND
        row = self._conn.execute(_BY_KPJ, (parse_kpj(kpj).value,)).fetchone()
        if row is None:
            return _NOT_FOUND
        if row[1] != nik:
            log.info("KPJ requested by another NIK (%s): forbidden", mask_digits_in_text(nik))
            return _FORBIDDEN
        return _answer(row)

    def participant_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM participants").fetchone()[0])

    # -- writing ----------------------------------------------------------------------

    def add_history(self, history: ParticipantHistory) -> None:
        """Store a new participant's history and balance snapshot in one transaction."""
        with transaction(self._conn):
            _write_history(self._conn, history)

    def _seed_demo_if_empty(self, as_of: date) -> None:
        with transaction(self._conn):
            # Checked under the write lock: two processes opening a fresh file seed it once.
            if self._conn.execute("SELECT 1 FROM participants LIMIT 1").fetchone():
                return
            histories = demo_histories(as_of)
            for history in histories:
                _write_history(self._conn, history)
        log.info("seeded %d demo participants as of %s into %s", len(histories), as_of,
                 self.path)


def _answer(row: tuple[Any, ...]) -> BalanceAnswer:
    kpj, _nik, name, status, segment, balance_sen, as_of, last_contribution = row
    return BalanceAnswer(
        BalanceResult.OK,
        kpj=str(kpj),
        name=str(name),
        status=Status(status),
        segment=str(segment),
        balance_sen=int(balance_sen),
        as_of=date.fromisoformat(str(as_of)),
        last_contribution=None if last_contribution is None else str(last_contribution),
    )


def _write_history(conn: sqlite3.Connection, history: ParticipantHistory) -> None:
    """Insert one participant's rows and snapshot; the caller owns the transaction."""
    p = history.participant
    kpj = p.kpj.value
    if p.employer is not None:
        conn.execute("INSERT INTO employers (npp, name) VALUES (?, ?) "
                     "ON CONFLICT (npp) DO UPDATE SET name = excluded.name",
                     (p.employer.npp, p.employer.name))
    conn.execute(
        "INSERT INTO participants (kpj, nik, name, birth_date, sex, segment, status, "
        "inactive_since, inactive_reason, employer_npp, member_since) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kpj, p.nik.value, p.name, p.birth_date.isoformat(), p.sex, p.segment.value,
         p.status.value, _iso(p.inactive_since), p.inactive_reason,
         p.employer.npp if p.employer else None, p.member_since.isoformat()),
    )
    conn.executemany(
        "INSERT INTO contributions (kpj, period, wage_sen, employer_sen, worker_sen, "
        "paid_on, posted_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(kpj, str(c.period), c.wage_sen, c.employer_sen, c.worker_sen,
          c.paid_on.isoformat(), c.posted_on.isoformat()) for c in history.contributions],
    )
    conn.executemany(
        "INSERT INTO claims (kpj, kind, amount_sen, paid_on) VALUES (?, ?, ?, ?)",
        [(kpj, k.kind.value, k.amount_sen, k.paid_on.isoformat()) for k in history.claims],
    )
    conn.executemany(
        "INSERT INTO yearly_returns (kpj, year, rate_percent, rate_is_placeholder, "
        "amount_sen, credited_on) VALUES (?, ?, ?, ?, ?, ?)",
        [(kpj, y.year, str(y.rate.percent), int(y.rate.is_placeholder), y.returns_sen,
          y.credited_on.isoformat())
         for y in history.years if y.rate is not None and y.credited_on is not None],
    )
    conn.execute(_REFRESH_BALANCE, {"kpj": kpj, "as_of": history.as_of.isoformat()})
    stored = conn.execute("SELECT balance_sen FROM balances WHERE kpj = ?", (kpj,)).fetchone()[0]
    if stored != history.balance_sen:
        # The rows and the year-by-year arithmetic disagree: refuse to commit either.
        raise LedgerError(f"KPJ {kpj}: stored rows sum to {stored} sen, "
                          f"history closes at {history.balance_sen} sen")


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
