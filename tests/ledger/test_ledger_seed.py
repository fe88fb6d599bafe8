"""Synthetic participants and the bulk seed: reproducible, consistent with the JHT rules
(the fast closed-form arithmetic equals the month-by-month one), the demo participants
always included, and the same ledger on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_PARTICIPANTS
from bpjs_ledger.identity import parse_kpj, parse_nik
from bpjs_ledger.jht import Period
from bpjs_ledger.records import ContributionPost, Segment, Status
from bpjs_ledger.seed import SeedError, seed_ledger, verify_sample
from bpjs_ledger.store import BalanceResult, LedgerStore, PostResult
from bpjs_ledger.synthetic import (
    detail_start_year,
    draw_people,
    evaluate,
    reference_history,
    synthetic_kpj,
)
from tests.ledger.conftest import AS_OF, POSTING_DAY

SEEDED = 800  # participants per seeded test ledger


def test_fast_arithmetic_equals_the_month_by_month_rules() -> None:
    # Year by year from joining: opening, returns and the claims paid, to the sen.
    people = draw_people(11, 0, AS_OF, 600)
    kinds: Counter[str] = Counter()

    for person in people:
        fast = evaluate(person, AS_OF)
        slow = reference_history(person, AS_OF)
        assert fast.closing == slow.balance_sen, person.index
        for year in slow.years:
            assert (fast.opening[year.year], fast.returns.get(year.year, 0)) == (
                year.opening_sen, year.returns_sen), (person.index, year.year)
        assert [(k, d, a) for k, d, a in fast.claims] == [
            (c.kind, c.paid_on, c.amount_sen) for c in slow.claims], person.index
        kinds.update(kind.value for kind, _, _ in fast.claims)
        kinds[person.participant.segment.value] += 1

    # The draw covers what the rules must handle: every claim kind, every segment.
    assert set(kinds) >= {"JHT_10", "JHT_30", "JHT_100", "PU", "BPU", "PMI"}


def test_synthetic_identities_are_valid_unique_and_never_a_demo_ones() -> None:
    people = [p for chunk in range(2) for p in draw_people(5, chunk, AS_OF, 12_000)]
    demo_kpjs = {p.kpj for p in DEMO_PARTICIPANTS}
    demo_niks = {p.nik for p in DEMO_PARTICIPANTS} | {c.nik for c in DEMO_CARDS}

    kpjs = [p.participant.kpj.value for p in people]
    niks = [p.participant.nik.value for p in people]
    assert len(set(kpjs)) == len(kpjs) == 12_000 and not demo_kpjs & set(kpjs)
    assert len(set(niks)) == len(niks) and not demo_niks & set(niks)
    for person in people[::20]:
        nik = parse_nik(person.participant.nik.value, today=AS_OF)
        assert (nik.birth_date, nik.sex) == (person.participant.birth_date,
                                             person.participant.sex)
        assert parse_kpj(person.participant.kpj.value)


def test_a_participant_is_the_same_whatever_the_total() -> None:
    small = draw_people(3, 0, AS_OF, 300)
    large = draw_people(3, 0, AS_OF, 10_000_000)[:300]

    assert small == large
    assert [p.wages for p in small] != [p.wages for p in draw_people(4, 0, AS_OF, 300)]


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [line for line in conn.iterdump() if "schema_version" not in line]


def test_same_seed_same_ledger_byte_for_byte(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.db" for name in ("a", "b", "c")]
    for path, seed in zip(paths, [7, 7, 8], strict=True):
        seed_ledger(path, participants=300, seed=seed, as_of=AS_OF)

    first, second, other = (_dump(p) for p in paths)

    assert first == second
    assert other != first
    assert len(first) > 4_000


def test_seeded_ledger_answers_and_adds_up(db_target: Path | str) -> None:
    report = seed_ledger(db_target, participants=SEEDED, seed=7, as_of=AS_OF)

    with LedgerStore(db_target) as store:
        assert (report.demo, report.synthetic) == (5, SEEDED)
        assert store.participant_count() == SEEDED + 5
        assert verify_sample(store, SEEDED, every=3) == 267  # statements refuse a mismatch
        refreshed = store.db.query(_SUMS_DIFFER)
        budi = store.balance(DEMO_PARTICIPANTS[0].nik, DEMO_PARTICIPANTS[0].kpj)
        someone = store.account(synthetic_kpj(42))
        statement = store.account_statement(synthetic_kpj(42))

    assert refreshed == [(0,)]  # every snapshot equals opening + rows, by SQL
    assert (budi.result, budi.balance_sen) == (BalanceResult.OK, 122_209_530_25)
    assert someone.result is BalanceResult.OK and statement is not None
    assert statement.years[-1].closing_sen == someone.balance_sen
    first_year = statement.years[0].year
    assert first_year >= detail_start_year(AS_OF)  # older years are one opening balance


# Participants whose snapshot differs from what their rows add up to (must be none).
_SUMS_DIFFER = """SELECT COUNT(*) FROM balances AS b WHERE b.balance_sen <>
    COALESCE((SELECT amount_sen FROM opening_balances WHERE kpj = b.kpj), 0)
    + COALESCE((SELECT SUM(employer_sen + worker_sen) FROM contributions WHERE kpj = b.kpj), 0)
    + COALESCE((SELECT SUM(amount_sen) FROM yearly_returns WHERE kpj = b.kpj), 0)
    - COALESCE((SELECT SUM(amount_sen) FROM claims WHERE kpj = b.kpj), 0)"""


def test_both_engines_hold_the_same_seeded_ledger(tmp_path: Path, postgres_url: str) -> None:
    seed_ledger(tmp_path / "l.db", participants=SEEDED, seed=9, as_of=AS_OF)
    seed_ledger(postgres_url, participants=SEEDED, seed=9, as_of=AS_OF)
    figures = []
    for target in (tmp_path / "l.db", postgres_url):
        with LedgerStore(target) as store:
            figures.append((
                store.db.query("SELECT kpj, balance_sen, last_contribution FROM balances "
                               "ORDER BY kpj"),
                store.db.query("SELECT COUNT(*), SUM(employer_sen), SUM(jp_worker_sen) "
                               "FROM contributions"),
                store.db.query("SELECT kind, COUNT(*), SUM(amount_sen) FROM claims "
                               "GROUP BY kind ORDER BY kind")))

    assert figures[0] == figures[1]


def test_a_synthetic_participant_can_be_posted_for(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    seed_ledger(path, participants=300, seed=2, as_of=AS_OF)
    with LedgerStore(path) as store:
        rows = store.db.query(
            "SELECT p.kpj, p.employer_npp, b.balance_sen FROM participants AS p "
            "JOIN balances AS b ON b.kpj = p.kpj WHERE p.segment = 'PU' AND "
            "p.status = 'AKTIF' AND b.last_contribution = '2026-09' ORDER BY p.kpj LIMIT 1")
        [(kpj, npp, before)] = rows
        outcome = store.post_contribution(ContributionPost(
            "synthetic-1", parse_kpj(kpj), npp, Period(2026, 10), 6_000_000_00,
            date(2026, 11, 10)), today=POSTING_DAY)
        after = store.account(kpj)

    assert outcome.result is PostResult.POSTED
    assert after.balance_sen == before + 342_000_00  # 5.7% of Rp6,000,000
    assert after.status is Status.AKTIF and after.segment == Segment.PU.value


def test_seeding_refuses_a_ledger_in_use_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    seed_ledger(path, participants=50, seed=1, as_of=AS_OF)

    with pytest.raises(SeedError, match="already holds 55 participants"):
        seed_ledger(path, participants=50, seed=2, as_of=AS_OF)
    with pytest.raises(ValueError, match="1993"):
        seed_ledger(path, participants=50, seed=2, as_of=date(1990, 1, 31), replace=True)
    with LedgerStore(path) as store:
        assert store.participant_count() == 55  # neither attempt emptied it

    seed_ledger(path, participants=10, seed=2, as_of=AS_OF, replace=True)
    with LedgerStore(path) as store:
        assert store.participant_count() == 15
