"""The ledger's SQLite file: connection settings, tables, and versioned migrations.

``connect`` opens a file with the settings every ledger connection needs (WAL so readers
never wait for a writer, ``synchronous=NORMAL`` which is durable enough in WAL mode,
foreign keys, a busy timeout). ``migrate`` brings any file, new or old, to the current
schema: ``MIGRATIONS`` is an append-only list, each step runs in its own transaction and
is recorded in ``schema_version``. Change the schema by appending a step, never by
editing one that has shipped.

Money is integer sen (CHECKed: SQLite would otherwise accept a float); dates are ISO
``YYYY-MM-DD`` text and periods ``YYYY-MM``, which sort correctly as text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "MIGRATIONS",
    "Migration",
    "SchemaError",
    "connect",
    "current_version",
    "migrate",
    "transaction",
]

_BUSY_TIMEOUT_MS = 5000  # another process seeding or migrating the same file


class SchemaError(RuntimeError):
    """The database file cannot be used with this version of the ledger."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _money(column: str, *, positive: bool = False) -> str:
    bound = ">" if positive else ">="
    return (f"{column} INTEGER NOT NULL "
            f"CHECK (typeof({column}) = 'integer' AND {column} {bound} 0)")


def _digits(column: str, length: int) -> str:
    return f"CHECK (length({column}) = {length} AND {column} NOT GLOB '*[^0-9]*')"


_ISO_DATE = "'[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'"
_PERIOD = "'[0-9][0-9][0-9][0-9]-[0-1][0-9]'"

_V1 = (
    f"""CREATE TABLE employers (
        npp TEXT PRIMARY KEY {_digits('npp', 8)},
        name TEXT NOT NULL
    )""",
    f"""CREATE TABLE participants (
        kpj TEXT PRIMARY KEY {_digits('kpj', 11)},
        nik TEXT NOT NULL {_digits('nik', 16)},
        name TEXT NOT NULL,
        birth_date TEXT NOT NULL CHECK (birth_date GLOB {_ISO_DATE}),
        sex TEXT NOT NULL CHECK (sex IN ('L', 'P')),
        segment TEXT NOT NULL CHECK (segment IN ('PU', 'BPU', 'JAKON', 'PMI')),
        status TEXT NOT NULL CHECK (status IN ('AKTIF', 'NONAKTIF')),
        inactive_since TEXT CHECK (inactive_since GLOB {_ISO_DATE}),
        inactive_reason TEXT,
        employer_npp TEXT REFERENCES employers (npp),
        member_since TEXT NOT NULL CHECK (member_since GLOB {_ISO_DATE})
    )""",
    # Not unique: one person can hold several KPJs (duplicate registrations before BPJS
    # merges them), and a NIK lookup must find them all.
    "CREATE INDEX participants_by_nik ON participants (nik)",
    # One row per participant and month (BL-TH); WITHOUT ROWID keeps a participant's
    # months together on disk, which is what a statement reads.
    f"""CREATE TABLE contributions (
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        period TEXT NOT NULL CHECK (period GLOB {_PERIOD}),
        {_money('wage_sen')},
        {_money('employer_sen')},
        {_money('worker_sen')},
        paid_on TEXT NOT NULL CHECK (paid_on GLOB {_ISO_DATE}),
        posted_on TEXT NOT NULL CHECK (posted_on GLOB {_ISO_DATE}),
        PRIMARY KEY (kpj, period)
    ) WITHOUT ROWID""",
    # rate_percent is the Decimal rate as text ('7.19'): exact, and readable in a dump.
    f"""CREATE TABLE yearly_returns (
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        year INTEGER NOT NULL,
        rate_percent TEXT NOT NULL,
        rate_is_placeholder INTEGER NOT NULL CHECK (rate_is_placeholder IN (0, 1)),
        {_money('amount_sen')},
        credited_on TEXT NOT NULL CHECK (credited_on GLOB {_ISO_DATE}),
        PRIMARY KEY (kpj, year)
    ) WITHOUT ROWID""",
    f"""CREATE TABLE claims (
        id INTEGER PRIMARY KEY,
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        kind TEXT NOT NULL CHECK (kind IN ('JHT_10', 'JHT_30', 'JHT_100')),
        {_money('amount_sen', positive=True)},
        paid_on TEXT NOT NULL CHECK (paid_on GLOB {_ISO_DATE})
    )""",
    "CREATE INDEX claims_by_kpj ON claims (kpj, paid_on)",
    # The answer to a balance inquiry, kept equal to contributions + returns - claims by
    # writing it in the same transaction as the rows (see LedgerStore).
    f"""CREATE TABLE balances (
        kpj TEXT PRIMARY KEY REFERENCES participants (kpj),
        balance_sen INTEGER NOT NULL CHECK (typeof(balance_sen) = 'integer'),
        as_of TEXT NOT NULL CHECK (as_of GLOB {_ISO_DATE}),
        last_contribution TEXT CHECK (last_contribution GLOB {_PERIOD})
    ) WITHOUT ROWID""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "participants, employers, contributions, returns, claims, balances", _V1),
)


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (or create) a ledger file with the ledger's connection settings.

    The connection is in autocommit mode: a single SELECT is its own consistent read, and
    writers open explicit transactions with ``transaction``.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and str(path) != ":memory:":
            raise SchemaError(f"{path}: cannot use write-ahead logging (journal mode {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise SchemaError(f"{path} is not a usable SQLite ledger file: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: IMMEDIATE takes the write lock up front, so two processes that
    check-then-write (migrate, seed) cannot both pass the check."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of the file; 0 for a file without a ledger schema yet."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection,
            migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply every migration the file lacks, each in its own transaction; the new version."""
    latest = migrations[-1].version if migrations else 0
    if current_version(conn) == latest:
        return latest  # the usual case: no write lock needed just to find out
    for migration in migrations:
        with transaction(conn):
            # Read the version inside the write lock: another process may have migrated.
            version = _ensure_version_table(conn)
            if version > latest:
                raise SchemaError(f"the ledger file has schema version {version}, newer than "
                                  f"this program knows ({latest}); upgrade atmsim")
            if migration.version <= version:
                continue
            if migration.version != version + 1:
                raise SchemaError(f"migration {migration.version} cannot follow version {version}")
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description,
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )
    return current_version(conn)


def _ensure_version_table(conn: sqlite3.Connection) -> int:
    conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""")
    return current_version(conn)
