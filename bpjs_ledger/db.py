"""Where the ledger's rows live: one small interface over SQLite (the default) and PostgreSQL.

``open_database(target)`` takes a SQLite file path (or ``sqlite:///path``) or a
``postgresql://`` URL and returns a ``Database``. The store writes each statement once,
with ``?`` placeholders and plain ``date`` parameters; each side adapts them (psycopg wants
``%s``; SQLite keeps dates as ISO text). What differs between the two engines beyond that
(column types, locks, bulk loading) is said here or in ``schema``, nowhere else.

Errors leave as three kinds, whichever engine raised them: ``StorageUnavailable`` (cannot
reach, lock or write the database now: try again later), ``ConstraintViolation`` (a row
broke a key or a check) and ``StorageError`` for the rest. A PostgreSQL connection that
broke is dropped and opened again on the next call, so a restarted server is picked up.

What the two engines do alike (placeholders, date parameters, transactions, reconnecting,
sorting driver errors) is ``atmsim.kernel.sql``, shared with the card store; the ledger's
own part here is its errors, its SQLite settings and bulk loading.

A ``Database`` is used by one thread at a time (the ledger gives each worker its own).

``set_fault_hook(hook)`` lets a fault drill (``atmsim drill``, the ``ledger-database`` hop)
make database calls fail: the hook runs before each call, on its thread, and raises
``StorageUnavailable`` to fail it, exactly as a database that went away does.
"""

from __future__ import annotations

import sqlite3
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from atmsim.kernel.postgres import describe_target, is_postgres_url
from atmsim.kernel.sql import PostgresServer, SqlDatabase, SqliteFile, sqlite_file

__all__ = [
    "ConstraintViolation",
    "Database",
    "PostgresDatabase",
    "SchemaError",
    "SqliteDatabase",
    "StorageError",
    "StorageUnavailable",
    "connect_sqlite",
    "describe_target",
    "is_postgres_url",
    "open_database",
    "set_fault_hook",
]

_BUSY_TIMEOUT_MS = 5000  # another process seeding, migrating or posting to the same file
# A statement that waits longer than this (a lock held by a stuck transaction, a server in
# trouble) fails and the request gets an ERROR reply, instead of hanging the worker.
_PG_STATEMENT_TIMEOUT_MS = 10_000
# pg_advisory_xact_lock key for schema migrations and seeding: two processes opening a
# fresh database migrate and seed it once. Any constant works; this one spells "JHT".
_PG_SCHEMA_LOCK = 0x4A4854


class StorageError(RuntimeError):
    """The database failed; the message says what, never with a participant's data."""


class SchemaError(StorageError):
    """The database cannot be used with this version of the ledger (not a ledger, or a
    newer schema)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached, locked or written right now."""


# Run before every database call when set (fault drills only): raises to fail the call.
_fault_hook: Callable[[str], None] | None = None


def set_fault_hook(hook: Callable[[str], None] | None) -> None:
    """Install (None: remove) the drill's hook; it gets the database's location."""
    global _fault_hook
    _fault_hook = hook


class ConstraintViolation(StorageError):
    """A row broke a constraint; ``unique`` says whether it was a key already present."""

    def __init__(self, message: str, *, unique: bool) -> None:
        super().__init__(message)
        self.unique = unique


def open_database(target: Path | str) -> Database:
    """A SQLite file (a path or ``sqlite:///path``) or a PostgreSQL URL."""
    if is_postgres_url(target):
        return PostgresDatabase(str(target))
    try:
        path = sqlite_file(target, what="ledger database", example="file.db")
    except ValueError as exc:
        raise StorageError(str(exc)) from None
    return SqliteDatabase(path)


class Database(SqlDatabase):
    """The few operations the ledger needs, the same on every engine: the kernel's
    (``execute``, ``query``, ``query_one``, ``executemany``, ``transaction``, ``snapshot``,
    ``table_exists``, ``close``) and ``bulk_insert``."""

    # Appended to a SELECT of participant rows that a writer is about to change: makes
    # concurrent writers to one account wait for each other (SQLite has one writer anyway).
    lock_rows: ClassVar[str] = ""

    @abstractmethod
    def bulk_insert(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows fast (PostgreSQL: COPY); inside the caller's transaction."""

    def _before_call(self) -> None:
        hook = _fault_hook
        if hook is not None:
            hook(self.location)

    def _failure(self, kind: str, text: str, *, unique: bool = False) -> Exception:
        if kind == "missing":
            return StorageError(text)
        if kind == "connect":
            return StorageUnavailable(f"cannot connect to {self.location}: {text}")
        if kind == "constraint":
            return ConstraintViolation(f"{self.location}: {text}", unique=unique)
        if kind == "unavailable":
            return StorageUnavailable(f"{self.location}: {text}")
        return StorageError(f"{self.location}: {text}")


# -- SQLite ---------------------------------------------------------------------------


def connect_sqlite(path: Path | str) -> sqlite3.Connection:
    """Open (or create) a ledger file with the ledger's connection settings.

    WAL lets readers work while a writer commits; ``synchronous=FULL`` makes a commit
    durable against power loss too, which a posted contribution acknowledged to an
    employer must be (NORMAL would only survive a crash of the process). The connection is
    in autocommit mode: a single SELECT is its own consistent read, and writers open
    explicit transactions. ``check_same_thread`` is off because a ledger worker hands its
    connection to one database thread; it is still used by one thread at a time.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and str(path) != ":memory:":
            raise SchemaError(f"{path}: cannot use write-ahead logging (journal mode {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise SchemaError(f"{path} is not a usable SQLite ledger file: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteDatabase(SqliteFile, Database):
    """A ledger file. Writers take the file's write lock at BEGIN (IMMEDIATE), so two
    processes that check-then-write cannot both pass the check."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # a fresh data directory
        except OSError as exc:
            raise StorageError(f"cannot create {path.parent}: {exc.strerror}") from None
        try:
            conn = connect_sqlite(path)
        except sqlite3.Error as exc:  # e.g. a directory where the file should be
            raise StorageError(f"cannot open {path}: {exc}") from None
        super().__init__(conn, str(path))

    def bulk_insert(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        self._before_call()
        try:
            # Rows from the seeder are already text and integers: no adaptation pass.
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise self._sorted(exc) from exc


# -- PostgreSQL -----------------------------------------------------------------------


class PostgresDatabase(PostgresServer, Database):
    """A PostgreSQL database through psycopg 3, in autocommit mode with explicit
    transactions; writers lock the participant rows they change (``lock_rows``)."""

    lock_rows = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        super().__init__(url, application_name="atmsim-ledger",
                         statement_timeout_ms=_PG_STATEMENT_TIMEOUT_MS,
                         schema_lock=_PG_SCHEMA_LOCK)

    def bulk_insert(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self._errors(), self._connection().cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
