"""Bulk loading: the demo participants (docs/demo-data.md) plus N synthetic ones, reproducibly
(``atmsim ledger seed --participants N --seed S``).

The demo histories go in through the store's one way of writing a history (each checked
against its rows); the synthetic ones (``synthetic``) are generated in chunks, on other
processes when there are many, and loaded with the engine's bulk path (PostgreSQL COPY,
SQLite prepared inserts), one transaction per chunk. The balance snapshot of a synthetic
participant is computed with its rows; ``verify_sample`` recomputes some by SQL.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

from bpjs_ledger.db import Database, StorageError
from bpjs_ledger.demo import default_as_of, demo_histories
from bpjs_ledger.store import LedgerStore
from bpjs_ledger.synthetic import (
    CHUNK_SIZE,
    COLUMNS,
    MAX_PARTICIPANTS,
    ChunkRows,
    check_as_of,
    employer_count,
    employers,
    generate_chunk,
    synthetic_kpj,
)

__all__ = ["SeedError", "SeedReport", "seed_ledger", "verify_sample"]

Progress = Callable[[int, int], None]

# Below this many participants a second process costs more than it saves.
_PARALLEL_FROM = 4 * CHUNK_SIZE


class SeedError(StorageError):
    """The ledger cannot be seeded as asked; the message says why and what to do."""


@dataclass(frozen=True)
class SeedReport:
    location: str
    as_of: date
    seed: int
    demo: int
    synthetic: int
    seconds: float


def seed_ledger(target: Path | str, *, participants: int, seed: int,
                as_of: date | None = None, replace: bool = False, jobs: int | None = None,
                progress: Progress | None = None) -> SeedReport:
    """Fill the ledger at ``target`` with the demo participants and ``participants``
    synthetic ones drawn from ``seed``, as of ``as_of`` (default: end of last month).

    A ledger that already holds participants is refused unless ``replace``, which empties
    it first. ``jobs`` processes generate rows (default: one less than the CPUs, at least
    one) while this one writes them.
    """
    if not 0 <= participants <= MAX_PARTICIPANTS:
        raise SeedError(f"--participants must be 0-{MAX_PARTICIPANTS}, got {participants}")
    as_of = as_of or default_as_of()
    if participants:
        check_as_of(as_of)  # before anything is emptied
    started = time.perf_counter()
    with LedgerStore(target, seed_demo=False) as store:
        existing = store.participant_count()
        if existing and not replace:
            raise SeedError(f"{store.location} already holds {existing} participants "
                            "(use --replace to empty it first, or another --db)")
        # Also when no participant is there: an interrupted seed may have left employers.
        store.clear()
        db = store.db
        _bulk_settings(db)
        demo = store.add_histories(demo_histories(as_of))
        if participants:
            with db.transaction(exclusive=True):
                db.bulk_insert("employers", COLUMNS["employers"],
                               ((e.npp, e.name)
                                for e in employers(seed, employer_count(participants))))
        done = 0
        with _foreign_keys_checked_at_the_end(db):
            for rows in _chunks(seed, as_of, participants, jobs):
                with db.transaction():
                    for table, table_rows in rows.tables():
                        db.bulk_insert(table, COLUMNS[table], table_rows)
                done += len(rows.participants)
                if progress is not None:
                    progress(done, participants)
        _finish(db)
        location = store.location
    return SeedReport(location, as_of, seed, demo, participants,
                      time.perf_counter() - started)


def _chunks(seed: int, as_of: date, participants: int,
            jobs: int | None) -> Iterator[ChunkRows]:
    count = math.ceil(participants / CHUNK_SIZE)
    make = partial(generate_chunk, seed, as_of=as_of, participants=participants)
    jobs = max(1, (os.cpu_count() or 2) - 1) if jobs is None else max(1, jobs)
    if participants < _PARALLEL_FROM:
        yield from map(make, range(count))
        return
    # fork, not spawn: spawn re-imports the caller's main module, which breaks any script
    # without a __main__ guard. The children only compute (no logging, no I/O), so the
    # locks a fork may copy from other threads are never taken in them; this process
    # alone writes.
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(make, range(count))


# The tables whose rows point at a participant: on PostgreSQL a COPY checks each row's
# foreign key one by one (a trigger per row, three times slower than the copy itself);
# checking them once at the end is one join.
_PARTICIPANT_CHILDREN = ("opening_balances", "contributions", "claims", "yearly_returns",
                         "balances")


@contextmanager
def _foreign_keys_checked_at_the_end(db: Database) -> Iterator[None]:
    if db.dialect != "postgresql":
        yield  # SQLite checks a key with one lookup in the same file: cheap enough
        return
    keys = db.query(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
        f"({', '.join('to_regclass(?)' for _ in _PARTICIPANT_CHILDREN)})",
        _PARTICIPANT_CHILDREN)
    with db.transaction(exclusive=True):
        for table, name, _ in keys:
            db.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    try:
        yield
    finally:
        # Put them back even when the load failed: ADD CONSTRAINT checks every row, so a
        # key that does not hold makes this fail loudly rather than go unnoticed.
        with db.transaction(exclusive=True):
            for table, name, definition in keys:
                db.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _bulk_settings(db: Database) -> None:
    if db.dialect == "sqlite":
        # A bigger page cache keeps the NIK index's random inserts in memory (256 MiB).
        db.execute("PRAGMA cache_size = -262144")


def _finish(db: Database) -> None:
    if db.dialect == "postgresql":
        db.execute("ANALYZE")  # fresh statistics for the planner after a bulk load
    else:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the load into the main file


def verify_sample(store: LedgerStore, participants: int, *, every: int = 997) -> int:
    """Recompute the balance snapshot of every ``every``-th synthetic participant from its
    rows (through the statement, which refuses a mismatch); how many were checked."""
    checked = 0
    for index in range(0, participants, every):
        statement = store.account_statement(synthetic_kpj(index))
        if statement is None:
            raise StorageError(f"synthetic participant {index} is missing")
        checked += 1
    return checked
