"""The switch's transaction journal: every answered 0200 and every reversal, with its fee.

A reversal (0420/0421) names its original by field 90 (MTI, STAN, field 7, acquirer) and
comes from the same terminal (41) for the same card (2); the journal finds that original
here. It is its own SQLite file, ``switch-journal.db`` in the data directory, not a table
of the card database: it grows with every inquiry and is pruned by age
(``switch.journal_days``), which the card and key data never are, and it is safe to
delete (only reversals of the inquiries it held then answer 25).

An inquiry is keyed by terminal, STAN, transmission time and PAN (the PAN as the card
store's HMAC, never in clear; the masked PAN for display). Marking it reversed is one
atomic ``UPDATE ... WHERE reversed_at IS NULL``: however many 0420s and 0421s race for
one original, one of them reverses it (and refunds its fee) and the others find it
already reversed.

``InquiriesInFlight`` covers the race in one process: a reversal that arrives while its
0200 is still being answered waits for that answer before it looks the original up. A
reversal that arrives before its 0200 at all is answered 25 and remembered: when that 0200
comes late after all, it is journaled as reversed and charged no fee (the ATM has told its
customer the transaction was cancelled).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from atmsim.kernel.sqlite_files import open_wal

__all__ = ["InquiryKey", "JournalEntry", "ReversalOutcome", "TransactionJournal", "JournalError",
           "InquiriesInFlight", "DEFAULT_RETENTION_DAYS", "journal_path"]

log = logging.getLogger("atmsim.switch")

DEFAULT_RETENTION_DAYS = 7.0
_PRUNE_EVERY = 1000  # inquiries recorded between two prunes
# Inquiries are written in groups: one commit per inquiry cost ~160 us, as much as a third
# of what a whole inquiry costs the switch; a group of 100 costs ~18 us an inquiry. A group
# is written when it is full or this many seconds after its first inquiry, and before any
# read of the inquiries (a reversal, ``atmsim journal`` in this process, closing).
_GROUP_SIZE = 100
_GROUP_DELAY = 0.02
_INSERT_INQUIRY = (
    "INSERT OR IGNORE INTO inquiries (terminal_id, stan, transmission_time, pan_hash, "
    "acquirer_id, mti, pan_masked, rrn, response_code, fee_sen, answered_at, "
    "reversed_at, reversal_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

_INQUIRIES_TABLE = """
CREATE TABLE IF NOT EXISTS inquiries (
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    transmission_time TEXT NOT NULL,      -- field 7 of the 0200
    pan_hash TEXT NOT NULL,               -- HMAC of the PAN (the card store's lookup key)
    acquirer_id TEXT NOT NULL,            -- field 32, zero-padded to 11 as in field 90
    mti TEXT NOT NULL,
    pan_masked TEXT NOT NULL,
    rrn TEXT NOT NULL,
    response_code TEXT NOT NULL,
    fee_sen INTEGER NOT NULL,             -- the inquiry fee charged (0 unless approved)
    answered_at REAL NOT NULL,            -- Unix time
    reversed_at REAL,                     -- set once, by the first reversal that finds it
    reversal_reason TEXT,
    -- Field 7 first: it grows with time, so a group of new inquiries lands in the last
    -- pages of the key's B-tree instead of one page per terminal (each page touched is
    -- written whole to the WAL): 18 -> 9 us an inquiry. Older files are rebuilt so on open.
    PRIMARY KEY (transmission_time, terminal_id, stan, pan_hash)
)"""
_INQUIRIES_INDEX = "CREATE INDEX IF NOT EXISTS inquiries_answered_at ON inquiries (answered_at)"
_SCHEMA = f"""
{_INQUIRIES_TABLE};
{_INQUIRIES_INDEX};
CREATE TABLE IF NOT EXISTS reversals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    mti TEXT NOT NULL,                    -- 0420 or 0421
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,                   -- the reversal's own field 11
    original_stan TEXT NOT NULL,
    original_time TEXT NOT NULL,
    original_mti TEXT NOT NULL,
    original_acquirer_id TEXT NOT NULL,   -- zero-padded to 11
    pan_hash TEXT NOT NULL,
    pan_masked TEXT NOT NULL,
    reason TEXT NOT NULL,                 -- the 0420's field 39
    response_code TEXT NOT NULL,          -- the 0430's field 39
    outcome TEXT NOT NULL,                -- reversed | already reversed | unknown original
    fee_refunded_sen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reversals_received_at ON reversals (received_at);
CREATE INDEX IF NOT EXISTS reversals_original ON reversals
    (terminal_id, original_stan, original_time, pan_hash);
"""


_KEY = ("transmission_time", "terminal_id", "stan", "pan_hash")


def _key_columns(db: sqlite3.Connection) -> tuple[str, ...]:
    for row in db.execute("PRAGMA index_list(inquiries)").fetchall():
        if row[3] == "pk":  # origin: the PRIMARY KEY's index
            return tuple(r[2] for r in db.execute(f"PRAGMA index_info('{row[1]}')"))
    return ()


def _rekey_inquiries(db: sqlite3.Connection, path: Path) -> None:
    """A journal made before the key led with field 7 is rebuilt in that order, once, in
    one transaction (another switch opening the file meanwhile waits, then finds it done)."""
    if _key_columns(db) == _KEY:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if _key_columns(db) != _KEY:
            db.execute("ALTER TABLE inquiries RENAME TO inquiries_old_key")
            db.execute("DROP INDEX IF EXISTS inquiries_answered_at")
            db.execute(_INQUIRIES_TABLE)
            db.execute(_INQUIRIES_INDEX)
            columns = ", ".join(r[1] for r in db.execute("PRAGMA table_info(inquiries)"))
            copied = db.execute(f"INSERT INTO inquiries ({columns}) SELECT {columns} "
                                "FROM inquiries_old_key").rowcount
            db.execute("DROP TABLE inquiries_old_key")
            log.info("transaction journal %s: %d inquiries rebuilt in field-7 key order",
                     path, copied)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def journal_path(data_dir: Path) -> Path:
    return data_dir / "switch-journal.db"


@dataclass(frozen=True)
class InquiryKey:
    """Which 0200 an entry is: terminal (41), STAN (11), field 7 and the PAN's hash."""

    terminal_id: str
    stan: str
    transmission_time: str
    pan_hash: str


@dataclass(frozen=True)
class ReversalOutcome:
    found: bool
    reversed_now: bool  # False for a repeat: the original was reversed before
    fee_refunded_sen: int

    @property
    def describe(self) -> str:
        if not self.found:
            return "unknown original"
        return "reversed" if self.reversed_now else "already reversed"


@dataclass(frozen=True)
class JournalEntry:
    """One line of ``atmsim journal``."""

    at: float
    kind: str  # "inquiry" or the reversal's MTI
    terminal_id: str
    stan: str
    pan_masked: str
    response_code: str
    fee: str  # what happened to the fee, e.g. "charged 250000", "refunded 250000", "-"
    note: str


class JournalError(Exception):
    """The journal file cannot be opened (locked past the busy timeout, unreadable)."""


class TransactionJournal:
    """``TransactionJournal(path, retention_days)`` opens (and creates) the journal."""

    def __init__(self, path: Path, retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        self.path = path
        self.retention_s = retention_days * 86400
        self._since_prune = 0
        self._unwritten: list[tuple[object, ...]] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self.closed = False
        db: sqlite3.Connection | None = None
        try:
            self._db = db = open_wal(path, _SCHEMA)
            _rekey_inquiries(db, path)
            self.prune()
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            why = "; another process holds its write lock" if "locked" in str(exc) else ""
            raise JournalError(f"transaction journal {path}: {exc}{why}") from None

    def close(self) -> None:
        # Answers still being worked on when the switch stops (it waits for them only so
        # long) find the journal closed: they are answered, just not journaled.
        if self.closed:
            return
        self.flush()
        self.closed = True
        self._db.close()

    def flush(self) -> None:
        """Write the inquiries recorded since the last group, in one transaction."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        rows, self._unwritten = self._unwritten, []
        if not rows or self.closed:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_INSERT_INQUIRY, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._since_prune += len(rows)
        if self._since_prune >= _PRUNE_EVERY:
            self.prune()

    def record_inquiry(self, key: InquiryKey, *, mti: str, acquirer_id: str, pan_masked: str,
                       rrn: str, response_code: str, fee_sen: int,
                       reversed_by: str | None = None, now: float | None = None) -> None:
        """An answered 0200. The first answer to a key stands (a duplicate's 94 does not
        replace it). ``reversed_by``: the reason of a reversal that came before it."""
        if self.closed:
            return
        at = time.time() if now is None else now
        self._unwritten.append((
            key.terminal_id, key.stan, key.transmission_time, key.pan_hash,
            f"{acquirer_id:0>11}", mti, pan_masked, rrn, response_code, fee_sen, at,
            at if reversed_by is not None else None, reversed_by))
        if len(self._unwritten) >= _GROUP_SIZE:
            self.flush()
        elif self._flush_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a tool, a test): at once
                self.flush()
                return
            self._flush_timer = loop.call_later(_GROUP_DELAY, self._flush_in_background)

    def _flush_in_background(self) -> None:
        self._flush_timer = None
        try:
            self.flush()
        except sqlite3.Error as exc:  # the answers went out; only their journal lines fail
            log.warning("transaction journal %s: inquiries not written: %s", self.path, exc)

    def reverse(self, key: InquiryKey, *, mti: str, acquirer_id: str, reason: str,
                now: float | None = None) -> ReversalOutcome:
        """Mark the original ``key`` (of MTI ``mti`` from acquirer ``acquirer_id``, both as
        field 90 gives them) reversed, once."""
        self.flush()
        at = time.time() if now is None else now
        where = ("terminal_id = ? AND stan = ? AND transmission_time = ? AND pan_hash = ? "
                 "AND mti = ? AND acquirer_id = ?")
        args = (key.terminal_id, key.stan, key.transmission_time, key.pan_hash, mti,
                f"{acquirer_id:0>11}")
        row = self._db.execute(
            f"UPDATE inquiries SET reversed_at = ?, reversal_reason = ? "
            f"WHERE {where} AND reversed_at IS NULL RETURNING fee_sen",
            (at, reason, *args)).fetchone()
        if row is not None:
            return ReversalOutcome(True, True, int(row[0]))
        known = self._db.execute(f"SELECT 1 FROM inquiries WHERE {where}", args).fetchone()
        return ReversalOutcome(known is not None, False, 0)

    def record_reversal(self, original: InquiryKey, *, mti: str, stan: str, original_mti: str,
                        original_acquirer_id: str, pan_masked: str, reason: str,
                        response_code: str, outcome: str, fee_refunded_sen: int,
                        now: float | None = None) -> None:
        """A reversal (``mti``, its own ``stan``) of ``original`` and what became of it."""
        if self.closed:
            return
        self._db.execute(
            "INSERT INTO reversals (received_at, mti, terminal_id, stan, original_stan, "
            "original_time, original_mti, original_acquirer_id, pan_hash, pan_masked, reason, "
            "response_code, outcome, fee_refunded_sen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time() if now is None else now, mti, original.terminal_id, stan,
             original.stan, original.transmission_time, original_mti,
             f"{original_acquirer_id:0>11}", original.pan_hash, pan_masked, reason,
             response_code, outcome, fee_refunded_sen))

    def reversed_before(self, key: InquiryKey, *, mti: str, acquirer_id: str) -> str | None:
        """The reason of a reversal that came before the 0200 ``key`` itself (answered 25
        then), or None: a late original is journaled reversed and charged no fee."""
        # Asked of every 0200, yet not answered from memory: switches on one machine may
        # share the journal, so a kept answer would need SQLite's PRAGMA data_version per
        # inquiry, which costs what this indexed SELECT costs (one read transaction each,
        # ~3.5 us, measured with 10,000 reversals on file as with none).
        row = self._db.execute(
            "SELECT reason FROM reversals WHERE terminal_id = ? AND original_stan = ? "
            "AND original_time = ? AND pan_hash = ? AND original_mti = ? "
            "AND original_acquirer_id = ? ORDER BY id LIMIT 1",
            (key.terminal_id, key.stan, key.transmission_time, key.pan_hash, mti,
             f"{acquirer_id:0>11}")).fetchone()
        return None if row is None else str(row[0])

    def prune(self, now: float | None = None) -> int:
        """Forget what is older than the retention; the number of rows removed."""
        self._since_prune = 0
        if self.closed:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention_s
        removed = self._db.execute("DELETE FROM inquiries WHERE answered_at < ?",
                                   (cutoff,)).rowcount
        removed += self._db.execute("DELETE FROM reversals WHERE received_at < ?",
                                    (cutoff,)).rowcount
        return int(removed)

    def entries(self, *, limit: int = 50, terminal_id: str | None = None) -> Iterator[JournalEntry]:
        """The latest ``limit`` inquiries and reversals, newest last."""
        self.flush()
        rows = self._db.execute(
            "SELECT * FROM ("
            " SELECT answered_at AS at, 'inquiry' AS kind, terminal_id, stan, pan_masked,"
            "  response_code, fee_sen, reversed_at IS NOT NULL AS reversed, reversal_reason,"
            "  '' AS outcome, '' AS original_stan FROM inquiries"
            "  WHERE (? IS NULL OR terminal_id = ?)"
            " UNION ALL"
            " SELECT received_at, mti, terminal_id, stan, pan_masked, response_code,"
            "  fee_refunded_sen, 0, reason, outcome, original_stan FROM reversals"
            "  WHERE (? IS NULL OR terminal_id = ?)"
            " ORDER BY at DESC LIMIT ?) ORDER BY at",
            (terminal_id, terminal_id, terminal_id, terminal_id, limit)).fetchall()
        for (at, kind, terminal, stan, pan, code, fee, reversed_, reason, outcome,
             original_stan) in rows:
            if kind == "inquiry":
                fee_text = f"charged {fee}" if fee else "-"
                if reversed_:
                    fee_text = f"reversed {fee}" if fee else "-"
                note = f"reversed (reason {reason})" if reversed_ else ""
                if reversed_ and not fee:
                    fee_text = "-"
            else:
                fee_text = f"refunded {fee}" if fee else "-"
                note = f"{outcome}: original STAN {original_stan} (reason {reason})"
            yield JournalEntry(at, kind, terminal, stan, pan, code, fee_text, note)


class InquiriesInFlight:
    """The 0200s being answered now, so that a reversal can wait for its original."""

    def __init__(self) -> None:
        self._answering: dict[InquiryKey, asyncio.Event] = {}

    def begin(self, key: InquiryKey) -> asyncio.Event | None:
        """Register ``key``; the event to set when it is answered, or None when the same
        key is already being answered (a duplicate: the first answer is the one that counts)."""
        if key in self._answering:
            return None
        done = self._answering[key] = asyncio.Event()
        return done

    def end(self, key: InquiryKey, done: asyncio.Event) -> None:
        if self._answering.get(key) is done:
            del self._answering[key]
        done.set()

    async def wait_for(self, key: InquiryKey, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for ``key`` if it is being answered; False when it
        was still not answered by then."""
        done = self._answering.get(key)
        if done is None:
            return True
        try:
            async with asyncio.timeout(timeout):
                await done.wait()
        except TimeoutError:
            return False
        return True
