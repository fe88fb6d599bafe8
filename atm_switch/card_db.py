"""The two databases the card store runs on: a SQLite file (the default, ``cards.db`` in
the data directory) or PostgreSQL (a ``postgresql://`` URL), behind one small interface.

``open_card_db(target)`` returns a ``CardDb``. The card store writes each statement once,
in the SQL both engines speak (``?`` placeholders, ``ON CONFLICT`` upserts, ``RETURNING``,
``CASE`` rather than two-argument ``MAX``); each engine adapts the placeholders and the
column types of the schema (PostgreSQL: ``REAL`` is ``DOUBLE PRECISION``, an
``AUTOINCREMENT`` key is ``BIGSERIAL``). Rows come back as tuples. Every failure leaves as
``CardStoreError`` with one line that names the database (a URL without its password).

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
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from atmsim.kernel.postgres import connect, describe_target, first_line, is_postgres_url

__all__ = ["CardDb", "CardStoreError", "open_card_db"]

Row = tuple[Any, ...]

_PG_STATEMENT_TIMEOUT_MS = 5_000  # an inquiry's card lookup must not hang the switch
# pg_advisory_xact_lock key for creating the schema: any constant; this one spells "CARD".
_PG_SCHEMA_LOCK = 0x43415244


class CardStoreError(RuntimeError):
    """The card database cannot be used as it is; the message says why (one line)."""


def open_card_db(target: Path | str) -> CardDb:
    """A SQLite file (a path or ``sqlite:///path``) or a PostgreSQL URL."""
    if is_postgres_url(target):
        return PostgresCardDb(str(target))
    text = str(target)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        if not text.startswith("/"):
            raise CardStoreError(f"{target}: write a SQLite URL as sqlite:///path/to/cards.db")
    elif "://" in text:
        raise CardStoreError(f"card database {describe_target(target)}: use a file path, "
                             "sqlite:///path or postgresql://user:password@host:port/database")
    return SqliteCardDb(Path(text).expanduser())


class CardDb(ABC):
    dialect: ClassVar[str]
    # What orders cards as they were issued (SQLite's rowid; a BIGSERIAL on PostgreSQL).
    issue_order: ClassVar[str]
    location: str
    path: Path | str  # the file, or the URL without its password

    @abstractmethod
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement that returns no rows; how many rows it changed."""

    @abstractmethod
    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[None]:
        """A write transaction; ``exclusive`` also serialises it with every other exclusive
        one (schema changes) across processes."""
        self._begin(exclusive)
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self.run("COMMIT")
        except BaseException:
            self._rollback()
            raise

    @abstractmethod
    def _begin(self, exclusive: bool) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def table_exists(self, name: str) -> bool: ...

    @abstractmethod
    def columns(self, table: str) -> set[str]: ...

    def ddl(self, statements: str) -> list[str]:
        """``CREATE`` statements, separated by ``;``, in this engine's column types (their
        ``--`` comments dropped).

        >>> SqliteCardDb.ddl(None, "CREATE TABLE a (x REAL); CREATE TABLE b (y TEXT) -- a; b")
        ['CREATE TABLE a (x REAL)', 'CREATE TABLE b (y TEXT)']
        """
        text = re.sub(r"--[^\n]*", "", statements)
        return [s.strip() for s in text.split(";") if s.strip()]

    @abstractmethod
    def close(self) -> None: ...


class SqliteCardDb(CardDb):
    """A card file: write-ahead logging, NORMAL sync, 5 s wait for another process's lock."""

    dialect = "sqlite"
    issue_order = "rowid"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CardStoreError(f"card database {path}: {exc.strerror}") from None
        with self._errors():
            self.raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            with self._errors():
                self.raw.execute("PRAGMA journal_mode=WAL")
                self.raw.execute("PRAGMA synchronous=NORMAL")
                self.raw.execute("PRAGMA busy_timeout=5000")
        except BaseException:
            self.raw.close()
            raise

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise CardStoreError(f"card database {self.location}: {exc}") from exc

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._errors():
            return self.raw.execute(sql, tuple(params)).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._errors():
            return self.raw.execute(sql, tuple(params)).rowcount

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors():
            self.raw.executemany(sql, rows)

    def _begin(self, exclusive: bool) -> None:
        self.run("BEGIN IMMEDIATE")  # one writer: every write transaction is exclusive

    def _rollback(self) -> None:
        if self.raw.in_transaction:
            try:
                self.raw.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error says more

    def table_exists(self, name: str) -> bool:
        return self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)) is not None

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self.all(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self.raw.close()


@lru_cache(maxsize=128)
def _pg_sql(sql: str) -> str:
    # The card store's SQL holds no literal ? or %: a plain replacement is exact.
    return sql.replace("?", "%s")


def _pg_types(statement: str) -> str:
    """A SQLite ``CREATE TABLE`` in PostgreSQL's column types.

    >>> _pg_types("id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL")
    'id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL'
    """
    statement = statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)


class PostgresCardDb(CardDb):
    """A PostgreSQL database through psycopg 3, in autocommit mode (each statement is its
    own transaction) with explicit transactions where several statements go together."""

    dialect = "postgresql"
    issue_order = "issue_order"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise CardStoreError("PostgreSQL needs psycopg 3: pip install 'psycopg[binary]'"
                                 ) from None
        self._psycopg = psycopg
        self._url = url
        self.path = self.location = describe_target(url)
        self._conn: Any = None
        self._connection()  # fail now, in one line, if the server is not there

    def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._conn = None
        try:
            conn = connect(self._url, application_name="atmsim-switch",
                           statement_timeout_ms=_PG_STATEMENT_TIMEOUT_MS)
            try:
                # As the SQLite file's synchronous=NORMAL: a commit does not wait for its
                # WAL flush (a few ms per PIN try). A server crash may lose the last
                # fraction of a second of counter changes, never corrupt them.
                conn.execute("SET synchronous_commit = off")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        except self._psycopg.Error as exc:
            raise CardStoreError(f"card database {self.location}: cannot connect: "
                                 f"{first_line(exc)}") from None
        return self._conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.Error as exc:
            raise CardStoreError(f"card database {self.location}: {first_line(exc)}") from exc

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._errors():
            cursor = self._connection().execute(_pg_sql(sql), tuple(params) or None)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._errors():
            return int(self._connection().execute(_pg_sql(sql), tuple(params) or None).rowcount)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors(), self._connection().cursor() as cursor:
            cursor.executemany(_pg_sql(sql), [tuple(r) for r in rows])

    def _begin(self, exclusive: bool) -> None:
        self.run("BEGIN")
        if exclusive:
            try:
                self.run("SELECT pg_advisory_xact_lock(?)", (_PG_SCHEMA_LOCK,))
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return
        try:
            conn.execute("ROLLBACK")
        except self._psycopg.Error:
            pass  # the original error says more

    def table_exists(self, name: str) -> bool:
        row = self.one("SELECT to_regclass(?) IS NOT NULL", (name,))
        return bool(row and row[0])

    def columns(self, table: str) -> set[str]:
        return {row[0] for row in self.all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?", (table,))}

    def ddl(self, statements: str) -> list[str]:
        return [_pg_types(s) for s in super().ddl(statements)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
