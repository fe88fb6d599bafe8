"""The demo ledger: plausible, reproducible JHT histories for the docs/demo-data.md participants,
checked through the seeded SQLite file."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import date
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from bpjs_ledger.demo import default_as_of, demo_history
from bpjs_ledger.jht import (
    JHT_EMPLOYER_PERCENT,
    JHT_WORKER_PERCENT,
    ReturnRate,
    percent_of,
    return_rate,
    yearly_return_sen,
)
from bpjs_ledger.store import BalanceResult, LedgerStore

AS_OF = date(2026, 10, 31)
BY_NAME = {p.name.split()[0]: p for p in DEMO_PARTICIPANTS}


def _ledger_dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [line for line in conn.iterdump() if "schema_version" not in line]


def _year_rows(conn: sqlite3.Connection, kpj: str) -> dict[int, dict[str, list]]:
    """Per year, the movements ``(posted_on, amount_sen)`` and the stored return row."""
    years: dict[int, dict[str, list]] = defaultdict(lambda: {"moves": [], "returns": []})
    for posted_on, amount in conn.execute(
            "SELECT posted_on, employer_sen + worker_sen FROM contributions WHERE kpj = ? "
            "UNION ALL SELECT paid_on, -amount_sen FROM claims WHERE kpj = ?", (kpj, kpj)):
        day = date.fromisoformat(posted_on)
        years[day.year]["moves"].append((day, amount))
    for year, rate, amount, credited_on in conn.execute(
            "SELECT year, rate_percent, amount_sen, credited_on FROM yearly_returns "
            "WHERE kpj = ?", (kpj,)):
        years[year]["returns"].append((rate, amount, credited_on))
    return years


@pytest.mark.parametrize("who", sorted(BY_NAME))
def test_every_demo_year_balances_from_the_stored_rows(seeded_db: sqlite3.Connection,
                                                       seeded_store: LedgerStore,
                                                       who: str) -> None:
    record = BY_NAME[who]
    rows = _year_rows(seeded_db, record.kpj)
    history = demo_history(record, AS_OF)
    assert history is not None

    closing = 0
    for year in range(record.member_since.year, AS_OF.year + 1):
        opening = closing
        moves, returns = rows[year]["moves"], rows[year]["returns"]
        paid_in = sum(a for _, a in moves if a > 0)
        paid_out = -sum(a for _, a in moves if a < 0)
        if year < AS_OF.year:
            # A closed year: one return, at the table's rate, by the documented rule.
            [(rate, amount, credited_on)] = returns
            assert rate == str(return_rate(year).percent)
            assert credited_on == f"{year}-12-31"
            assert amount == yearly_return_sen(opening, moves, ReturnRate(year, Decimal(rate)))
            assert amount > 0
        else:
            assert returns == []  # the current year's return comes on 31 December
            amount = 0
        closing = opening + paid_in + amount - paid_out
        summary = history.years[year - record.member_since.year]
        assert (summary.year, summary.opening_sen, summary.contributions_sen,
                summary.returns_sen, summary.claims_sen, summary.closing_sen) == (
            year, opening, paid_in, amount, paid_out, closing)

    answer = seeded_store.balance(record.nik, record.kpj)
    assert answer.balance_sen == closing == history.balance_sen
    assert answer.as_of == AS_OF


def test_wayan_has_the_largest_balance(seeded_store: LedgerStore) -> None:
    balances = {who: seeded_store.balance(p.nik, p.kpj).balance_sen or 0
                for who, p in BY_NAME.items()}

    assert max(balances, key=lambda who: balances[who]) == "Wayan"
    assert all(b > 0 for b in balances.values())


def test_demo_balances_are_pinned(seeded_store: LedgerStore) -> None:
    # The published demo figures for 31 October 2026. They change only when a rule in
    # bpjs_ledger.jht or bpjs_ledger.demo changes on purpose; then update them here and in
    # the docs. Anything else (platform, float creeping in, row order) must not move them.
    balances = {who: seeded_store.balance(p.nik, p.kpj).balance_sen for who, p in BY_NAME.items()}

    assert balances == {
        "Budi": 122_209_530_25,
        "Siti": 47_026_673_73,
        "Andi": 68_802_550_96,
        "Dewi": 22_442_489_88,
        "Wayan": 150_568_686_79,
    }


def test_balances_are_plausible(seeded_store: LedgerStore) -> None:
    # Rough bounds in rupiah: years of 5.7% of a Rp2-12 million wage plus returns.
    for p in DEMO_PARTICIPANTS:
        balance = seeded_store.balance(p.nik, p.kpj).balance_sen
        assert balance is not None
        assert 10_000_000_00 < balance < 300_000_000_00, p.name


def test_contribution_rows_follow_the_rates(seeded_db: sqlite3.Connection) -> None:
    rows = seeded_db.execute(
        "SELECT wage_sen, employer_sen, worker_sen, period, paid_on, posted_on "
        "FROM contributions").fetchall()

    assert len(rows) > 900
    for wage, employer, worker, period, paid_on, posted_on in rows:
        assert employer == percent_of(wage, JHT_EMPLOYER_PERCENT)
        assert worker == percent_of(wage, JHT_WORKER_PERCENT)
        assert period < paid_on[:7] and paid_on <= posted_on <= AS_OF.isoformat()


def test_wages_rise_every_year(seeded_db: sqlite3.Connection) -> None:
    wages = seeded_db.execute(
        "SELECT substr(period, 1, 4), MIN(wage_sen), MAX(wage_sen) FROM contributions "
        "WHERE kpj = ? GROUP BY 1 ORDER BY 1", (BY_NAME["Wayan"].kpj,)).fetchall()

    assert wages[0] == ("1995", 450_000_00, 450_000_00)
    assert all(low == high for _, low, high in wages)  # one wage per year
    yearly = [low for _, low, _ in wages]
    assert all(a < b for a, b in pairwise(yearly))


def test_inactive_participant_stops_contributing_but_keeps_earning(
        seeded_db: sqlite3.Connection, seeded_store: LedgerStore) -> None:
    dewi = BY_NAME["Dewi"]
    last_period = seeded_db.execute("SELECT MAX(period) FROM contributions WHERE kpj = ?",
                                    (dewi.kpj,)).fetchone()[0]
    later_returns = seeded_db.execute(
        "SELECT year, amount_sen FROM yearly_returns WHERE kpj = ? AND year > 2022 "
        "ORDER BY year", (dewi.kpj,)).fetchall()

    assert last_period == "2022-08"
    assert [year for year, _ in later_returns] == [2023, 2024, 2025]
    assert all(amount > 0 for _, amount in later_returns)
    assert seeded_store.balance(dewi.nik, dewi.kpj).status == "NONAKTIF"


def test_same_date_same_ledger_byte_for_byte(tmp_path: Path) -> None:
    paths = [tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"]
    for path, as_of in zip(paths, [AS_OF, AS_OF, date(2026, 9, 30)], strict=True):
        LedgerStore(path, demo_as_of=as_of).close()

    first, second, earlier = (_ledger_dump(p) for p in paths)

    assert first == second
    assert len(first) > 1000
    assert earlier != first  # the dump does tell ledgers apart


def test_demo_before_someone_joined_or_left(tmp_path: Path) -> None:
    with LedgerStore(tmp_path / "old.db", demo_as_of=date(2012, 12, 31)) as store:
        siti, dewi, budi = BY_NAME["Siti"], BY_NAME["Dewi"], BY_NAME["Budi"]

        assert store.participant_count() == 3  # Budi, Andi (Sep 2012) and Wayan
        assert store.balance(siti.nik, siti.kpj).result is BalanceResult.NOT_FOUND
        assert store.balance(dewi.nik, dewi.kpj).result is BalanceResult.NOT_FOUND
        assert store.balance(budi.nik, budi.kpj).last_contribution == "2012-11"

    with LedgerStore(tmp_path / "2021.db", demo_as_of=date(2021, 12, 31)) as store:
        assert store.balance(dewi.nik, dewi.kpj).status == "AKTIF"


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 11, 5), date(2026, 10, 31)),
    (date(2026, 1, 1), date(2025, 12, 31)),
    (date(2024, 3, 31), date(2024, 2, 29)),
])
def test_default_balance_date_is_the_end_of_last_month(today: date, expected: date) -> None:
    assert default_as_of(today) == expected


def test_fresh_file_without_a_date_is_seeded_to_the_end_of_last_month(tmp_path: Path) -> None:
    before = default_as_of()
    with LedgerStore(tmp_path / "now.db") as store:
        budi = BY_NAME["Budi"]
        as_of = store.balance(budi.nik, budi.kpj).as_of

    assert as_of in (before, default_as_of())
