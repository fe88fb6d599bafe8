"""Opening the small SQLite files components keep in the data directory (the switch's
journal, the ATM's store-and-forward queue) the one way they all want them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_wal"]


def open_wal(path: Path, schema: str, *, durable: bool = False) -> sqlite3.Connection:
    """``path`` opened (its directory and file made if need be) in autocommit mode and
    write-ahead logging, waiting up to 5 s for another process's lock, with ``schema``
    (``CREATE ... IF NOT EXISTS`` statements) applied.

    Not ``durable``: a power cut may lose the last commits (never corrupt the file), for
    records that can be rebuilt or lost; ``durable``: every commit is on disk when it
    returns, for what must survive (a reversal still owed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(schema)
    except BaseException:
        db.close()
        raise
    return db
