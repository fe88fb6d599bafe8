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

A ``Database`` is used by one thread at a time (the ledger gives each worker its own).

``set_fault_hook(hook)`` lets a fault drill (``atmsim drill``, the ``ledger-database`` hop)
make database calls fail: the hook runs before each call, on its thread, and raises
``StorageUnavailable`` to fail it, exactly as a database that went away does.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from atmsim.kernel.postgres import connect, describe_target, first_line, is_postgres_url

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

Row = tuple[Any, ...]

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


def _injected_fault(location: str) -> None:
    hook = _fault_hook
    if hook is not None:
        hook(location)


class ConstraintViolation(StorageError):
    """A row broke a constraint; ``unique`` says whether it was a key already present."""

    def __init__(self, message: str, *, unique: bool) -> None:
        super().__init__(message)
        self.unique = unique


def open_database(target: Path | str) -> Database:
    """A SQLite file (a path or ``sqlite:///path``) or a PostgreSQL URL."""
    if is_postgres_url(target):
        return PostgresDatabase(str(target))
    text = str(target)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        if not text.startswith("/"):
            raise StorageError(f"{target}: write a SQLite URL as sqlite:///path/to/file.db")
    elif "://" in text:
        raise StorageError(f"{describe_target(target)}: not a database this ledger knows "
                           "(use a file path, sqlite:///path or postgresql://...)")
    return SqliteDatabase(Path(text))


class Database(ABC):
    """The few operations the ledger needs, the same on every engine."""

    dialect: ClassVar[str]
    # Appended to a SELECT of participant rows that a writer is about to change: makes
    # concurrent writers to one account wait for each other (SQLite has one writer anyway).
    lock_rows: ClassVar[str] = ""
    location: str

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def bulk_insert(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows fast (PostgreSQL: COPY); inside the caller's transaction."""

    @contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[None]:
        """A write transaction. ``exclusive`` also serialises it with every other
        exclusive one (migrations, seeding) across processes."""
        self._begin_write(exclusive)
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read-only transaction: every query in it sees one state of the database."""
        self.execute(self._begin_read)
        try:
            yield
        finally:
            self._rollback()

    _begin_read: ClassVar[str]

    @abstractmethod
    def _begin_write(self, exclusive: bool) -> None: ...

    @abstractmethod
    def _rollback(self) -> None:
        """Roll back an open transaction, if any, without raising."""

    @abstractmethod
    def table_exists(self, name: str) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...


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


def _sqlite_value(value: Any) -> Any:
    # Dates are ISO text in the file (they sort correctly as text); the default date
    # adapter of sqlite3 is deprecated, so convert here, once.
    return value.isoformat() if isinstance(value, date) else value


def _sqlite_params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_sqlite_value(v) for v in params)


@contextmanager
def _sqlite_errors(location: str) -> Iterator[None]:
    _injected_fault(location)
    try:
        yield
    except sqlite3.IntegrityError as exc:
        text = str(exc)
        raise ConstraintViolation(f"{location}: {text}",
                                  unique="UNIQUE" in text or "PRIMARY KEY" in text) from exc
    except sqlite3.OperationalError as exc:
        raise StorageUnavailable(f"{location}: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"{location}: {exc}") from exc


class SqliteDatabase(Database):
    """A ledger file. Writers take the file's write lock at BEGIN (IMMEDIATE), so two
    processes that check-then-write cannot both pass the check."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # a fresh data directory
        except OSError as exc:
            raise StorageError(f"cannot create {path.parent}: {exc.strerror}") from None
        try:
            self._conn = connect_sqlite(path)
        except sqlite3.Error as exc:  # e.g. a directory where the file should be
            raise StorageError(f"cannot open {path}: {exc}") from None

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for tests and tools that inspect the file."""
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with _sqlite_errors(self.location):
            self._conn.execute(sql, _sqlite_params(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with _sqlite_errors(self.location):
            return self._conn.execute(sql, _sqlite_params(params)).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _sqlite_errors(self.location):
            self._conn.executemany(sql, (_sqlite_params(r) for r in rows))

    def bulk_insert(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        with _sqlite_errors(self.location):
            # Rows from the seeder are already text and integers: no adaptation pass.
            self._conn.executemany(sql, rows)

    # In WAL mode a deferred transaction reads one snapshot from its first SELECT on.
    _begin_read = "BEGIN"

    def _begin_write(self, exclusive: bool) -> None:
        self.execute("BEGIN IMMEDIATE")  # SQLite has one writer: every write is exclusive

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error says more than a failed rollback

    def table_exists(self, name: str) -> bool:
        return self.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (name,)) is not None

    def close(self) -> None:
        self._conn.close()


# -- PostgreSQL -----------------------------------------------------------------------


@lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    # The store's SQL never holds a literal ? or %, so a plain replacement is exact.
    return sql.replace("?", "%s")


_UNIQUE_VIOLATION = "23505"


class PostgresDatabase(Database):
    """A PostgreSQL database through psycopg 3, in autocommit mode with explicit
    transactions; writers lock the participant rows they change (``lock_rows``)."""

    dialect = "postgresql"
    lock_rows = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StorageError("PostgreSQL needs psycopg 3: pip install 'psycopg[binary]'"
                               ) from None
        self._psycopg = psycopg
        self._url = url
        self.location = describe_target(url)
        self._conn: Any = None
        self._connection()  # fail now, with a clear message, if the server is not there

    def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._conn = None
        try:
            conn = connect(self._url, application_name="atmsim-ledger",
                           statement_timeout_ms=_PG_STATEMENT_TIMEOUT_MS)
        except self._psycopg.Error as exc:
            raise StorageUnavailable(f"cannot connect to {self.location}: "
                                     f"{first_line(exc)}") from None
        self._conn = conn
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        psycopg = self._psycopg
        _injected_fault(self.location)
        try:
            yield
        except psycopg.IntegrityError as exc:
            raise ConstraintViolation(f"{self.location}: {first_line(exc)}",
                                      unique=exc.sqlstate == _UNIQUE_VIOLATION) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # Covers a lost server, a timeout and a serialization failure alike: all are
            # "not now"; a broken connection is replaced on the next call.
            raise StorageUnavailable(f"{self.location}: {first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StorageError(f"{self.location}: {first_line(exc)}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._errors():
            self._connection().execute(_pg_sql(sql), params or None)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._errors():
            return list(self._connection().execute(_pg_sql(sql), params or None).fetchall())

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors(), self._connection().cursor() as cur:
            cur.executemany(_pg_sql(sql), list(rows))

    def bulk_insert(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self._errors(), self._connection().cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    _begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def _begin_write(self, exclusive: bool) -> None:
        self.execute("BEGIN")
        if exclusive:
            try:
                self.execute("SELECT pg_advisory_xact_lock(?)", (_PG_SCHEMA_LOCK,))
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
            pass  # the original error says more than a failed rollback

    def table_exists(self, name: str) -> bool:
        row = self.query_one("SELECT to_regclass(?) IS NOT NULL", (name,))
        return bool(row and row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
