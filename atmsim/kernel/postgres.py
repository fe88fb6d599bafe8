"""What every component that keeps its rows on PostgreSQL does the same way: recognise a
``postgresql://`` URL, print it without its password, open a psycopg 3 connection with
a connect timeout and a statement timeout, and turn an error into one line.

The ledger (``bpjs_ledger.db``) and the switch's card store (``atm_switch.card_db``)
both take a SQLite file or such a URL, through ``atmsim.kernel.sql``; each keeps its own
SQL.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

__all__ = ["is_postgres_url", "describe_target", "connect", "first_line", "PostgresMissing"]

CONNECT_TIMEOUT_S = 5
PSYCOPG_MISSING = "PostgreSQL needs psycopg 3: pip install 'psycopg[binary]'"


class PostgresMissing(RuntimeError):
    """psycopg 3 is not installed."""


def is_postgres_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a SQLite file.

    >>> is_postgres_url("postgresql://atmsim@127.0.0.1/ledger"), is_postgres_url("l.db")
    (True, False)
    """
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def describe_target(target: object) -> str:
    """``target`` as it may be printed or logged: a URL (of any scheme: a mistyped one is
    printed in an error) without its password.

    >>> describe_target("postgresql://atmsim:secret@127.0.0.1:55432/ledger")
    'postgresql://atmsim:***@127.0.0.1:55432/ledger'
    >>> describe_target("mysql://root:secret@db/cards"), describe_target("l.db")
    ('mysql://root:***@db/cards', 'l.db')
    """
    text = str(target)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:  # not a URL that can be taken apart: show none of what follows
        return text.split("://", 1)[0] + "://***"
    if password is None:
        return text
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, *, application_name: str, statement_timeout_ms: int) -> Any:
    """A psycopg connection in autocommit mode (callers open explicit transactions).

    The URL's own ``connect_timeout`` and ``application_name`` win over these defaults. A
    statement that waits longer than ``statement_timeout_ms`` (a lock held by a stuck
    transaction, a server in trouble) fails instead of hanging its caller. Raises
    ``psycopg.Error`` as psycopg does, ``PostgresMissing`` without psycopg.
    """
    try:
        import psycopg
    except ImportError:
        raise PostgresMissing(PSYCOPG_MISSING) from None
    given = parse_qs(urlsplit(url).query)
    defaults: dict[str, Any] = {key: value for key, value in (
        ("connect_timeout", CONNECT_TIMEOUT_S),
        ("application_name", application_name)) if key not in given}
    conn = psycopg.connect(url, autocommit=True, **defaults)
    try:
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
    except BaseException:
        conn.close()
        raise
    return conn


def first_line(exc: BaseException) -> str:
    """An error's first line, whitespace folded (psycopg adds DETAIL and HINT lines).

    >>> first_line(RuntimeError("relation missing\\nDETAIL: ..."))
    'relation missing'
    """
    text = str(exc).strip().splitlines()
    return re.sub(r"\s+", " ", text[0]) if text else type(exc).__name__
