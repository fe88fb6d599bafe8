"""The ledger file: privacy rule of the balance answer, schema versions, integrity."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from bpjs_ledger.demo import demo_history
from bpjs_ledger.schema import MIGRATIONS, SchemaError, connect
from bpjs_ledger.store import BalanceResult, LedgerError, LedgerStore

AS_OF = date(2026, 10, 31)
BUDI, SITI, ANDI, DEWI, WAYAN = DEMO_PARTICIPANTS
RUDI_NIK = "6471052212800005"


def test_privacy_rule(seeded_store: LedgerStore) -> None:
    assert seeded_store.balance(ANDI.nik, ANDI.kpj).result is BalanceResult.OK
    assert seeded_store.balance(ANDI.nik, BUDI.kpj).result is BalanceResult.FORBIDDEN
    assert seeded_store.balance(ANDI.nik, "19999999999").result is BalanceResult.NOT_FOUND
    assert seeded_store.balance(RUDI_NIK, None).result is BalanceResult.NOT_FOUND
    assert seeded_store.balance(RUDI_NIK, BUDI.kpj).result is BalanceResult.FORBIDDEN
    own = seeded_store.balance(SITI.nik, None)
    assert (own.result, own.kpj, own.name) == (BalanceResult.OK, SITI.kpj, "Siti Rahayu")


def test_refused_answers_carry_no_participant_data(seeded_store: LedgerStore) -> None:
    forbidden = seeded_store.balance(ANDI.nik, BUDI.kpj)

    assert (forbidden.kpj, forbidden.name, forbidden.balance_sen, forbidden.status) == (
        None, None, None, None)


@pytest.mark.parametrize(("nik", "kpj"), [("317101150585000", None), (BUDI.nik, "1001234567"),
                                          ("9971011505850001", BUDI.kpj)])
def test_malformed_identity_is_a_value_error(seeded_store: LedgerStore, nik: str,
                                             kpj: str | None) -> None:
    with pytest.raises(ValueError):
        seeded_store.balance(nik, kpj)


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with LedgerStore(path, demo_as_of=AS_OF) as store:
        first = store.balance(BUDI.nik, BUDI.kpj)

    with LedgerStore(path, demo_as_of=date(2025, 1, 31)) as store:
        again = store.balance(BUDI.nik, BUDI.kpj)
        count = store.participant_count()

    assert again == first
    assert count == len(DEMO_PARTICIPANTS)


def test_fresh_file_can_stay_empty(tmp_path: Path) -> None:
    with LedgerStore(tmp_path / "empty.db", seed_demo=False) as store:
        assert store.participant_count() == 0
        assert store.balance(BUDI.nik, BUDI.kpj).result is BalanceResult.NOT_FOUND


def test_file_settings_and_schema_version(seeded_store: LedgerStore) -> None:
    conn = connect(seeded_store.path)
    try:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        conn.close()

    assert versions == [(m.version,) for m in MIGRATIONS]
    assert journal == "wal"
    assert synchronous == 2  # FULL: an acknowledged post survives power loss too


def test_file_refuses_rows_that_break_the_ledger(seeded_store: LedgerStore) -> None:
    conn = connect(seeded_store.path)
    insert = ("INSERT INTO contributions (kpj, period, wage_sen, employer_sen, worker_sen, "
              "paid_on, posted_on) VALUES (?, ?, ?, ?, ?, '2026-11-10', '2026-11-12')")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            conn.execute(insert, ("19999999999", "2026-10", 100, 4, 2))
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(insert, (BUDI.kpj, "2026-10", 100, 3.7, 2))  # a float of money
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(insert, (BUDI.kpj, "2026/10", 100, 4, 2))
    finally:
        conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    LedgerStore(path, seed_demo=False).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'from the future', '2030-01-01')")

    with pytest.raises(SchemaError, match="upgrade"):
        LedgerStore(path)


def test_a_file_that_is_not_a_ledger_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the pages you are looking for\n" * 100)

    with pytest.raises(SchemaError, match="not a usable SQLite ledger file"):
        LedgerStore(path)


def test_nik_with_several_kpjs_answers_the_active_one(seeded_store: LedgerStore) -> None:
    # A second, later registration of Budi's by another employer, now inactive (duplicate
    # KPJs happen before BPJS merges them): newer, but the active KPJ is the one answered.
    old = dataclasses.replace(BUDI, kpj="10099999999", member_since=date(2014, 1, 1),
                              status="NONAKTIF", inactive_since=date(2015, 12, 31),
                              inactive_reason="Berhenti bekerja")
    history = demo_history(old, AS_OF)
    assert history is not None
    seeded_store.add_history(history)

    by_nik = seeded_store.balance(BUDI.nik, None)
    old_kpj = seeded_store.balance(BUDI.nik, old.kpj)

    assert by_nik.kpj == BUDI.kpj
    assert (old_kpj.result, old_kpj.status) == (BalanceResult.OK, "NONAKTIF")
    assert old_kpj.balance_sen == history.balance_sen > 0


def test_history_that_does_not_add_up_is_not_stored(seeded_store: LedgerStore) -> None:
    newcomer = dataclasses.replace(BUDI, kpj="10088888888")
    history = demo_history(newcomer, AS_OF)
    assert history is not None
    last = history.years[-1]
    broken = dataclasses.replace(history, years=history.years[:-1] + (
        dataclasses.replace(last, closing_sen=last.closing_sen + 1),))

    with pytest.raises(LedgerError, match="sum to"):
        seeded_store.add_history(broken)

    assert seeded_store.balance(BUDI.nik, newcomer.kpj).result is BalanceResult.NOT_FOUND
    assert seeded_store.participant_count() == len(DEMO_PARTICIPANTS)
