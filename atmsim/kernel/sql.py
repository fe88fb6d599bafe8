"""One database, a SQLite file or PostgreSQL, behind the few calls a component's store
makes, so that the ledger (``bpjs_ledger.db``) and the switch's card store
(``atm_switch.card_db``) adapt the two engines in one place.

A store writes each statement once, with ``?`` placeholders (psycopg is given ``%s``) and
plain ``date`` parameters (SQLite keeps them as ISO text); rows come back as tuples. Both
engines run in autocommit mode with explicit transactions: ``transaction(exclusive=True)``
also serialises schema changes across processes (SQLite: the file's write lock;
PostgreSQL: an advisory lock). A PostgreSQL connection that broke is opened again on the
next call, so a restarted server is picked up.

What stays with each component: how it opens its SQLite file (its pragmas), its schema,
and its errors. A driver error is sorted into a *kind* and handed to the component's
``_failure`` to become the component's own exception:

* ``"constraint"``: a row broke a key or a check (``unique``: a key already present);
* ``"unavailable"``: the database cannot be reached, locked or written now;
* ``"error"``: any other failed statement;
* ``"connect"``: PostgreSQL cannot be reached at all;
* ``"missing"``: psycopg 3 is not installed (the text says so in full).

The text is the driver's message, one line; the component adds its database's
``location`` (a URL is printed without its password).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from atmsim.kernel.postgres import PSYCOPG_MISSING, connect, describe_target, first_line

__all__ = ["PostgresServer", "Row", "SqlDatabase", "SqliteFile", "sqlite_file"]

Row = tuple[Any, ...]


def sqlite_file(target: Path | str, *, what: str, example: str) -> Path:
    """The file a SQLite target names: a path or ``sqlite:///path``. ``ValueError`` says
    how to write it for anything else (``what`` names the database, ``example`` a file).

    >>> sqlite_file("sqlite:///var/atmsim/ledger.db", what="ledger database",
    ...             example="ledger.db")
    PosixPath('/var/atmsim/ledger.db')
    >>> sqlite_file("mysql://root:pw@host/x", what="card database", example="cards.db")
    Traceback (most recent call last):
    ValueError: card database mysql://root:***@host/x: use a file path, sqlite:///path or \
postgresql://user:password@host:port/database
    """
    text = str(target)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        if not text.startswith("/"):
            raise ValueError(f"{target}: write a SQLite URL as sqlite:///path/to/{example}")
    elif "://" in text:
        raise ValueError(f"{what} {describe_target(target)}: use a file path, "
                         "sqlite:///path or postgresql://user:password@host:port/database")
    return Path(text)


class SqlDatabase(ABC):
    """The calls a store makes, the same on both engines."""

    dialect: ClassVar[str]
    location: str  # the file, or the URL without its password
    _begin_read: ClassVar[str]

    # -- what the component says -------------------------------------------------------

    @abstractmethod
    def _failure(self, kind: str, text: str, *, unique: bool = False) -> Exception:
        """The component's exception for a failure of ``kind`` (see the module)."""

    def _before_call(self) -> None:
        """Runs before each call; a component may raise here to fail it (a fault drill)."""
        return None

    # -- the calls -----------------------------------------------------------------------

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[None]:
        """A write transaction. ``exclusive`` also serialises it with every other
        exclusive one (schema changes, seeding) across processes."""
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

    @abstractmethod
    def _begin_write(self, exclusive: bool) -> None: ...

    @abstractmethod
    def _rollback(self) -> None:
        """Roll back an open transaction, if any, without raising."""

    @abstractmethod
    def table_exists(self, name: str) -> bool: ...

    @abstractmethod
    def columns(self, table: str) -> set[str]: ...

    @abstractmethod
    def close(self) -> None: ...


# -- SQLite ---------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    # Dates are ISO text in the file (they sort correctly as text); the default date
    # adapter of sqlite3 is deprecated, so convert here, once.
    return value.isoformat() if isinstance(value, date) else value


def _sqlite_params(params: Sequence[Any]) -> Sequence[Any]:
    # Most statements carry no date: hand their parameters over as they are (a switch
    # makes five statements an inquiry; the copy cost each of them ~0.4 µs).
    if type(params) is tuple or type(params) is list:
        for value in params:
            if isinstance(value, date):
                break
        else:
            return params
    return tuple(_sqlite_value(v) for v in params)


class SqliteFile(SqlDatabase):
    """A database in a SQLite file, over a connection the component opened (autocommit:
    ``isolation_level=None``). SQLite has one writer: every write transaction takes the
    file's write lock at BEGIN (IMMEDIATE), so two processes that check-then-write cannot
    both pass the check."""

    dialect = "sqlite"
    # In WAL mode a deferred transaction reads one snapshot from its first SELECT on.
    _begin_read = "BEGIN"

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn, self.location = conn, location

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for tests and tools that inspect the file."""
        return self._conn

    def _sorted(self, exc: sqlite3.Error) -> Exception:
        """The component's exception for a driver error."""
        text = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            return self._failure("constraint", text,
                                 unique="UNIQUE" in text or "PRIMARY KEY" in text)
        if isinstance(exc, sqlite3.OperationalError):
            return self._failure("unavailable", text)
        return self._failure("error", text)

    # The three calls catch errors themselves rather than through a context manager: they
    # run several times an inquiry, and a generator-based ``with`` cost ~1 µs each time.
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._before_call()
        try:
            return self._conn.execute(sql, _sqlite_params(params)).rowcount
        except sqlite3.Error as exc:
            raise self._sorted(exc) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._before_call()
        try:
            return self._conn.execute(sql, _sqlite_params(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._sorted(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._before_call()
        try:
            self._conn.executemany(sql, (_sqlite_params(r) for r in rows))
        except sqlite3.Error as exc:
            raise self._sorted(exc) from exc

    def _begin_write(self, exclusive: bool) -> None:
        self.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error says more than a failed rollback

    def table_exists(self, name: str) -> bool:
        return self.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (name,)) is not None

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self.query(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._conn.close()


# -- PostgreSQL -----------------------------------------------------------------------


@lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    # The stores' SQL never holds a literal ? or %, so a plain replacement is exact.
    return sql.replace("?", "%s")


_UNIQUE_VIOLATION = "23505"


class PostgresServer(SqlDatabase):
    """A database on a PostgreSQL server through psycopg 3, in autocommit mode (each
    statement its own transaction) with explicit transactions where several statements
    go together. ``setup`` statements run on each new connection; ``schema_lock`` is the
    ``pg_advisory_xact_lock`` key of exclusive transactions (any constant of the
    component's own)."""

    dialect = "postgresql"
    _begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: str, *, application_name: str, statement_timeout_ms: int,
                 schema_lock: int, setup: Sequence[str] = ()) -> None:
        try:
            import psycopg
        except ImportError:
            raise self._failure("missing", PSYCOPG_MISSING) from None
        self._psycopg = psycopg
        self._url = url
        self._application_name = application_name
        self._statement_timeout_ms = statement_timeout_ms
        self._schema_lock = schema_lock
        self._setup = tuple(setup)
        self.location = describe_target(url)
        self._conn: Any = None
        self._connection()  # fail now, in one line, if the server is not there

    def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._conn = None
        try:
            conn = connect(self._url, application_name=self._application_name,
                           statement_timeout_ms=self._statement_timeout_ms)
            try:
                for statement in self._setup:
                    conn.execute(statement)
            except BaseException:
                conn.close()
                raise
        except self._psycopg.Error as exc:
            raise self._failure("connect", first_line(exc)) from None
        self._conn = conn
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        psycopg = self._psycopg
        self._before_call()
        try:
            yield
        except psycopg.IntegrityError as exc:
            raise self._failure("constraint", first_line(exc),
                                unique=exc.sqlstate == _UNIQUE_VIOLATION) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # A lost server, a timeout and a serialization failure alike: all are "not
            # now"; a broken connection is replaced on the next call.
            raise self._failure("unavailable", first_line(exc)) from exc
        except psycopg.Error as exc:
            raise self._failure("error", first_line(exc)) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._errors():
            return int(self._connection().execute(_pg_sql(sql), tuple(params) or None)
                       .rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._errors():
            cursor = self._connection().execute(_pg_sql(sql), tuple(params) or None)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors(), self._connection().cursor() as cursor:
            cursor.executemany(_pg_sql(sql), [tuple(r) for r in rows])

    def _begin_write(self, exclusive: bool) -> None:
        self.execute("BEGIN")
        if exclusive:
            try:
                self.execute("SELECT pg_advisory_xact_lock(?)", (self._schema_lock,))
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

    def columns(self, table: str) -> set[str]:
        return {row[0] for row in self.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?", (table,))}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
