"""The issuer's card and terminal database (SQLite under the data directory, or PostgreSQL).

Holds what a BNI issuer host keeps per card: expiry, status, the PIN verification data
(IBM 3624 offset or Visa PVV, with the PVK under the LMK, never a PIN), the wrong-PIN
counter, the cardholder's NIK and the KPJ linked to the card; and per terminal its TPK
under the LMK. Keys are stored only as LMK cryptograms plus check values.

Per terminal (schema 3): its TPK, TAK and TMK under the LMK, its MAC policy (``off`` /
``optional`` / ``required``) and sign-on policy (``not_required`` / ``required``), and
every generation of its TPK and TAK (``terminal_keys``: number, created, retired), so that
a key changed by an 0800/161 still verifies for a grace window after it was retired.

The PAN is never stored in clear (PCI DSS 3.5): a card row is found by the HMAC-SHA-256
of its PAN under the PAN lookup key, carries the PAN encrypted under the PAN data key
(AES-GCM) and the first-6/last-4 masked PAN for display. Both keys are kept under the
LMK in the ``keys`` table and held in clear only in memory (:class:`PanKeys`); whoever
opens the store supplies them (``atmsim.shell.provisioning.open_card_store``). Schema version 1
(clear PANs) is migrated to version 2 in place, in one transaction, when first opened.

The PIN-try counter is a reservation: a verification takes a try in one atomic statement
*before* the HSM is asked (:meth:`CardStore.reserve_pin_try`), so that at most
``pin_tries`` verifications of one card are ever outstanding or wrong in a row, however
many inquiries race for it and however many switch processes share the database (a
SQLite file on one machine, or one PostgreSQL database for switches on many).

Queries are single-row statements by primary key that take microseconds, so they run on
the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atm_switch.card_db import CardDb, CardStoreError, open_card_db
from atmsim.kernel.masking import mask_pan

__all__ = ["Card", "Terminal", "CardStore", "CardStatus", "CardStoreError", "PanKeys",
           "PinTryOutcome", "StoredKey", "SCHEMA_VERSION", "PAN_DIGIT", "KeyGeneration",
           "MacPolicy", "SignOnPolicy", "TPK", "TAK"]

SCHEMA_VERSION = 3
TPK, TAK = "TPK", "TAK"  # the terminal key kinds that have generations

# In stored PIN validation data, each PAN_DIGIT stands for the next digit of the PAN: IBM
# 3624 validation data is usually the first 11 PAN digits + "N", and storing those digits
# next to the masked PAN (first 6, last 4) would give the PAN away through its check digit.
PAN_DIGIT = "P"

_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    acquirer_id TEXT NOT NULL,
    tpk_lmk TEXT NOT NULL,                -- TPK under the LMK
    tpk_kcv TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_change_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL,
    requested REAL NOT NULL,
    done REAL,                            -- NULL: the switch has not taken it yet
    result TEXT                           -- "generation N" or why not
);
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    key_type TEXT NOT NULL,
    key_lmk TEXT NOT NULL,
    kcv TEXT NOT NULL
);
"""

_CARDS_V2 = """
CREATE TABLE cards (
    pan_hash TEXT PRIMARY KEY,            -- HMAC-SHA-256 of the PAN, PAN lookup key (hex)
    pan_encrypted TEXT NOT NULL,          -- AES-GCM, PAN data key: nonce|ciphertext|tag (hex)
    pan_masked TEXT NOT NULL,             -- first 6 and last 4 digits, for display
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
    pin_validation_data TEXT,             -- IBM 3624: 12 chars, P = next PAN digit
    pvki INTEGER,                         -- Visa PVV key index
    pvv TEXT,                             -- Visa PVV
    pin_tries INTEGER NOT NULL DEFAULT 0, -- consecutive wrong PINs
    pin_in_flight INTEGER NOT NULL DEFAULT 0,   -- tries reserved, HSM not answered yet
    pin_reserved_at REAL NOT NULL DEFAULT 0     -- Unix time of the latest reservation
)
"""

# Schema 3: what a terminal row gained, added in place to a version 2 file.
_TERMINAL_COLUMNS_V3 = (
    ("tak_lmk", "TEXT"),                                   # TAK under the LMK, or NULL
    ("tak_kcv", "TEXT"),
    ("tmk_lmk", "TEXT"),                                   # TMK under the LMK, or NULL
    ("tmk_kcv", "TEXT"),
    ("mac_policy", "TEXT NOT NULL DEFAULT 'optional'"),    # off | optional | required
    ("sign_on_policy", "TEXT NOT NULL DEFAULT 'not_required'"),  # not_required | required
)
_TERMINAL_KEYS_V3 = """
CREATE TABLE IF NOT EXISTS terminal_keys (
    terminal_id TEXT NOT NULL,
    kind TEXT NOT NULL,                   -- TPK | TAK
    generation INTEGER NOT NULL,          -- 1 = as issued, +1 per key change
    key_lmk TEXT NOT NULL,                -- under the LMK
    kcv TEXT NOT NULL,
    created REAL NOT NULL,                -- Unix time
    retired REAL,                         -- Unix time it was replaced, NULL: current
    PRIMARY KEY (terminal_id, kind, generation)
)
"""

# A reservation older than this is an orphan: its switch stopped (crashed) before the HSM
# answered. Every verification ends within the HSM deadline (2 s), so the margin is wide.
RESERVATION_STALE_AFTER = 30.0
# Seconds a key change request waits for the switch its ATM is connected to before any
# switch sharing the store takes it (``atmsim keys rotate`` waits 15 s by default).
KEY_CHANGE_CLAIM_WAIT = 2.0


class CardStatus:
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    PIN_BLOCKED = "PIN_BLOCKED"


@dataclass(frozen=True)
class Card:
    pan_hash: str
    pan_masked: str
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
    pin_in_flight: int
    pin_reserved_at: float

    def validation_data(self, pan: str) -> str:
        """The IBM 3624 validation data for this card's ``pan`` (the PAN digits filled in).

        >>> card = Card("h", "m", "3012", "ACTIVE", "x", "1", None, "IBM3624", "U", 6, None,
        ...             None, "PPPPPPPPPPPN", None, None, 0, 0, 0.0)
        >>> card.validation_data("5264220000100010")
        '52642200001N'
        """
        template = self.pin_validation_data or ""
        digits = iter(pan)
        return "".join(next(digits, "0") if c == PAN_DIGIT else c for c in template)

    def __repr__(self) -> str:  # verification data stays out of logs and tracebacks
        return f"<Card {self.pan_masked} {self.status} tries={self.pin_tries}>"


_CARD_COLUMNS = ", ".join(f.name for f in fields(Card))


class MacPolicy:
    """Whether a terminal's 0200 (and 0420) must carry a MAC (docs/wire.md)."""

    OFF = "off"            # a MAC is not checked (and not sent back)
    OPTIONAL = "optional"  # a MAC that is present is verified; none is accepted
    REQUIRED = "required"  # no MAC, or a wrong one: 63
    ALL = (OFF, OPTIONAL, REQUIRED)


class SignOnPolicy:
    """Whether a terminal must sign on (0800/001) on a connection before financial messages."""

    NOT_REQUIRED = "not_required"
    REQUIRED = "required"
    ALL = (NOT_REQUIRED, REQUIRED)


@dataclass(frozen=True)
class Terminal:
    terminal_id: str
    acquirer_id: str
    tpk_lmk: str  # the current TPK under the LMK
    tpk_kcv: str
    tak_lmk: str | None = None  # the current TAK under the LMK
    tak_kcv: str | None = None
    tmk_lmk: str | None = None  # the terminal master key: new keys travel under it
    tmk_kcv: str | None = None
    mac_policy: str = MacPolicy.OPTIONAL
    sign_on_policy: str = SignOnPolicy.NOT_REQUIRED

    def __repr__(self) -> str:
        return f"<Terminal {self.terminal_id} tpk_kcv={self.tpk_kcv} tak_kcv={self.tak_kcv}>"


@dataclass(frozen=True)
class KeyGeneration:
    """One generation of a terminal's TPK or TAK."""

    terminal_id: str
    kind: str
    generation: int
    key_lmk: str
    kcv: str
    created: float
    retired: float | None

    def __repr__(self) -> str:
        return f"<KeyGeneration {self.terminal_id} {self.kind} #{self.generation} {self.kcv}>"


@dataclass(frozen=True)
class StoredKey:
    name: str
    key_type: str
    key_lmk: str  # under the LMK
    kcv: str


@dataclass(frozen=True)
class PinTryOutcome:
    tries: int
    blocked: bool


class PanKeys:
    """The two PAN keys in clear, in memory only: lookup (HMAC-SHA-256) and data (AES).

    >>> keys = PanKeys(bytes(24), bytes(24))
    >>> h = keys.lookup_hash("5264220000100010")
    >>> keys.decrypt(keys.encrypt("5264220000100010", h), h)
    '5264220000100010'
    """

    __slots__ = ("_aead", "_lookup_key")

    def __init__(self, lookup_key: bytes, data_key: bytes) -> None:
        self._lookup_key = bytes(lookup_key)
        self._aead = AESGCM(data_key)  # 16, 24 or 32 bytes: AES-128/192/256

    def lookup_hash(self, pan: str) -> str:
        return hmac.new(self._lookup_key, pan.encode("ascii"), hashlib.sha256).hexdigest()

    def encrypt(self, pan: str, pan_hash: str) -> str:
        # The row's hash is authenticated with the ciphertext: a PAN moved to another row
        # does not decrypt.
        nonce = os.urandom(12)
        return (nonce + self._aead.encrypt(nonce, pan.encode("ascii"),
                                           pan_hash.encode("ascii"))).hex()

    def decrypt(self, encrypted: str, pan_hash: str) -> str:
        raw = bytes.fromhex(encrypted)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], pan_hash.encode("ascii")).decode()
        except InvalidTag:
            raise CardStoreError("a stored PAN does not decrypt under the PAN data key") from None

    def __repr__(self) -> str:
        return "<PanKeys>"


class CardStore:
    """``CardStore(target, unlock)`` opens (and creates or migrates) the database: a SQLite
    file (a path or ``sqlite:///path``) or a ``postgresql://`` URL (``atm_switch.card_db``).

    ``unlock`` is called once with the open store, before any card is read, and returns
    the clear PAN keys; it may create them (:meth:`put_key`) in a new database.
    ``close()`` releases the database.
    """

    def __init__(self, target: Path | str, unlock: Callable[[CardStore], PanKeys]) -> None:
        self._db = open_card_db(target)
        self.path = self._db.path  # the file, or the URL without its password
        try:
            version = self._ensure_schema()
            self._keys = unlock(self)
            if version == 1:
                self._migrate_v1()
            if version < 3:
                self._migrate_v2()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def _ensure_schema(self) -> int:
        """The schema version found (a new database gets the current schema at once)."""
        db = self._db
        with db.transaction(exclusive=True):
            for statement in db.ddl(_TABLES):
                db.run(statement)
            if db.columns("schema_version") != {"version"}:
                raise CardStoreError(
                    f"card database {self.path} holds another program's tables (its "
                    "schema_version is not the card store's; the ledger's?): give the "
                    "card store a database or schema of its own")
            row = db.one("SELECT MAX(version) FROM schema_version")
            version = row[0] if row else None
            if not db.table_exists("cards"):
                db.run(db.ddl(_CARDS_V2)[0])
                if db.dialect == "postgresql":  # SQLite's rowid: the order of issue
                    db.run("ALTER TABLE cards ADD COLUMN issue_order BIGSERIAL")
                self._add_terminal_columns()
                db.run("DELETE FROM schema_version")
                db.run("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
            elif version is None:
                version = 1  # the first release wrote its version only on creation
        if version > SCHEMA_VERSION:
            raise CardStoreError(f"card database {self.path} has schema version {version}; "
                                 f"this atmsim knows up to {SCHEMA_VERSION}")
        return int(version)

    def _migrate_v1(self) -> None:
        """Schema 1 -> 2: every clear PAN hashed, encrypted and masked, in one transaction.

        Afterwards the file is rebuilt (VACUUM) and the WAL emptied, so that no page of the
        file still holds a clear PAN. (Only SQLite files ever had schema 1.)
        """
        db = self._db
        # Freed space is zeroed: the clear PANs of the old rows do not linger in the file.
        db.run("PRAGMA secure_delete=ON")
        with db.transaction(exclusive=True):
            row = db.one("SELECT MAX(version) FROM schema_version")
            if row is not None and row[0] is not None and row[0] >= 2:
                return  # another process got there first
            db.run("ALTER TABLE cards RENAME TO cards_v1")
            db.run(_CARDS_V2)
            columns = [f.name for f in fields(Card)] + ["pan_encrypted"]
            insert = (f"INSERT INTO cards ({', '.join(columns)}) "
                      f"VALUES ({', '.join('?' for _ in columns)})")
            old_columns = [name for name in _column_order(db, "cards_v1")]
            for old in db.all(f"SELECT {', '.join(old_columns)} FROM cards_v1"):
                values = dict(zip(old_columns, old, strict=True))
                pan = values.pop("pan")
                values.update(self._pan_columns(pan))
                values["pin_validation_data"] = _validation_template(
                    values["pin_validation_data"], pan)
                values["pin_in_flight"], values["pin_reserved_at"] = 0, 0.0
                db.run(insert, tuple(values[c] for c in columns))
            db.run("DROP TABLE cards_v1")
            db.run("DELETE FROM schema_version")
            db.run("INSERT INTO schema_version VALUES (2)")
        db.run("VACUUM")
        db.run("PRAGMA wal_checkpoint(TRUNCATE)")

    def _add_terminal_columns(self) -> None:
        have = self._db.columns("terminals")
        for name, declaration in _TERMINAL_COLUMNS_V3:
            if name not in have:
                self._db.run(f"ALTER TABLE terminals ADD COLUMN {name} {declaration}")
        self._db.run(self._db.ddl(_TERMINAL_KEYS_V3)[0])

    def _migrate_v2(self) -> None:
        """Schema 2 -> 3: terminals gain TAK, TMK and policies; key generations begin.

        Each terminal's TPK on file becomes its generation 1. Its TAK and TMK are taken
        from the ``keys`` table's ``TAK`` and ``TMK`` entries when there are any (the
        demo provisioning put the demo keys there), else left empty (no MAC, no key
        change for that terminal until they are set).
        """
        db = self._db
        with db.transaction(exclusive=True):
            row = db.one("SELECT MAX(version) FROM schema_version")
            if row is not None and row[0] is not None and row[0] >= 3:
                return  # another process got there first
            self._add_terminal_columns()
            for kind, column in (("TAK", "tak"), ("TMK", "tmk")):
                key = db.one("SELECT key_lmk, kcv FROM keys WHERE name = ?", (kind,))
                if key is not None:
                    db.run(f"UPDATE terminals SET {column}_lmk = ?, {column}_kcv = ? "
                           f"WHERE {column}_lmk IS NULL", (key[0], key[1]))
            db.run("INSERT INTO terminal_keys SELECT terminal_id, 'TPK', 1, tpk_lmk, "
                   "tpk_kcv, ?, NULL FROM terminals WHERE true ON CONFLICT DO NOTHING",
                   (time.time(),))
            db.run("INSERT INTO terminal_keys SELECT terminal_id, 'TAK', 1, tak_lmk, "
                   "tak_kcv, ?, NULL FROM terminals WHERE tak_lmk IS NOT NULL "
                   "ON CONFLICT DO NOTHING", (time.time(),))
            db.run("DELETE FROM schema_version")
            db.run("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

    def _pan_columns(self, pan: str) -> dict[str, str]:
        pan_hash = self._keys.lookup_hash(pan)
        return {"pan_hash": pan_hash, "pan_encrypted": self._keys.encrypt(pan, pan_hash),
                "pan_masked": mask_pan(pan)}

    @property
    def is_empty(self) -> bool:
        row = self._db.one("SELECT COUNT(*) FROM cards")
        return row is None or row[0] == 0

    # -- reads ----------------------------------------------------------------------

    def pan_hash(self, pan: str) -> str:
        """The key a card is found by: HMAC-SHA-256 of the PAN under the lookup key."""
        return self._keys.lookup_hash(pan)

    def card(self, pan: str) -> Card | None:
        return self.card_by_hash(self.pan_hash(pan))

    def card_by_hash(self, pan_hash: str) -> Card | None:
        row = self._db.one(f"SELECT {_CARD_COLUMNS} FROM cards WHERE pan_hash = ?",
                           (pan_hash,))
        return Card(*row) if row else None

    def cards(self) -> Iterator[Card]:
        """Every card, in the order they were issued."""
        for row in self._db.all(f"SELECT {_CARD_COLUMNS} FROM cards "
                                f"ORDER BY {self._db.issue_order}"):
            yield Card(*row)

    def pan(self, card: Card) -> str:
        """The card's full PAN, decrypted: for issuer processes that need it, never shown."""
        row = self._db.one("SELECT pan_encrypted FROM cards WHERE pan_hash = ?",
                           (card.pan_hash,))
        if row is None:
            raise CardStoreError(f"card {card.pan_masked} is no longer on file")
        return self._keys.decrypt(row[0], card.pan_hash)

    def terminal(self, terminal_id: str) -> Terminal | None:
        row = self._db.one(f"SELECT {_TERMINAL_COLUMNS} FROM terminals WHERE terminal_id = ?",
                           (terminal_id,))
        return Terminal(*row) if row else None

    def key_generations(self, terminal_id: str, kind: str) -> list[KeyGeneration]:
        """Every generation of a terminal's TPK or TAK, the newest first."""
        rows = self._db.all(
            f"SELECT {_GENERATION_COLUMNS} FROM terminal_keys WHERE terminal_id = ? "
            "AND kind = ? ORDER BY generation DESC", (terminal_id, kind))
        return [KeyGeneration(*row) for row in rows]

    def usable_keys(self, terminal_id: str, kind: str, *, grace: float,
                    now: float | None = None) -> list[str]:
        """The terminal's current key of ``kind`` (under the LMK) and the ones retired less
        than ``grace`` seconds ago, the newest first: what an incoming PIN block or MAC may
        be under while a key change is settling."""
        now = time.time() if now is None else now
        rows = self._db.all(
            "SELECT key_lmk FROM terminal_keys WHERE terminal_id = ? AND kind = ? "
            "AND (retired IS NULL OR retired > ?) ORDER BY generation DESC",
            (terminal_id, kind, now - grace))
        return [row[0] for row in rows]

    def change_keys(self, terminal_id: str, new_keys: dict[str, tuple[str, str]],
                    now: float | None = None) -> int:
        """Make ``new_keys`` (kind -> (key under the LMK, KCV)) the terminal's current
        keys, retiring the ones they replace now; returns the new TPK generation."""
        now = time.time() if now is None else now
        generation = 0
        db = self._db
        with db.transaction():
            # The terminal's row locked first: two switches changing one terminal's keys
            # at once take turns (SQLite's write lock does this for the whole file).
            db.all("SELECT terminal_id FROM terminals WHERE terminal_id = ?"
                   + (" FOR UPDATE" if db.dialect == "postgresql" else ""), (terminal_id,))
            for kind, (key_lmk, kcv) in new_keys.items():
                row = db.one("SELECT COALESCE(MAX(generation), 0) FROM terminal_keys "
                             "WHERE terminal_id = ? AND kind = ?", (terminal_id, kind))
                latest = int(row[0]) if row else 0
                generation = max(generation, latest + 1)
                db.run("UPDATE terminal_keys SET retired = ? WHERE terminal_id = ? "
                       "AND kind = ? AND retired IS NULL", (now, terminal_id, kind))
                db.run("INSERT INTO terminal_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                       (terminal_id, kind, latest + 1, key_lmk, kcv, now))
                column = kind.lower()
                db.run(f"UPDATE terminals SET {column}_lmk = ?, {column}_kcv = ? "
                       "WHERE terminal_id = ?", (key_lmk, kcv, terminal_id))
        return generation

    # -- key changes asked for by ``atmsim keys rotate`` (the running switch takes them) --

    def request_key_change(self, terminal_id: str) -> int:
        """Ask the switch(es) sharing this database to push new keys to a terminal; the id."""
        row = self._db.one("INSERT INTO key_change_requests (terminal_id, requested) "
                           "VALUES (?, ?) RETURNING id", (terminal_id, time.time()))
        return int(row[0]) if row else 0

    def take_key_change_request(self, terminals: Collection[str] | None = None, *,
                                now: float | None = None) -> tuple[int, str] | None:
        """The oldest key change nobody took yet, marked taken (one switch gets it).

        With ``terminals`` (the ATMs connected to the asking switch), a request for another
        terminal is left for ``KEY_CHANGE_CLAIM_WAIT`` seconds to the switch that ATM is
        connected to, when several switches share the store; after that any switch takes
        it (and reports the ATM not connected)."""
        now = time.time() if now is None else now
        mine = ", ".join("?" for _ in terminals or ())
        claim = "" if terminals is None else (
            f" AND (terminal_id IN ({mine}) OR requested < ?)" if mine else " AND requested < ?")
        params = [] if terminals is None else [*terminals, now - KEY_CHANGE_CLAIM_WAIT]
        # "done IS NULL" again outside the subquery: a switch that waited for another's
        # update of the same row sees it taken and gets nothing (PostgreSQL re-checks it).
        row = self._db.one(
            "UPDATE key_change_requests SET done = ?, result = 'in progress' WHERE id = "
            f"(SELECT id FROM key_change_requests WHERE done IS NULL{claim} ORDER BY id "
            "LIMIT 1) AND done IS NULL RETURNING id, terminal_id", (now, *params))
        return (int(row[0]), str(row[1])) if row else None

    def finish_key_change_request(self, request_id: int, result: str) -> None:
        self._db.run("UPDATE key_change_requests SET done = ?, result = ? WHERE id = ?",
                     (time.time(), result, request_id))

    def key_change_result(self, request_id: int) -> str | None:
        """What became of a key change request: None while no switch finished it."""
        row = self._db.one("SELECT result FROM key_change_requests WHERE id = ?",
                           (request_id,))
        if row is None or row[0] in (None, "in progress"):
            return None
        return str(row[0])

    def set_terminal_policy(self, terminal_id: str, *, mac: str | None = None,
                            sign_on: str | None = None) -> bool:
        """Change a terminal's MAC and/or sign-on policy; False if it is not on file."""
        if mac is not None and mac not in MacPolicy.ALL:
            raise ValueError(f"MAC policy must be one of {', '.join(MacPolicy.ALL)}")
        if sign_on is not None and sign_on not in SignOnPolicy.ALL:
            raise ValueError(f"sign-on policy must be one of {', '.join(SignOnPolicy.ALL)}")
        return self._db.run(
            "UPDATE terminals SET mac_policy = COALESCE(CAST(? AS TEXT), mac_policy), "
            "sign_on_policy = COALESCE(CAST(? AS TEXT), sign_on_policy) "
            "WHERE terminal_id = ?", (mac, sign_on, terminal_id)) == 1

    def key(self, name: str) -> StoredKey | None:
        row = self._db.one("SELECT name, key_type, key_lmk, kcv FROM keys WHERE name = ?",
                           (name,))
        return StoredKey(*row) if row else None

    # -- the PIN-try counter ----------------------------------------------------------

    def reserve_pin_try(self, pan_hash: str, *, limit: int, expiry: str | None,
                        current_yymm: str, now: float | None = None) -> Card | None:
        """Read a usable card and take one PIN try for it, in one atomic statement.

        Returns the card (its ``pin_in_flight`` includes this try) when it is on file,
        ACTIVE, not expired, ``expiry`` (the one the ATM read, if any) matches, and its
        wrong PINs plus verifications in flight are below ``limit``; otherwise None and
        nothing is changed (:meth:`card_by_hash` then tells why). A reservation left by
        a switch that stopped mid-verification lapses after ``RESERVATION_STALE_AFTER``.
        """
        now = time.time() if now is None else now
        stale = now - RESERVATION_STALE_AFTER
        # One UPDATE: on SQLite the file's write lock, on PostgreSQL the row lock (the
        # WHERE is evaluated again on the row a concurrent reservation just changed).
        row = self._db.one(
            "UPDATE cards SET "
            "pin_in_flight = (CASE WHEN pin_reserved_at < ? THEN 0 ELSE pin_in_flight END)"
            " + 1, pin_reserved_at = ? "
            "WHERE pan_hash = ? AND status = 'ACTIVE' AND expiry >= ? "
            "AND (CAST(? AS TEXT) IS NULL OR expiry = CAST(? AS TEXT)) AND pin_tries + "
            "(CASE WHEN pin_reserved_at < ? THEN 0 ELSE pin_in_flight END) < ? "
            f"RETURNING {_CARD_COLUMNS}",
            (stale, now, pan_hash, current_yymm, expiry, expiry, stale, limit))
        return Card(*row) if row else None

    def record_right_pin(self, pan_hash: str) -> None:
        """The reserved try verified right: it is returned and the wrong-PIN count reset."""
        self._db.run(
            f"UPDATE cards SET pin_in_flight = {_ONE_LESS_IN_FLIGHT}, pin_tries = 0 "
            "WHERE pan_hash = ?", (pan_hash,))

    def record_wrong_pin(self, pan_hash: str, limit: int) -> PinTryOutcome:
        """The reserved try verified wrong: it is kept; the ``limit``-th in a row blocks."""
        row = self._db.one(
            f"UPDATE cards SET pin_in_flight = {_ONE_LESS_IN_FLIGHT}, "
            "pin_tries = pin_tries + 1, "
            "status = CASE WHEN pin_tries + 1 >= ? AND status = 'ACTIVE' THEN 'PIN_BLOCKED' "
            "ELSE status END WHERE pan_hash = ? RETURNING pin_tries, status",
            (limit, pan_hash))
        if row is None:
            return PinTryOutcome(0, False)
        return PinTryOutcome(int(row[0]), row[1] == CardStatus.PIN_BLOCKED)

    def release_pin_try(self, pan_hash: str) -> None:
        """The PIN was not verified (HSM unavailable or failing): the try is given back."""
        self._db.run(f"UPDATE cards SET pin_in_flight = {_ONE_LESS_IN_FLIGHT} "
                     "WHERE pan_hash = ?", (pan_hash,))

    def set_status(self, pan: str, status: str, *, reset_tries: bool = False) -> bool:
        """Administrative change of a card's status (unblocking resets the counter)."""
        sql = "UPDATE cards SET status = ?"
        if reset_tries:
            sql += ", pin_tries = 0, pin_in_flight = 0"
        return self._db.run(sql + " WHERE pan_hash = ?", (status, self.pan_hash(pan))) == 1

    # -- provisioning -----------------------------------------------------------------

    def put_card(self, pan: str, *, expiry: str, holder_name: str, nik: str, kpj: str | None,
                 pin_method: str, pvk_lmk: str, pin_check_length: int | None = None,
                 pin_offset: str | None = None, dec_table: str | None = None,
                 pin_validation_data: str | None = None, pvki: int | None = None,
                 pvv: str | None = None, status: str = CardStatus.ACTIVE) -> None:
        """Issue (or re-issue, replacing) the card with this PAN, its counter at 0."""
        values = {
            **self._pan_columns(pan), "expiry": expiry, "status": status,
            "holder_name": holder_name, "nik": nik, "kpj": kpj, "pin_method": pin_method,
            "pvk_lmk": pvk_lmk, "pin_check_length": pin_check_length, "pin_offset": pin_offset,
            "dec_table": dec_table,
            "pin_validation_data": _validation_template(pin_validation_data, pan),
            "pvki": pvki, "pvv": pvv, "pin_tries": 0, "pin_in_flight": 0, "pin_reserved_at": 0.0,
        }
        self._db.run(_upsert("cards", list(values), "pan_hash"), tuple(values.values()))

    def put_terminals(self, terminals: list[Terminal]) -> None:
        """Install (or re-install) terminals; their keys on file become generation 1."""
        columns = [f.name for f in fields(Terminal)]
        now = time.time()
        db = self._db
        with db.transaction():
            db.many(_upsert("terminals", columns, "terminal_id"),
                    [tuple(getattr(t, c) for c in columns) for t in terminals])
            db.many("DELETE FROM terminal_keys WHERE terminal_id = ?",
                    [(t.terminal_id,) for t in terminals])
            generations: list[tuple[str, str, str, str | None, float]] = [
                (t.terminal_id, TPK, t.tpk_lmk, t.tpk_kcv, now) for t in terminals]
            generations += [(t.terminal_id, TAK, t.tak_lmk, t.tak_kcv, now) for t in terminals
                            if t.tak_lmk is not None]
            db.many("INSERT INTO terminal_keys VALUES (?, ?, 1, ?, ?, ?, NULL)", generations)

    def put_key(self, name: str, key_type: str, key_lmk: str, kcv: str, *,
                replace: bool = True) -> None:
        """Store a key under the LMK; ``replace=False`` keeps a key of that name already there
        (two processes creating the same key: the first one wins, both then use it)."""
        columns = ["name", "key_type", "key_lmk", "kcv"]
        sql = (_upsert("keys", columns, "name") if replace else
               "INSERT INTO keys VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
        self._db.run(sql, (name, key_type, key_lmk, kcv))


_TERMINAL_COLUMNS = ", ".join(f.name for f in fields(Terminal))
_GENERATION_COLUMNS = ", ".join(f.name for f in fields(KeyGeneration))
# A reservation ends: one verification fewer in flight, never below 0 (portable SQL, no
# two-argument MAX).
_ONE_LESS_IN_FLIGHT = "CASE WHEN pin_in_flight > 0 THEN pin_in_flight - 1 ELSE 0 END"


def _upsert(table: str, columns: list[str], key: str) -> str:
    """An INSERT that replaces the row with the same ``key`` (SQLite and PostgreSQL alike).

    >>> _upsert("keys", ["name", "kcv"], "name")
    'INSERT INTO keys (name, kcv) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET kcv = excluded.kcv'
    """
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}")


def _column_order(db: CardDb, table: str) -> list[str]:
    """A SQLite table's columns in their declared order (for the schema-1 migration)."""
    return [row[1] for row in db.all(f"PRAGMA table_info({table})")]


def _validation_template(validation_data: str | None, pan: str) -> str | None:
    """Validation data with the leading PAN digits it repeats replaced by ``PAN_DIGIT``.

    >>> _validation_template("52642200001N", "5264220000100010")
    'PPPPPPPPPPPN'
    >>> _validation_template("0123456789AB", "5264220000100010")  # not from the PAN
    '0123456789AB'
    """
    if validation_data is None:
        return None
    shared = 0
    while (shared < len(validation_data) and shared < len(pan)
           and validation_data[shared] == pan[shared]):
        shared += 1
    return PAN_DIGIT * shared + validation_data[shared:]
