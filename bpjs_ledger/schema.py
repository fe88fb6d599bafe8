"""The ledger's tables, declared once, rendered for SQLite and for PostgreSQL, and their
versioned migrations.

Each table is a ``Table`` of ``Column``s that say what a column holds (11 digits, money,
a date, a ``YYYY-MM`` period, one of some values); ``render_migrations(dialect)`` turns
``STEPS`` into each engine's types and CHECKs, so one rule is enforced the same way by
both. ``MIGRATIONS`` (SQLite) and ``POSTGRES_MIGRATIONS`` are those renderings.
``migrate`` brings any database, new or old, to the current version: each step runs in
its own exclusive transaction and is recorded in ``schema_version``. Change the schema
by appending a step, never by editing one that has shipped (a step keeps the
declarations it was written with: a changed table is a new ``Table`` object).

Money is integer sen (BIGINT on PostgreSQL; on SQLite CHECKed with ``typeof``, since
SQLite would otherwise accept a float). Dates are ISO ``YYYY-MM-DD`` text on SQLite
(CHECKed to be a real calendar day) and DATE on PostgreSQL; periods are ``YYYY-MM`` text
on both, months 01-12 (they sort correctly as text).

Versions: 1 participants, employers, contributions, returns, claims and the balance
snapshot; 2 JP shares on contribution rows, opening balances (saldo awal) and the
idempotency keys of posted contributions; 3 (SQLite only) tables copied into the
declaration, so files made by older releases refuse what PostgreSQL refuses; 4 the SMS
2757 registrations (which phone number may ask for which KPJ's balance); 5 complaints
(e-Form pengaduan) filed by the WhatsApp channel.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bpjs_ledger.db import Database, SchemaError, connect_sqlite

__all__ = [
    "INDEXES",
    "MIGRATIONS",
    "POSTGRES_MIGRATIONS",
    "SMS_TABLES",
    "STEPS",
    "TABLES",
    "Migration",
    "SchemaError",
    "connect",
    "current_version",
    "migrate",
    "migrations_for",
    "render_migrations",
]


# -- one declaration of the tables -----------------------------------------------------
#
# Each column says what it holds (digits of a length, money, a date, a period, one of some
# values); ``_render_column`` turns that into each engine's type and CHECK, so a rule is
# written once and both engines enforce the same one.


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text | digits | money | signed_money | date | period | int | flag | choice | id
    length: int = 0  # digits: exactly this many
    nullable: bool = False
    positive: bool = False  # money: > 0 rather than >= 0
    choices: tuple[str, ...] = ()
    between: tuple[int, int] | None = None  # int: inclusive range
    references: str = ""  # "table (column)"
    primary_key: bool = False
    default: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()  # a composite key; a single one is on its column
    unique: tuple[tuple[str, ...], ...] = ()
    # SQLite: WITHOUT ROWID keeps rows in key order on disk (a participant's months
    # together, which is what a statement reads); PostgreSQL has no such option.
    clustered: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: Column


@dataclass(frozen=True)
class RebuildTables:
    """SQLite only: copy tables into their current declaration, so that a file created by
    an older release gets the constraints a new one has (SQLite cannot alter a CHECK).
    PostgreSQL declared them from the start: nothing to do there."""

    tables: tuple[Table, ...]  # as declared when the step shipped, in dependency order


Operation = Table | Index | AddColumn | RebuildTables


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class Migration:
    """A step rendered for one engine."""

    version: int
    description: str
    statements: tuple[str, ...]
    # SQLite: the step copies tables that others reference, which needs foreign key
    # enforcement off around its transaction (and a foreign_key_check before commit).
    rebuilds: bool = False


def _text(name: str, **kw: object) -> Column:
    return Column(name, "text", **kw)  # type: ignore[arg-type]


def _date(name: str, *, nullable: bool = False) -> Column:
    return Column(name, "date", nullable=nullable)


_KPJ_REF = "participants (kpj)"

_EMPLOYERS = Table("employers", (
    Column("npp", "digits", length=8, primary_key=True),
    _text("name"),
))
_PARTICIPANTS = Table("participants", (
    Column("kpj", "digits", length=11, primary_key=True),
    Column("nik", "digits", length=16),
    _text("name"),
    _date("birth_date"),
    Column("sex", "choice", choices=("L", "P")),
    Column("segment", "choice", choices=("PU", "BPU", "JAKON", "PMI")),
    Column("status", "choice", choices=("AKTIF", "NONAKTIF")),
    _date("inactive_since", nullable=True),
    _text("inactive_reason", nullable=True),
    _text("employer_npp", nullable=True, references="employers (npp)"),
    _date("member_since"),
))
# Not unique: one person can hold several KPJs (duplicate registrations before BPJS
# merges them), and a NIK lookup must find them all.
_PARTICIPANTS_BY_NIK = Index("participants_by_nik", "participants", ("nik",))
# One row per participant and month (BL-TH).
_CONTRIBUTIONS_V1 = (
    _text("kpj", references=_KPJ_REF),
    Column("period", "period"),
    Column("wage_sen", "money"),
    Column("employer_sen", "money"),
    Column("worker_sen", "money"),
    _date("paid_on"),
    _date("posted_on"),
)
# JP (pension) shares travel on the contribution row, as on a BPJS statement; rows written
# by version 1 had none recorded.
_JP_EMPLOYER = Column("jp_employer_sen", "money", default="0")
_JP_WORKER = Column("jp_worker_sen", "money", default="0")
_CONTRIBUTIONS = Table("contributions", _CONTRIBUTIONS_V1 + (_JP_EMPLOYER, _JP_WORKER),
                       primary_key=("kpj", "period"), clustered=True)
# rate_percent is the Decimal rate as text ('7.19'): exact, and readable in a dump.
_YEARLY_RETURNS = Table("yearly_returns", (
    _text("kpj", references=_KPJ_REF),
    Column("year", "int"),
    _text("rate_percent"),
    Column("rate_is_placeholder", "flag"),
    Column("amount_sen", "money"),
    _date("credited_on"),
), primary_key=("kpj", "year"), clustered=True)
_CLAIMS = Table("claims", (
    Column("id", "id", primary_key=True),
    _text("kpj", references=_KPJ_REF),
    Column("kind", "choice", choices=("JHT_10", "JHT_30", "JHT_100")),
    Column("amount_sen", "money", positive=True),
    _date("paid_on"),
))
_CLAIMS_BY_KPJ = Index("claims_by_kpj", "claims", ("kpj", "paid_on"))
# The answer to a balance inquiry, kept equal to contributions + returns - claims by
# writing it in the same transaction as the rows (see LedgerStore).
_BALANCES = Table("balances", (
    _text("kpj", primary_key=True, references=_KPJ_REF),
    Column("balance_sen", "signed_money"),
    _date("as_of"),
    Column("last_contribution", "period", nullable=True),
), clustered=True)
# Saldo awal: money carried over on 1 January of ``year`` from before the rows held here
# (a bulk-loaded participant's earlier years). It earns like any balance.
_OPENING_BALANCES = Table("opening_balances", (
    _text("kpj", primary_key=True, references=_KPJ_REF),
    Column("year", "int", between=(1993, 9999)),
    Column("amount_sen", "money"),
), clustered=True)
# One row per contribution posted over MQTT, written in the same transaction as the
# contribution: a repeated key finds it and is answered, never counted again.
_CONTRIBUTION_POSTS = Table("contribution_posts", (
    Column("post_key", "text", primary_key=True, between=(1, 128)),
    _text("kpj", references=_KPJ_REF),
    Column("period", "period"),
    _text("fingerprint"),
    _text("committed_at"),
), unique=(("kpj", "period"),), clustered=True)

# An e-Form pengaduan (complaint) filed through a channel (WhatsApp): who may be
# contacted back, the identity given (none for a non-participant), what it is about.
# The ticket is derived from the row id and the filing day; ``post_key`` (the channel's
# message id) makes a complaint filed twice count once. No foreign key to participants:
# anyone may complain.
_COMPLAINTS = Table("complaints", (
    Column("id", "id", primary_key=True),
    Column("post_key", "text", between=(1, 128)),
    Column("ticket", "text", nullable=True, between=(1, 32)),
    Column("channel", "text", between=(1, 32)),
    Column("contact", "text", between=(1, 32)),
    Column("nik", "digits", length=16, nullable=True),
    Column("kpj", "digits", length=11, nullable=True),
    Column("category", "choice", choices=("KEPESERTAAN", "KLAIM", "IURAN", "LAYANAN",
                                          "LAINNYA")),
    Column("body", "text", between=(1, 1000)),
    _date("filed_on"),
    _text("filed_at"),
), unique=(("post_key",), ("ticket",)))

# SMS 2757 (docs/channels.md): the phone number each KPJ was registered to with DAFTAR
# SALDO, after its NIK, birth date and name were checked. One number per KPJ (registering
# again from another number moves it); a number may hold several KPJs (a person's
# duplicate registrations). Not in TABLES: step 3 rebuilds TABLES as they were when it
# shipped, before this table existed.
_SMS_REGISTRATIONS = Table("sms_registrations", (
    _text("kpj", primary_key=True, references=_KPJ_REF),
    Column("msisdn", "text", between=(8, 15)),  # international digits: 62812...
    _text("email", nullable=True),
    _text("registered_at"),
), clustered=True)
_SMS_REGISTRATIONS_BY_MSISDN = Index("sms_registrations_by_msisdn", "sms_registrations",
                                     ("msisdn",))
SMS_TABLES: tuple[Table, ...] = (_SMS_REGISTRATIONS,)

TABLES: tuple[Table, ...] = (_EMPLOYERS, _PARTICIPANTS, _CONTRIBUTIONS, _YEARLY_RETURNS, _CLAIMS,
                             _BALANCES, _OPENING_BALANCES, _CONTRIBUTION_POSTS)
INDEXES: tuple[Index, ...] = (_PARTICIPANTS_BY_NIK, _CLAIMS_BY_KPJ)

STEPS: tuple[Step, ...] = (
    Step(1, "participants, employers, contributions, returns, claims, balances", (
        _EMPLOYERS, _PARTICIPANTS, _PARTICIPANTS_BY_NIK,
        Table("contributions", _CONTRIBUTIONS_V1, primary_key=("kpj", "period"), clustered=True),
        _YEARLY_RETURNS, _CLAIMS, _CLAIMS_BY_KPJ, _BALANCES)),
    Step(2, "JP shares, opening balances, contribution post keys", (
        AddColumn("contributions", _JP_EMPLOYER), AddColumn("contributions", _JP_WORKER),
        _OPENING_BALANCES, _CONTRIBUTION_POSTS)),
    # Releases up to version 2 wrote SQLite CHECKs that let months 00 and 13-19 and days
    # such as 02-30 through, which PostgreSQL refused: the same rules on both from here.
    Step(3, "the same date and period rules on SQLite as on PostgreSQL", (
        RebuildTables(TABLES),)),
    Step(4, "SMS 2757 registrations", (_SMS_REGISTRATIONS, _SMS_REGISTRATIONS_BY_MSISDN)),
    Step(5, "complaints (e-Form pengaduan) filed by the WhatsApp channel", (_COMPLAINTS,)),
)

# -- rendering ------------------------------------------------------------------------

_PERIOD_GLOB = "'[0-9][0-9][0-9][0-9]-[0-1][0-9]'"
_DATE_GLOB = "'[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'"
_PG_PERIOD = "'^[0-9]{4}-(0[1-9]|1[0-2])$'"


def _sqlite_column(c: Column) -> str:
    n = c.name
    if c.kind == "id":
        return f"{n} INTEGER PRIMARY KEY"
    checks: list[str] = []
    sql_type = "TEXT"
    if c.kind == "digits":
        checks.append(f"length({n}) = {c.length} AND {n} NOT GLOB '*[^0-9]*'")
    elif c.kind in ("money", "signed_money"):
        sql_type = "INTEGER"  # SQLite would keep a float in an INTEGER column: typeof says
        bound = "" if c.kind == "signed_money" else f" AND {n} {'>' if c.positive else '>='} 0"
        checks.append(f"typeof({n}) = 'integer'{bound}")
    elif c.kind == "date":
        # The GLOB fixes the shape; date(x, '+0 days') normalises 02-30 to 03-02, so only a
        # real calendar day equals itself.
        checks.append(f"{n} GLOB {_DATE_GLOB} AND date({n}, '+0 days') IS {n}")
    elif c.kind == "period":
        checks.append(f"{n} GLOB {_PERIOD_GLOB} AND substr({n}, 6, 2) BETWEEN '01' AND '12'")
    elif c.kind == "int":
        sql_type = "INTEGER"
        if c.between:
            checks.append(f"typeof({n}) = 'integer' AND {n} BETWEEN {c.between[0]} AND "
                          f"{c.between[1]}")
    elif c.kind == "flag":
        sql_type = "INTEGER"
        checks.append(f"{n} IN (0, 1)")
    elif c.kind == "choice":
        checks.append(f"{n} IN ({', '.join(repr(v) for v in c.choices)})")
    if c.kind == "text" and c.between:
        checks.append(f"length({n}) BETWEEN {c.between[0]} AND {c.between[1]}")
    return _column_sql(c, sql_type, checks)


def _pg_column(c: Column) -> str:
    n = c.name
    if c.kind == "id":
        return f"{n} BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    checks: list[str] = []
    sql_type = "TEXT"
    if c.kind == "digits":
        checks.append(f"{n} ~ '^[0-9]{{{c.length}}}$'")
    elif c.kind in ("money", "signed_money"):
        sql_type = "BIGINT"
        if c.kind == "money":
            checks.append(f"{n} {'>' if c.positive else '>='} 0")
    elif c.kind == "date":
        sql_type = "DATE"
    elif c.kind == "period":
        checks.append(f"{n} ~ {_PG_PERIOD}")
    elif c.kind == "int":
        sql_type = "INTEGER"
        if c.between:
            checks.append(f"{n} BETWEEN {c.between[0]} AND {c.between[1]}")
    elif c.kind == "flag":
        sql_type = "SMALLINT"
        checks.append(f"{n} IN (0, 1)")
    elif c.kind == "choice":
        checks.append(f"{n} IN ({', '.join(repr(v) for v in c.choices)})")
    if c.kind == "text" and c.between:
        checks.append(f"length({n}) BETWEEN {c.between[0]} AND {c.between[1]}")
    return _column_sql(c, sql_type, checks)


def _column_sql(c: Column, sql_type: str, checks: list[str]) -> str:
    parts = [c.name, sql_type]
    if not c.nullable:
        # Also on a key: SQLite lets a rowid table's TEXT PRIMARY KEY hold NULL.
        parts.append("NOT NULL")
    if c.primary_key:
        parts.append("PRIMARY KEY")
    if c.references:
        parts.append(f"REFERENCES {c.references}")
    parts += [f"CHECK ({check})" for check in checks]
    if c.default:
        parts.append(f"DEFAULT {c.default}")
    return " ".join(parts)


_RENDER_COLUMN = {"sqlite": _sqlite_column, "postgresql": _pg_column}


def _create_table(table: Table, dialect: str, name: str | None = None) -> str:
    render = _RENDER_COLUMN[dialect]
    lines = [render(c) for c in table.columns]
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    lines += [f"UNIQUE ({', '.join(u)})" for u in table.unique]
    body = ",\n    ".join(lines)
    suffix = " WITHOUT ROWID" if table.clustered and dialect == "sqlite" else ""
    return f"CREATE TABLE {name or table.name} (\n    {body}\n){suffix}"


def _create_index(index: Index) -> str:
    return f"CREATE INDEX {index.name} ON {index.table} ({', '.join(index.columns)})"


def _rebuild(table: Table) -> tuple[str, ...]:
    """The copy SQLite's ALTER TABLE documentation prescribes for changing constraints."""
    columns = ", ".join(c.name for c in table.columns)
    copy = f"{table.name}__new"
    statements = [_create_table(table, "sqlite", copy),
                  f"INSERT INTO {copy} ({columns}) SELECT {columns} FROM {table.name}",
                  f"DROP TABLE {table.name}",
                  f"ALTER TABLE {copy} RENAME TO {table.name}"]
    statements += [_create_index(i) for i in INDEXES if i.table == table.name]
    return tuple(statements)


def _render(operation: Operation, dialect: str) -> tuple[str, ...]:
    if isinstance(operation, Table):
        return (_create_table(operation, dialect),)
    if isinstance(operation, Index):
        return (_create_index(operation),)
    if isinstance(operation, AddColumn):
        return (f"ALTER TABLE {operation.table} ADD COLUMN "
                f"{_RENDER_COLUMN[dialect](operation.column)}",)
    if dialect != "sqlite":
        return ()
    return tuple(s for table in operation.tables for s in _rebuild(table))


def render_migrations(dialect: str) -> tuple[Migration, ...]:
    """``STEPS`` as one engine's statements."""
    return tuple(
        Migration(step.version, step.description,
                  tuple(s for op in step.operations for s in _render(op, dialect)),
                  rebuilds=dialect == "sqlite"
                  and any(isinstance(op, RebuildTables) for op in step.operations))
        for step in STEPS)


MIGRATIONS: tuple[Migration, ...] = render_migrations("sqlite")
POSTGRES_MIGRATIONS: tuple[Migration, ...] = render_migrations("postgresql")


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
        with _foreign_keys_off(db, migration.rebuilds), db.transaction(exclusive=True):
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
            if migration.rebuilds and db.query("PRAGMA foreign_key_check"):
                raise SchemaError(f"{db.location}: rows refer to rows that do not exist; "
                                  "the file was changed outside the ledger")
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description,
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )
    return current_version(db)


@contextmanager
def _foreign_keys_off(db: Database, needed: bool) -> Iterator[None]:
    """SQLite: enforcement off around a step that copies referenced tables (the pragma
    is ignored inside a transaction, so it is set before BEGIN and restored after)."""
    if not needed or db.dialect != "sqlite":
        yield
        return
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def _ensure_version_table(db: Database) -> int:
    db.execute("""CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""")
    return current_version(db)
