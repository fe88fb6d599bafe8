"""The same ledger on both engines: a SQLite file and a real PostgreSQL (one schema per
test). Privacy, statements, posting (idempotent by key, racing workers) and migrations
must behave identically; the demo figures are the same to the sen."""

from __future__ import annotations

import dataclasses
import gzip
import sqlite3
import threading
from datetime import date
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from bpjs_ledger.db import open_database
from bpjs_ledger.identity import parse_kpj
from bpjs_ledger.jht import Period, ReturnRate, yearly_return_sen
from bpjs_ledger.records import ContributionPost
from bpjs_ledger.schema import POSTGRES_MIGRATIONS, current_version, migrate, migrations_for
from bpjs_ledger.store import BalanceResult, LedgerStore, PostResult
from tests.ledger.conftest import AS_OF, POSTING_DAY

BUDI, SITI, ANDI, DEWI, WAYAN = DEMO_PARTICIPANTS
RUDI_NIK = "6471052212800005"
PINNED = {  # test_ledger_demo.py pins the same figures for SQLite
    BUDI.kpj: 122_209_530_25, SITI.kpj: 47_026_673_73, ANDI.kpj: 68_802_550_96,
    DEWI.kpj: 22_442_489_88, WAYAN.kpj: 150_568_686_79,
}
V1_DUMP = Path(__file__).parent / "data" / "ledger-v1.sql.gz"


def post(key: str, who=BUDI, period: str = "2026-10", wage_sen: int = 12_000_000_00,
         paid_on: date = date(2026, 11, 10), npp: str | None = None) -> ContributionPost:
    return ContributionPost(key, parse_kpj(who.kpj), npp or who.employer_npp,
                            Period.parse(period), wage_sen, paid_on)


# -- reading --------------------------------------------------------------------------


def test_demo_balances_are_the_same_on_every_engine(demo_store: LedgerStore) -> None:
    balances = {p.kpj: demo_store.balance(p.nik, p.kpj).balance_sen for p in DEMO_PARTICIPANTS}

    assert balances == PINNED


def test_privacy_rule_on_both_engines(demo_store: LedgerStore) -> None:
    assert demo_store.balance(ANDI.nik, ANDI.kpj).result is BalanceResult.OK
    assert demo_store.balance(ANDI.nik, BUDI.kpj).result is BalanceResult.FORBIDDEN
    assert demo_store.balance(RUDI_NIK, BUDI.kpj).result is BalanceResult.FORBIDDEN
    assert demo_store.balance(ANDI.nik, "19999999999").result is BalanceResult.NOT_FOUND
    assert demo_store.balance(RUDI_NIK, None).result is BalanceResult.NOT_FOUND
    forbidden = demo_store.statement(ANDI.nik, BUDI.kpj)
    assert (forbidden.result, forbidden.statement) == (BalanceResult.FORBIDDEN, None)
    assert demo_store.statement(RUDI_NIK, None).result is BalanceResult.NOT_FOUND
    assert demo_store.statement(ANDI.nik, "19999999999").result is BalanceResult.NOT_FOUND
    own = demo_store.statement(SITI.nik, None)
    assert own.statement is not None and own.statement.participant.kpj.value == SITI.kpj


@pytest.mark.parametrize("who", DEMO_PARTICIPANTS, ids=lambda p: p.name.split()[0])
def test_statement_years_chain_and_close_at_the_balance(demo_store: LedgerStore, who) -> None:
    answer = demo_store.statement(who.nik, who.kpj)
    balance = demo_store.balance(who.nik, who.kpj)

    statement = answer.statement
    assert answer.result is BalanceResult.OK and statement is not None
    years = statement.years
    assert (years[0].year, years[0].opening_sen) == (who.member_since.year, 0)
    assert years[-1].year == AS_OF.year and years[-1].rate is None  # not credited yet
    for before, after in pairwise(years):
        assert after.opening_sen == before.closing_sen
    for y in years:
        assert y.closing_sen == y.opening_sen + y.contributions_sen + y.returns_sen - y.claims_sen
    assert years[-1].closing_sen == statement.balance_sen == balance.balance_sen == PINNED[who.kpj]
    assert statement.as_of == balance.as_of == AS_OF


def test_wayans_claim_shows_in_its_year(demo_store: LedgerStore) -> None:
    statement = demo_store.account_statement(WAYAN.kpj)

    assert statement is not None
    claims = {y.year: y.claims_sen for y in statement.years if y.claims_sen}
    assert list(claims) == [2016]
    # The 10% claim of PP 46/2015: a tenth of the balance on its day, to the sen.
    y2016 = next(y for y in statement.years if y.year == 2016)
    assert 0.09 * y2016.opening_sen < claims[2016] < 0.11 * (
        y2016.opening_sen + y2016.contributions_sen)


# -- posting --------------------------------------------------------------------------


def test_a_post_is_counted_once_however_often_it_arrives(demo_store: LedgerStore) -> None:
    before = demo_store.balance(BUDI.nik, BUDI.kpj).balance_sen or 0

    first = demo_store.post_contribution(post("k-1"), today=POSTING_DAY)
    again = demo_store.post_contribution(post("k-1"), today=POSTING_DAY)
    after = demo_store.balance(BUDI.nik, BUDI.kpj)

    assert (first.result, first.duplicate) == (PostResult.POSTED, False)
    assert (again.result, again.duplicate) == (PostResult.POSTED, True)
    assert again.contribution == first.contribution
    c = first.contribution
    assert c is not None
    # 3.7% + 2% JHT of Rp12,000,000; JP 2% + 1% of the JP wage cap (Rp10,547,400).
    assert (c.employer_sen, c.worker_sen, c.total_sen) == (444_000_00, 240_000_00, 684_000_00)
    assert (c.jp_employer_sen, c.jp_worker_sen) == (210_948_00, 105_474_00)
    assert (c.paid_on, c.posted_on) == (date(2026, 11, 10), POSTING_DAY)
    assert after.balance_sen == before + 684_000_00
    assert (after.as_of, after.last_contribution) == (POSTING_DAY, "2026-10")
    statement = demo_store.account_statement(BUDI.kpj)
    assert statement is not None and statement.years[-1].closing_sen == after.balance_sen


def test_posts_that_break_a_rule_change_nothing(demo_store: LedgerStore) -> None:
    assert demo_store.post_contribution(post("k-1"), today=POSTING_DAY).result is PostResult.POSTED
    before = demo_store.balance(BUDI.nik, BUDI.kpj)
    cases = [
        (post("k-1", wage_sen=12_000_001_00), PostResult.REJECTED, "key already used"),
        (post("k-2"), PostResult.REJECTED, "already posted"),
        (post("k-3", period="2026-12", paid_on=date(2026, 11, 10)), PostResult.REJECTED,
         "has not started"),
        (post("k-4", period="2009-06"), PostResult.REJECTED, "before the membership"),
        (post("k-5", period="2026-11", paid_on=date(2026, 10, 30)), PostResult.REJECTED,
         "before period"),
        (post("k-6", period="2026-11", paid_on=date(2026, 11, 13)), PostResult.REJECTED,
         "after the posting date"),
        (post("k-7", npp="12044117"), PostResult.FORBIDDEN, "not a worker of this employer"),
        (post("k-8", who=DEWI), PostResult.REJECTED, "NONAKTIF"),
        (dataclasses.replace(post("k-9"), kpj=parse_kpj("19999999999")), PostResult.NOT_FOUND,
         "no participant"),
    ]
    for refused, result, reason in cases:
        outcome = demo_store.post_contribution(refused, today=POSTING_DAY)
        assert (outcome.result, outcome.contribution) == (result, None), refused.key
        assert outcome.reason and reason in outcome.reason, (refused.key, outcome.reason)

    assert demo_store.balance(BUDI.nik, BUDI.kpj) == before
    assert demo_store.post_contribution(post("k-2", period="2026-11"),
                                        today=date(2026, 12, 12)).result is PostResult.POSTED


def test_a_post_in_a_new_year_credits_the_closed_year_first(demo_store: LedgerStore) -> None:
    statement = demo_store.account_statement(SITI.kpj)
    assert statement is not None
    last = statement.years[-1]
    assert (last.year, last.rate) == (2026, None)
    moves = [(date(2026, m, 12), c) for m, c in _siti_2026_postings(demo_store)]

    outcome = demo_store.post_contribution(
        post("jan", who=SITI, period="2026-12", wage_sen=5_000_000_00,
             paid_on=date(2027, 1, 10)), today=date(2027, 1, 12))

    assert outcome.result is PostResult.POSTED
    after = demo_store.account_statement(SITI.kpj)
    assert after is not None
    y2026, y2027 = after.years[-2:]
    expected = yearly_return_sen(last.opening_sen, moves, ReturnRate(2026, Decimal("5.50")))
    assert (y2026.returns_sen, y2026.rate and y2026.rate.percent) == (expected, Decimal("5.50"))
    assert y2026.closing_sen == last.closing_sen + expected
    assert y2027.opening_sen == y2026.closing_sen
    assert y2027.contributions_sen == 285_000_00  # 5.7% of Rp5,000,000
    assert after.balance_sen == y2027.closing_sen == demo_store.balance(
        SITI.nik, SITI.kpj).balance_sen


def _siti_2026_postings(store: LedgerStore) -> list[tuple[int, int]]:
    rows = store.db.query("SELECT posted_on, employer_sen + worker_sen FROM contributions "
                          "WHERE kpj = ? ORDER BY posted_on", (SITI.kpj,))
    days = [(d if isinstance(d, date) else date.fromisoformat(d), amount) for d, amount in rows]
    return [(d.month, amount) for d, amount in days if d.year == 2026]


def test_racing_workers_count_each_key_once(db_target: Path | str) -> None:
    # Two workers (two connections) receive the same 40 posts at the same time, as after a
    # replay: every post is POSTED by both, and each month is in the ledger exactly once.
    LedgerStore(db_target, demo_as_of=AS_OF).close()
    months = [Period(2026, 10)]
    for _ in range(19):
        months.append(months[-1].next())  # 2026-10 .. 2028-04
    posts = [post(f"race-{n}", who=who, period=str(months[n // 2]), paid_on=date(2028, 5, 5))
             for n, who in enumerate([BUDI, SITI] * 20)]
    outcomes: dict[str, list[PostResult]] = {p.key: [] for p in posts}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(order: list[ContributionPost]) -> None:
        try:
            with LedgerStore(db_target, seed_demo=False) as store:
                start.wait()
                for p in order:
                    outcomes[p.key].append(
                        store.post_contribution(p, today=date(2028, 5, 12)).result)
        except BaseException as exc:  # surfaced below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(order,))
               for order in (posts, list(reversed(posts)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors
    assert all(results == [PostResult.POSTED] * 2 for results in outcomes.values()), outcomes
    with LedgerStore(db_target, seed_demo=False) as store:
        keys = store.db.query("SELECT COUNT(*), COUNT(DISTINCT post_key) FROM contribution_posts")
        for who in (BUDI, SITI):
            statement = store.account_statement(who.kpj)
            assert statement is not None
            assert statement.balance_sen == statement.years[-1].closing_sen
            assert [y.year for y in statement.years][-2:] == [2027, 2028]
    assert keys == [(40, 40)]


# -- schema versions ------------------------------------------------------------------


def test_a_fresh_database_comes_up_at_the_latest_version(db_target: Path | str) -> None:
    with LedgerStore(db_target, seed_demo=False) as store:
        version = current_version(store.db)
        dialect = store.db.dialect

    assert version == migrations_for(dialect)[-1].version == 4


def test_a_version_1_file_of_the_previous_release_comes_up_right(tmp_path: Path) -> None:
    # A ledger file written by the released version 1 (its dump, as that code wrote it).
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(gzip.decompress(V1_DUMP.read_bytes()).decode())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)

    with LedgerStore(path) as store:
        version = current_version(store.db)
        balances = {p.kpj: store.balance(p.nik, p.kpj).balance_sen for p in DEMO_PARTICIPANTS}
        wayan = store.account_statement(WAYAN.kpj)
        jp = store.db.query("SELECT SUM(jp_employer_sen + jp_worker_sen) FROM contributions")
        posted = store.post_contribution(post("after-upgrade"), today=POSTING_DAY)

    assert version == 4
    assert balances == PINNED
    assert jp == [(0,)]  # version 1 recorded no JP shares
    assert wayan is not None and wayan.years[-1].closing_sen == PINNED[WAYAN.kpj]
    assert posted.result is PostResult.POSTED


def test_a_version_1_postgres_database_comes_up_right(postgres_url: str) -> None:
    db = open_database(postgres_url)
    try:
        migrate(db, POSTGRES_MIGRATIONS[:1])
        assert current_version(db) == 1
        with db.transaction():  # a participant as version 1 stored one
            db.execute("INSERT INTO employers VALUES ('10012089', 'PT SINAR JAYA ABADI')")
            db.execute("INSERT INTO participants VALUES ('10012345678', '3171011505850001', "
                       "'Budi Santoso', '1985-05-15', 'L', 'PU', 'AKTIF', NULL, NULL, "
                       "'10012089', '2026-01-01')")
            db.execute("INSERT INTO contributions VALUES ('10012345678', '2026-01', 400000000, "
                       "14800000, 8000000, '2026-02-10', '2026-02-12')")
            db.execute("INSERT INTO balances VALUES ('10012345678', 22800000, '2026-10-31', "
                       "'2026-01')")
    finally:
        db.close()

    with LedgerStore(postgres_url) as store:
        version = current_version(store.db)
        balance = store.balance(BUDI.nik, BUDI.kpj)
        statement = store.account_statement(BUDI.kpj)
        posted = store.post_contribution(post("after-upgrade", period="2026-02",
                                              wage_sen=4_000_000_00), today=POSTING_DAY)
        after = store.balance(BUDI.nik, BUDI.kpj)

    assert version == 4
    assert balance.balance_sen == 228_000_00
    assert statement is not None and statement.years[-1].closing_sen == 228_000_00
    assert posted.result is PostResult.POSTED
    assert after.balance_sen == 456_000_00


# -- one schema, the same rules on both engines ---------------------------------------

_CONTRIBUTION = ("INSERT INTO contributions (kpj, period, wage_sen, employer_sen, worker_sen, "
                 "paid_on, posted_on) VALUES (?, ?, ?, ?, ?, ?, ?)")
# A month before the demo histories begin, so that the good row is new.
_GOOD = (BUDI.kpj, "1980-01", 100, 4, 2, "1980-02-10", "1980-02-12")
# Each row differs from a good one in one value that the ledger must never hold.
_BAD_CONTRIBUTIONS = {
    "month 00": {1: "1980-00"},
    "month 13": {1: "1980-13"},
    "month 19": {1: "1980-19"},
    "period without dash": {1: "1980/02"},
    "day 30 of February": {5: "2021-02-30"},
    "month 13 in a date": {6: "2020-13-01"},
    "negative money": {3: -4},
    "unknown participant": {0: "19999999999"},
}


def _bad_row(changes: dict[int, object]) -> tuple[object, ...]:
    return tuple(changes.get(i, v) for i, v in enumerate(_GOOD))


def _refusals(db_target: Path | str) -> dict[str, bool]:
    """For each bad row: whether the database refused it."""
    from bpjs_ledger.db import ConstraintViolation, StorageError

    refused = {}
    with LedgerStore(db_target, demo_as_of=AS_OF) as store:
        with store.db.transaction():
            store.db.execute(_CONTRIBUTION, _GOOD)  # the good one goes in
        for name, changes in _BAD_CONTRIBUTIONS.items():
            try:
                with store.db.transaction():
                    store.db.execute(_CONTRIBUTION, _bad_row(changes))
            except (ConstraintViolation, StorageError):
                refused[name] = True
            else:
                refused[name] = False
    return refused


def test_both_engines_refuse_the_same_bad_rows(db_target: Path | str) -> None:
    assert _refusals(db_target) == dict.fromkeys(_BAD_CONTRIBUTIONS, True)


def test_an_upgraded_version_1_file_refuses_them_too(tmp_path: Path) -> None:
    # Version 1 files were made with CHECKs that let months 00 and 13-19 through.
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(gzip.decompress(V1_DUMP.read_bytes()).decode())
        conn.execute(_CONTRIBUTION, _bad_row({1: "1980-13"}))  # what version 1 let in
        conn.execute("DELETE FROM contributions WHERE period = '1980-13'")

    assert _refusals(path) == dict.fromkeys(_BAD_CONTRIBUTIONS, True)
    with LedgerStore(path) as store:  # and the rows came through the copy
        balances = {p.kpj: store.balance(p.nik, p.kpj).balance_sen for p in DEMO_PARTICIPANTS}
        wayan = store.account_statement(WAYAN.kpj)
    assert balances == PINNED
    assert wayan is not None and wayan.years[-1].closing_sen == PINNED[WAYAN.kpj]
