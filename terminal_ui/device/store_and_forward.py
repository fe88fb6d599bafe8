"""Store and forward: the reversals an ATM still owes its switch, kept on disk until a 0430.

When an 0210 does not come back in time, the ATM cannot know whether the switch answered
(and charged a fee): it owes the switch an 0420. That reversal goes into this queue first
and leaves it only when an 0430 answers it, so it survives a lost link and a restart:

* in order: per terminal, only the oldest reversal is sent; the next waits for its 0430;
* the first attempt is the 0420, every later one its repeat 0421 (the same message: an
  attempt that got no answer may still have reached the switch);
* retried with backoff: ``backoff(n)`` seconds after the n-th attempt (2, 4, 8 ... up to
  60 s), whether the link was down or the switch did not answer;
* done on a 0430 with 00 (reversed, now or before) or 25 (the switch never had the
  original: nothing to reverse), and also on any other final code except 91/96 (the
  switch is busy or failing: try again later). Every outcome is logged.

The queue is a SQLite file under the data directory, one per switch address
(``saf/reversals-HOST-PORT.db``). Field 2 is
stored encrypted (AES-GCM under ``saf/saf.key``, made on first use, readable by the owner
only) with the masked PAN beside it, as the PAN is never kept in clear at rest.

Used by the Textual ATM and by ``atmsim load``; it imports no Textual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atmsim.kernel.masking import mask_pan
from atmsim.kernel.sqlite_files import open_wal
from atmsim.kernel.wire import IsoMessage
from terminal_ui.device.host_link import HostTimeout, HostUnavailable
from terminal_ui.device.transactions import repeat_of

__all__ = ["SafQueue", "SafItem", "backoff", "wire_message", "is_final", "forward_reversals",
           "saf_path", "BACKOFF_BASE", "BACKOFF_CAP"]

log = logging.getLogger("atmsim.atm")

BACKOFF_BASE = 2.0  # seconds after the first attempt
BACKOFF_CAP = 60.0  # the longest wait between two attempts
_RETRY_CODES = ("91", "96")  # a 0430 that says "not now": the reversal stays queued

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reversals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order they are sent in
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    message TEXT NOT NULL,                  -- the 0420 as JSON, without field 2
    pan_encrypted TEXT NOT NULL,            -- field 2: nonce|ciphertext|tag (hex)
    pan_masked TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,                  -- Unix time of the next attempt
    created_at REAL NOT NULL
);
"""


def saf_path(data_dir: Path, host: str, port: int) -> Path:
    """The queue of the reversals owed to the switch at ``host``:``port``: a reversal is
    only ever sent to the switch that got (or missed) its original.

    >>> saf_path(Path("/data"), "127.0.0.1", 8583).as_posix()
    '/data/saf/reversals-127.0.0.1-8583.db'
    """
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return data_dir / "saf" / f"reversals-{safe_host}-{port}.db"


def backoff(attempts: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the ``attempts``-th attempt before the next.

    >>> [backoff(n) for n in (1, 2, 3, 6, 7)]
    [2.0, 4.0, 8.0, 60.0, 60.0]
    """
    return float(min(base * 2 ** (max(attempts, 1) - 1), cap))


def is_final(response: IsoMessage) -> bool:
    """Whether a 0430 ends a reversal's stay in the queue.

    >>> is_final({"t": "0430", "39": "00"}), is_final({"t": "0430", "39": "25"})
    (True, True)
    >>> is_final({"t": "0430", "39": "91"})
    False
    """
    return response.get("39", "") not in _RETRY_CODES


@dataclass(frozen=True)
class SafItem:
    seq: int
    terminal_id: str
    reversal: IsoMessage  # the 0420, field 2 included (in memory only)
    attempts: int
    next_at: float

    def __repr__(self) -> str:
        return (f"<SafItem {self.terminal_id} STAN {self.reversal.get('11')} "
                f"{mask_pan(self.reversal.get('2', ''))} attempts={self.attempts}>")


def wire_message(item: SafItem) -> IsoMessage:
    """What goes on the wire for ``item``: its 0420 the first time, the 0421 after."""
    return item.reversal if item.attempts == 0 else repeat_of(item.reversal)


class SafQueue:
    """``SafQueue(path)`` opens (and creates) the queue; ``close()`` releases the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._aead = AESGCM(_pan_key(path.parent / "saf.key"))
        self._db = open_wal(path, _SCHEMA, durable=True)
        self._sending: dict[str, asyncio.Lock] = {}

    def close(self) -> None:
        self._db.close()

    def sending(self, terminal_id: str) -> asyncio.Lock:
        """Held while a terminal's reversals are sent: two senders would send its head twice."""
        return self._sending.setdefault(terminal_id, asyncio.Lock())

    def add(self, reversal: IsoMessage, now: float | None = None) -> None:
        """Queue ``reversal`` (an 0420) behind those of its terminal; due at once."""
        at = time.time() if now is None else now
        pan = reversal.get("2", "")
        nonce = os.urandom(12)
        encrypted = (nonce + self._aead.encrypt(nonce, pan.encode("ascii"), None)).hex()
        rest = {k: v for k, v in reversal.items() if k != "2"}
        self._db.execute(
            "INSERT INTO reversals (terminal_id, stan, message, pan_encrypted, pan_masked, "
            "next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (reversal.get("41", ""), reversal.get("11", ""), json.dumps(rest), encrypted,
             mask_pan(pan), at, at))
        log.info("reversal of STAN %s (%s) queued for terminal %s",
                 _original_stan(reversal), mask_pan(pan), reversal.get("41"))

    def head(self, terminal_id: str) -> SafItem | None:
        """The oldest reversal of ``terminal_id``, due or not."""
        row = self._db.execute(
            "SELECT seq, terminal_id, message, pan_encrypted, attempts, next_at FROM reversals "
            "WHERE terminal_id = ? ORDER BY seq LIMIT 1", (terminal_id,)).fetchone()
        if row is None:
            return None
        seq, terminal, message, encrypted, attempts, next_at = row
        raw = bytes.fromhex(encrypted)
        pan = self._aead.decrypt(raw[:12], raw[12:], None).decode("ascii")
        reversal = {"t": "0420", "2": pan, **json.loads(message)}
        ordered = dict(sorted(reversal.items(), key=lambda kv: -1 if kv[0] == "t" else int(kv[0])))
        return SafItem(seq, terminal, ordered, attempts, next_at)

    def pending(self, terminal_id: str | None = None) -> int:
        return int(self._db.execute(
            "SELECT COUNT(*) FROM reversals WHERE ? IS NULL OR terminal_id = ?",
            (terminal_id, terminal_id)).fetchone()[0])

    def attempting(self, item: SafItem, now: float | None = None) -> None:
        """Count an attempt before it is sent: a restart in the middle sends the 0421."""
        at = time.time() if now is None else now
        self._db.execute("UPDATE reversals SET attempts = attempts + 1, next_at = ? WHERE seq = ?",
                         (at + backoff(item.attempts + 1), item.seq))

    def done(self, item: SafItem) -> None:
        self._db.execute("DELETE FROM reversals WHERE seq = ?", (item.seq,))


def _pan_key(path: Path) -> bytes:
    """The queue's PAN key: read, or made (owner-only) on first use."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = AESGCM.generate_key(bit_length=256)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use that one
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(key)
    return key


def _original_stan(reversal: IsoMessage) -> str:
    return reversal.get("90", "")[4:10] or "?"


class ReversalLink(Protocol):
    """What sends reversals: one connection (``AtmHostLink``) or the ATM's client."""

    terminal_id: str

    @property
    def connected(self) -> bool: ...

    def exchange(self, request: IsoMessage,
                 timeout: float | None = None) -> Awaitable[IsoMessage]: ...


async def forward_reversals(link: ReversalLink, queue: SafQueue, *,
                            timeout: float | None = None, due_only: bool = True,
                            clock: Callable[[], float] = time.time) -> int:
    """Send ``link``'s terminal's due reversals in order until one is not answered; the
    number answered for good. ``due_only=False`` sends the first at once, backoff or not
    (an ATM that starts again). Never raises for the link or the switch."""
    answered = 0
    async with queue.sending(link.terminal_id):
        while True:
            item = queue.head(link.terminal_id)
            if item is None or not link.connected or (due_only and item.next_at > clock()):
                return answered
            due_only = True  # only the first may jump its backoff
            message = wire_message(item)
            queue.attempting(item, clock())
            try:
                response = await link.exchange(message, timeout)
            except (HostTimeout, HostUnavailable) as exc:
                log.warning("reversal %s of STAN %s not answered (%s); next attempt in %.0fs",
                            message["t"], _original_stan(message), exc,
                            backoff(item.attempts + 1))
                return answered
            code = response.get("39", "")
            if not is_final(response):
                log.warning("reversal of STAN %s answered %s; kept to try again",
                            _original_stan(message), code)
                return answered
            queue.done(item)
            answered += 1
            log.info("reversal %s of STAN %s answered %s", message["t"],
                     _original_stan(message), code)
