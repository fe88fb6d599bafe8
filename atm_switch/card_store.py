"""The issuer's card and terminal database (SQLite under the data directory).

Holds what a BNI issuer host keeps per card: PAN, expiry, status, the PIN verification
data (IBM 3624 offset or Visa PVV, with the PVK under the LMK, never a PIN), the
consecutive wrong-PIN counter, the cardholder's NIK and the KPJ linked to the card; and per
terminal its TPK under the LMK. Keys are stored only as LMK cryptograms plus check values.

Queries are single-row lookups by primary key that take microseconds, so they run on the
event loop; the counter updates are single atomic statements.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Card", "Terminal", "CardStore", "CardStatus", "PinTryOutcome"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    pan TEXT PRIMARY KEY,
    expiry TEXT NOT NULL,                 -- YYMM
    status TEXT NOT NULL DEFAULT 'ACTIVE',-- ACTIVE | BLOCKED | PIN_BLOCKED
    holder_name TEXT NOT NULL,
    nik TEXT NOT NULL,
    kpj TEXT,                             -- KPJ linked to the card, or NULL
    pin_method TEXT NOT NULL,             -- IBM3624 | VISA_PVV
    pvk_lmk TEXT NOT NULL,                -- PVK under the LMK (Thales key scheme + hex)
    pin_check_length INTEGER,             -- IBM 3624: digits checked
    pin_offset TEXT,                      -- IBM 3624: offset, F-padded to 12
    dec_table TEXT,                       -- IBM 3624: decimalisation table
    pin_validation_data TEXT,             -- IBM 3624: 12 chars, N = last 5 account digits
    pvki INTEGER,                         -- Visa PVV key index
    pvv TEXT,                             -- Visa PVV
    pin_tries INTEGER NOT NULL DEFAULT 0  -- consecutive wrong PINs
);
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    acquirer_id TEXT NOT NULL,
    tpk_lmk TEXT NOT NULL,                -- TPK under the LMK
    tpk_kcv TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    key_type TEXT NOT NULL,
    key_lmk TEXT NOT NULL,
    kcv TEXT NOT NULL
);
"""


class CardStatus:
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    PIN_BLOCKED = "PIN_BLOCKED"


@dataclass(frozen=True)
class Card:
    pan: str
    expiry: str
    status: str
    holder_name: str
    nik: str
    kpj: str | None
    pin_method: str
    pvk_lmk: str
    pin_check_length: int | None
    pin_offset: str | None
    dec_table: str | None
    pin_validation_data: str | None
    pvki: int | None
    pvv: str | None
    pin_tries: int

    def __repr__(self) -> str:  # verification data stays out of logs and tracebacks
        return f"<Card {self.pan[:6]}******{self.pan[-4:]} {self.status} tries={self.pin_tries}>"


@dataclass(frozen=True)
class Terminal:
    terminal_id: str
    acquirer_id: str
    tpk_lmk: str
    tpk_kcv: str

    def __repr__(self) -> str:
        return f"<Terminal {self.terminal_id} tpk_kcv={self.tpk_kcv}>"


@dataclass(frozen=True)
class PinTryOutcome:
    tries: int
    blocked: bool


class CardStore:
    """``CardStore(path)`` opens (and creates) the database; ``close()`` releases it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        if self._db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
            self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        self._db.close()

    @property
    def is_empty(self) -> bool:
        return self._db.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 0

    # -- reads ----------------------------------------------------------------------

    def card(self, pan: str) -> Card | None:
        row = self._db.execute("SELECT * FROM cards WHERE pan = ?", (pan,)).fetchone()
        return Card(**dict(row)) if row else None

    def terminal(self, terminal_id: str) -> Terminal | None:
        row = self._db.execute("SELECT * FROM terminals WHERE terminal_id = ?",
                               (terminal_id,)).fetchone()
        return Terminal(**dict(row)) if row else None

    # -- the PIN-try counter ----------------------------------------------------------

    def record_wrong_pin(self, pan: str, limit: int) -> PinTryOutcome:
        """Count one more consecutive wrong PIN; the ``limit``-th blocks the card."""
        row = self._db.execute(
            "UPDATE cards SET pin_tries = pin_tries + 1, "
            "status = CASE WHEN pin_tries + 1 >= ? THEN 'PIN_BLOCKED' ELSE status END "
            "WHERE pan = ? RETURNING pin_tries, status", (limit, pan)).fetchone()
        if row is None:
            return PinTryOutcome(0, False)
        return PinTryOutcome(row["pin_tries"], row["status"] == CardStatus.PIN_BLOCKED)

    def reset_pin_tries(self, pan: str) -> None:
        self._db.execute("UPDATE cards SET pin_tries = 0 WHERE pan = ? AND pin_tries > 0", (pan,))

    def set_status(self, pan: str, status: str, *, reset_tries: bool = False) -> bool:
        """Administrative change of a card's status (unblocking resets the counter)."""
        sql = "UPDATE cards SET status = ?" + (", pin_tries = 0" if reset_tries else "")
        return self._db.execute(sql + " WHERE pan = ?", (status, pan)).rowcount == 1

    # -- provisioning -----------------------------------------------------------------

    def put_card(self, card: Card) -> None:
        values = card.__dict__
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(f"INSERT OR REPLACE INTO cards ({columns}) VALUES ({marks})",
                         tuple(values.values()))

    def put_terminals(self, terminals: list[Terminal]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO terminals VALUES (?, ?, ?, ?)",
                [(t.terminal_id, t.acquirer_id, t.tpk_lmk, t.tpk_kcv) for t in terminals])

    def put_key(self, name: str, key_type: str, key_lmk: str, kcv: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?)",
                         (name, key_type, key_lmk, kcv))
