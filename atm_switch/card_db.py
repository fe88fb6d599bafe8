"""The two databases the card store runs on: a SQLite file (the default, ``cards.db`` in
the data directory) or PostgreSQL (a ``postgresql://`` URL), behind one small interface.

``open_card_db(target)`` returns a ``CardDb``. The card store writes each statement once,
in the SQL both engines speak (``?`` placeholders, ``ON CONFLICT`` upserts, ``RETURNING``,
``CASE`` rather than two-argument ``MAX``); each engine adapts the placeholders and the
column types of the schema (PostgreSQL: ``REAL`` is ``DOUBLE PRECISION``, an
``AUTOINCREMENT`` key is ``BIGSERIAL``). Rows come back as tuples. Every failure leaves as
``CardStoreError`` with one line that names the database (a URL without its password).
What the two engines do alike (placeholders, transactions, reconnecting, sorting driver
errors) is ``atmsim.kernel.sql``, shared with the ledger; the card store's own part here is
its error, its connection settings and its column types.

Several switch processes may share one database: on SQLite through the file's lock, on
PostgreSQL through row locks (a single ``UPDATE ... RETURNING`` re-checks its condition
on the row it waited for, so the PIN-try reservation stays atomic across processes and
machines). Schema changes take the file's write lock or a PostgreSQL advisory lock, so two
processes opening a fresh database create it once. A PostgreSQL connection that broke is
opened again on the next call.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from atmsim.kernel.postgres import is_postgres_url
from atmsim.kernel.sql import PostgresServer, Row, SqlDatabase, SqliteFile, sqlite_file

__all__ = ["CardDb", "CardStoreError", "open_card_db"]

_PG_STATEMENT_TIMEOUT_MS = 5_000  # an inquiry's card lookup must not hang the switch
# pg_advisory_xact_lock key for creating the schema: any constant; this one spells "CARD".
_PG_SCHEMA_LOCK = 0x43415244


class CardStoreError(RuntimeError):
    """The card database cannot be used as it is; the message says why (one line)."""


def open_card_db(target: Path | str) -> CardDb:
    """A SQLite file (a path or ``sqlite:///path``) or a PostgreSQL URL."""
    if is_postgres_url(target):
        return PostgresCardDb(str(target))
    try:
        path = sqlite_file(target, what="card database", example="cards.db")
    except ValueError as exc:
        raise CardStoreError(str(exc)) from None
    return SqliteCardDb(path.expanduser())


class CardDb(SqlDatabase):
    # What orders cards as they were issued (SQLite's rowid; a BIGSERIAL on PostgreSQL).
    issue_order: ClassVar[str]
    path: Path | str  # the file, or the URL without its password

    # The card store's names for the kernel's calls.
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.query(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self.query_one(sql, params)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement that returns no rows; how many rows it changed."""
        return self.execute(sql, params)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.executemany(sql, rows)

    def _failure(self, kind: str, text: str, *, unique: bool = False) -> Exception:
        if kind == "missing":
            return CardStoreError(text)
        if kind == "connect":
            return CardStoreError(f"card database {self.location}: cannot connect: {text}")
        return CardStoreError(f"card database {self.location}: {text}")

    def ddl(self, statements: str) -> list[str]:
        """``CREATE`` statements, separated by ``;``, in this engine's column types (their
        ``--`` comments dropped).

        >>> SqliteCardDb.ddl(None, "CREATE TABLE a (x REAL); CREATE TABLE b (y TEXT) -- a; b")
        ['CREATE TABLE a (x REAL)', 'CREATE TABLE b (y TEXT)']
        """
        text = re.sub(r"--[^\n]*", "", statements)
        return [s.strip() for s in text.split(";") if s.strip()]


class SqliteCardDb(SqliteFile, CardDb):
    """A card file: write-ahead logging, NORMAL sync, 5 s wait for another process's lock."""

    issue_order = "rowid"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CardStoreError(f"card database {path}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CardStoreError(f"card database {path}: {exc}") from exc
        super().__init__(conn, str(path))
        try:
            self.execute("PRAGMA journal_mode=WAL")
            self.execute("PRAGMA synchronous=NORMAL")
            self.execute("PRAGMA busy_timeout=5000")
        except BaseException:
            conn.close()
            raise


def _pg_types(statement: str) -> str:
    """A SQLite ``CREATE TABLE`` in PostgreSQL's column types.

    >>> _pg_types("id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL")
    'id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL'
    """
    statement = statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)


class PostgresCardDb(PostgresServer, CardDb):
    """A PostgreSQL database through psycopg 3, in autocommit mode (each statement is its
    own transaction) with explicit transactions where several statements go together."""

    issue_order = "issue_order"

    def __init__(self, url: str) -> None:
        # As the SQLite file's synchronous=NORMAL: a commit does not wait for its WAL
        # flush (a few ms per PIN try). A server crash may lose the last fraction of a
        # second of counter changes, never corrupt them.
        super().__init__(url, application_name="atmsim-switch",
                         statement_timeout_ms=_PG_STATEMENT_TIMEOUT_MS,
                         schema_lock=_PG_SCHEMA_LOCK, setup=("SET synchronous_commit = off",))
        self.path = self.location

    def ddl(self, statements: str) -> list[str]:
        return [_pg_types(s) for s in super().ddl(statements)]
