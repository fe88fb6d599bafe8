"""The ledger's tables, on SQLite and on PostgreSQL, and their versioned migrations.

``MIGRATIONS`` (SQLite) and ``POSTGRES_MIGRATIONS`` are append-only lists with the same
version numbers and the same tables in each engine's types. ``migrate`` brings any
database, new or old, to the current version: each step runs in its own exclusive
transaction and is recorded in ``schema_version``. Change the schema by appending a step
to both lists, never by editing one that has shipped.

Money is integer sen (BIGINT on PostgreSQL; on SQLite CHECKed with ``typeof``, since
SQLite would otherwise accept a float). Dates are ISO ``YYYY-MM-DD`` text on SQLite and
DATE on PostgreSQL; periods are ``YYYY-MM`` text on both (they sort correctly as text).

Versions: 1 participants, employers, contributions, returns, claims and the balance
snapshot; 2 JP shares on contribution rows, opening balances (saldo awal) and the
idempotency keys of posted contributions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bpjs_ledger.db import Database, SchemaError, connect_sqlite

__all__ = [
    "MIGRATIONS",
    "POSTGRES_MIGRATIONS",
    "Migration",
    "SchemaError",
    "connect",
    "current_version",
    "migrate",
    "migrations_for",
]


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

# -- SQLite ---------------------------------------------------------------------------

_SQLITE_V1 = (
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


_SQLITE_V2 = (
    # JP (pension) shares travel on the contribution row, as on a BPJS statement; rows
    # written by version 1 had none recorded.
    f"ALTER TABLE contributions ADD COLUMN {_money('jp_employer_sen')} DEFAULT 0",
    f"ALTER TABLE contributions ADD COLUMN {_money('jp_worker_sen')} DEFAULT 0",
    # Saldo awal: money carried over on 1 January of ``year`` from before the rows held
    # here (a bulk-loaded participant's earlier years). It earns like any balance.
    f"""CREATE TABLE opening_balances (
        kpj TEXT PRIMARY KEY REFERENCES participants (kpj),
        year INTEGER NOT NULL CHECK (typeof(year) = 'integer' AND year BETWEEN 1993 AND 9999),
        {_money('amount_sen')}
    ) WITHOUT ROWID""",
    # One row per contribution posted over MQTT, written in the same transaction as the
    # contribution: a repeated key finds it and is answered, never counted again.
    f"""CREATE TABLE contribution_posts (
        post_key TEXT PRIMARY KEY CHECK (length(post_key) BETWEEN 1 AND 128),
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        period TEXT NOT NULL CHECK (period GLOB {_PERIOD}),
        fingerprint TEXT NOT NULL,
        committed_at TEXT NOT NULL,
        UNIQUE (kpj, period)
    ) WITHOUT ROWID""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "participants, employers, contributions, returns, claims, balances",
              _SQLITE_V1),
    Migration(2, "JP shares, opening balances, contribution post keys", _SQLITE_V2),
)

# -- PostgreSQL -----------------------------------------------------------------------


def _pg_money(column: str, *, positive: bool = False) -> str:
    return f"{column} BIGINT NOT NULL CHECK ({column} {'>' if positive else '>='} 0)"


def _pg_digits(column: str, length: int) -> str:
    return f"CHECK ({column} ~ '^[0-9]{{{length}}}$')"


_PG_PERIOD = "'^[0-9]{4}-(0[1-9]|1[0-2])$'"

_POSTGRES_V1 = (
    f"""CREATE TABLE employers (
        npp TEXT PRIMARY KEY {_pg_digits('npp', 8)},
        name TEXT NOT NULL
    )""",
    f"""CREATE TABLE participants (
        kpj TEXT PRIMARY KEY {_pg_digits('kpj', 11)},
        nik TEXT NOT NULL {_pg_digits('nik', 16)},
        name TEXT NOT NULL,
        birth_date DATE NOT NULL,
        sex TEXT NOT NULL CHECK (sex IN ('L', 'P')),
        segment TEXT NOT NULL CHECK (segment IN ('PU', 'BPU', 'JAKON', 'PMI')),
        status TEXT NOT NULL CHECK (status IN ('AKTIF', 'NONAKTIF')),
        inactive_since DATE,
        inactive_reason TEXT,
        employer_npp TEXT REFERENCES employers (npp),
        member_since DATE NOT NULL
    )""",
    "CREATE INDEX participants_by_nik ON participants (nik)",
    f"""CREATE TABLE contributions (
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        period TEXT NOT NULL CHECK (period ~ {_PG_PERIOD}),
        {_pg_money('wage_sen')},
        {_pg_money('employer_sen')},
        {_pg_money('worker_sen')},
        paid_on DATE NOT NULL,
        posted_on DATE NOT NULL,
        PRIMARY KEY (kpj, period)
    )""",
    f"""CREATE TABLE yearly_returns (
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        year INTEGER NOT NULL,
        rate_percent TEXT NOT NULL,
        rate_is_placeholder SMALLINT NOT NULL CHECK (rate_is_placeholder IN (0, 1)),
        {_pg_money('amount_sen')},
        credited_on DATE NOT NULL,
        PRIMARY KEY (kpj, year)
    )""",
    f"""CREATE TABLE claims (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        kind TEXT NOT NULL CHECK (kind IN ('JHT_10', 'JHT_30', 'JHT_100')),
        {_pg_money('amount_sen', positive=True)},
        paid_on DATE NOT NULL
    )""",
    "CREATE INDEX claims_by_kpj ON claims (kpj, paid_on)",
    f"""CREATE TABLE balances (
        kpj TEXT PRIMARY KEY REFERENCES participants (kpj),
        balance_sen BIGINT NOT NULL,
        as_of DATE NOT NULL,
        last_contribution TEXT CHECK (last_contribution ~ {_PG_PERIOD})
    )""",
)

_POSTGRES_V2 = (
    f"ALTER TABLE contributions ADD COLUMN {_pg_money('jp_employer_sen')} DEFAULT 0",
    f"ALTER TABLE contributions ADD COLUMN {_pg_money('jp_worker_sen')} DEFAULT 0",
    f"""CREATE TABLE opening_balances (
        kpj TEXT PRIMARY KEY REFERENCES participants (kpj),
        year INTEGER NOT NULL CHECK (year BETWEEN 1993 AND 9999),
        {_pg_money('amount_sen')}
    )""",
    f"""CREATE TABLE contribution_posts (
        post_key TEXT PRIMARY KEY CHECK (length(post_key) BETWEEN 1 AND 128),
        kpj TEXT NOT NULL REFERENCES participants (kpj),
        period TEXT NOT NULL CHECK (period ~ {_PG_PERIOD}),
        fingerprint TEXT NOT NULL,
        committed_at TEXT NOT NULL,
        UNIQUE (kpj, period)
    )""",
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "participants, employers, contributions, returns, claims, balances",
              _POSTGRES_V1),
    Migration(2, "JP shares, opening balances, contribution post keys", _POSTGRES_V2),
)


def migrations_for(dialect: str) -> tuple[Migration, ...]:
    return POSTGRES_MIGRATIONS if dialect == "postgresql" else MIGRATIONS


def connect(path: Path | str) -> sqlite3.Connection:
    """Open a SQLite ledger file with the ledger's settings (see ``db.connect_sqlite``);
    a file that is not a SQLite database is a ``SchemaError``."""
    return connect_sqlite(path)


def current_version(db: Database) -> int:
    """The schema version of the database; 0 for one without a ledger schema yet."""
    if not db.table_exists("schema_version"):
        return 0
    row = db.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    return int(row[0]) if row else 0


def migrate(db: Database, migrations: tuple[Migration, ...] | None = None) -> int:
    """Apply every migration the database lacks, each in its own exclusive transaction;
    returns the new version."""
    if migrations is None:
        migrations = migrations_for(db.dialect)
    latest = migrations[-1].version if migrations else 0
    if current_version(db) == latest:
        return latest  # the usual case: no write lock needed just to find out
    for migration in migrations:
        with db.transaction(exclusive=True):
            # Read the version inside the lock: another process may have migrated.
            version = _ensure_version_table(db)
            if version > latest:
                raise SchemaError(f"{db.location} has schema version {version}, newer than "
                                  f"this program knows ({latest}); upgrade atmsim")
            if migration.version <= version:
                continue
            if migration.version != version + 1:
                raise SchemaError(f"migration {migration.version} cannot follow version {version}")
            for statement in migration.statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description,
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )
    return current_version(db)


def _ensure_version_table(db: Database) -> int:
    db.execute("""CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""")
    return current_version(db)
