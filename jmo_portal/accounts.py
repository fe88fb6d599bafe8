"""The portal's accounts, e-mail verifications and sessions, in a SQLite file of its own.

An account is made only for a participant the ledger has confirmed (NIK, KPJ, name, birth
date, segment), one per KPJ and one per e-mail address. Passwords are kept as Argon2id
hashes (argon2-cffi, with the OWASP minimum parameters: 19 MiB, 2 passes), never in clear.

Logging in: ``max_failed`` wrong passwords in a row lock the account for ``lockout``; while
it is locked even the right password is refused, and the count starts again after a
successful login. An unknown login name costs the same Argon2 work as a wrong password, and
gets the same answer, so the form does not tell who has an account.

Sessions live on the server: the browser holds only a random token (its SHA-256 is what
the file keeps), so logging out ends a session for good and a copied cookie dies with it.
A session ends after ``idle`` without a request, and after ``SESSION_MAX_AGE`` in any case.
Every session has its own CSRF token for the forms it posts. E-mail verification tokens
are random, single-use and expire after ``EMAIL_TOKEN_AGE``.

All methods are blocking (sqlite3) and thread-safe; the web app calls them in a thread.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jmo_portal.forms import Registration

__all__ = ["Account", "AccountStore", "LoginOutcome", "LoginResult", "Session",
           "EMAIL_TOKEN_AGE", "SESSION_MAX_AGE"]

SESSION_MAX_AGE = timedelta(hours=8)
EMAIL_TOKEN_AGE = timedelta(hours=24)
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    kpj TEXT NOT NULL UNIQUE CHECK (length(kpj) = 11),
    nik TEXT NOT NULL CHECK (length(nik) = 16),
    name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    segment TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    email_verified_at TEXT,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS email_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Account:
    """A portal account: who it is in the ledger and whether its e-mail is verified."""

    id: int
    kpj: str
    nik: str
    name: str
    segment: str
    email: str
    verified: bool


@dataclass(frozen=True)
class Session:
    """A live session: its account and the CSRF token its forms must carry."""

    account: Account
    csrf: str


class LoginResult(StrEnum):
    OK = "OK"
    WRONG = "WRONG"  # unknown login name or wrong password: one answer for both
    LOCKED = "LOCKED"
    UNVERIFIED = "UNVERIFIED"  # the right password, but the e-mail is not verified yet


@dataclass(frozen=True)
class LoginOutcome:
    result: LoginResult
    token: str | None = None  # the new session's cookie value, on OK
    locked_until: datetime | None = None  # on LOCKED
    tries_left: int | None = None  # on WRONG for a known account


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class AccountStore:
    """``with AccountStore(path) as accounts: ...``; ``clock`` is for tests."""

    def __init__(self, path: Path, *, max_failed: int = 5,
                 lockout: timedelta = timedelta(minutes=15),
                 idle: timedelta = timedelta(minutes=15), clock=_now) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_failed = max_failed
        self.lockout = lockout
        self.idle = idle
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        # a dummy hash: an unknown login name costs the same work as a wrong password
        self._dummy = _HASHER.hash(secrets.token_urlsafe(16))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- registration and e-mail verification ------------------------------------------

    def taken(self, kpj: str, email: str) -> str | None:
        """Which of ``kpj`` / ``email`` already has an account ("kpj", "email"), or None."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM accounts WHERE kpj = ?", (kpj,)).fetchone():
                return "kpj"
            if self._db.execute("SELECT 1 FROM accounts WHERE email = ?",
                                (email.lower(),)).fetchone():
                return "email"
        return None

    def register(self, registration: Registration, confirmed_name: str) -> str | None:
        """Make the account of a participant the ledger confirmed (``confirmed_name``: the
        name as the ledger holds it) and return its e-mail verification token; None when
        the KPJ or the e-mail address has an account already (a race with another form)."""
        password_hash = _HASHER.hash(registration.password)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                cursor = self._db.execute(
                    "INSERT INTO accounts (kpj, nik, name, birth_date, segment, email, "
                    "password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (registration.kpj, registration.nik, confirmed_name,
                     registration.birth_date.isoformat(), registration.segment,
                     registration.email.lower(), password_hash, now.isoformat()))
                self._db.execute(
                    "INSERT INTO email_tokens (token_hash, account_id, expires_at) "
                    "VALUES (?, ?, ?)",
                    (_hash(token), cursor.lastrowid, (now + EMAIL_TOKEN_AGE).isoformat()))
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                return None
        return token

    def verify_email(self, token: str) -> Account | None:
        """Spend a verification token: the account it verified, or None (unknown, used or
        expired)."""
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "SELECT account_id, expires_at, used_at FROM email_tokens WHERE token_hash = ?",
                (_hash(token),)).fetchone()
            if row is None or row[2] is not None or datetime.fromisoformat(row[1]) < now:
                return None
            self._db.execute("UPDATE email_tokens SET used_at = ? WHERE token_hash = ?",
                             (now.isoformat(), _hash(token)))
            self._db.execute("UPDATE accounts SET email_verified_at = ? WHERE id = ? "
                             "AND email_verified_at IS NULL", (now.isoformat(), row[0]))
            return self._account_by_id(row[0])

    # -- logging in and out --------------------------------------------------------------

    def login(self, login: str, password: str) -> LoginOutcome:
        """Check a login (e-mail address or KPJ) and password; on OK a new session.

        A try is taken from the account *before* the password is checked (one atomic
        UPDATE), so a burst of concurrent guesses gets ``max_failed`` checks in all, never
        more; a guess that finds every try held by checks still running is answered
        LOCKED without a date (try again shortly), and checks nothing.
        """
        login = login.strip().lower()
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "SELECT id, password_hash, locked_until FROM accounts "
                "WHERE email = ? OR kpj = ?", (login, login)).fetchone()
            if row is not None:
                account_id, password_hash, locked_until = row
                if locked_until is not None and datetime.fromisoformat(locked_until) > now:
                    return LoginOutcome(LoginResult.LOCKED,
                                        locked_until=datetime.fromisoformat(locked_until))
                taken = self._db.execute(
                    "UPDATE accounts SET failed_logins = failed_logins + 1, "
                    "locked_until = NULL WHERE id = ? AND failed_logins < ? "
                    "RETURNING failed_logins", (account_id, self.max_failed)).fetchone()
                if taken is None:
                    return LoginOutcome(LoginResult.LOCKED)
                tries_used = int(taken[0])
        if row is None:
            self._check(self._dummy, password)
            return LoginOutcome(LoginResult.WRONG)
        if not self._check(password_hash, password):
            if tries_used >= self.max_failed:
                until = now + self.lockout
                with self._lock:
                    self._db.execute("UPDATE accounts SET failed_logins = 0, locked_until = ? "
                                     "WHERE id = ?", (until.isoformat(), account_id))
                return LoginOutcome(LoginResult.LOCKED, locked_until=until)
            return LoginOutcome(LoginResult.WRONG, tries_left=self.max_failed - tries_used)
        with self._lock:
            self._db.execute("UPDATE accounts SET failed_logins = 0, locked_until = NULL "
                             "WHERE id = ?", (account_id,))
            verified = self._db.execute("SELECT email_verified_at FROM accounts WHERE id = ?",
                                        (account_id,)).fetchone()[0]
            if verified is None:
                return LoginOutcome(LoginResult.UNVERIFIED)
            token = secrets.token_urlsafe(32)
            self._db.execute(
                "INSERT INTO sessions (token_hash, account_id, csrf, created_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?)", (_hash(token), account_id, secrets.token_urlsafe(24),
                                           now.isoformat(), now.isoformat()))
        return LoginOutcome(LoginResult.OK, token=token)

    def session(self, token: str) -> Session | None:
        """The live session of a cookie value (its idle clock restarted), or None."""
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "SELECT account_id, csrf, created_at, last_seen FROM sessions "
                "WHERE token_hash = ?", (_hash(token),)).fetchone()
            if row is None:
                return None
            account_id, csrf, created_at, last_seen = row
            if (datetime.fromisoformat(last_seen) + self.idle < now
                    or datetime.fromisoformat(created_at) + SESSION_MAX_AGE < now):
                self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))
                return None
            self._db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                             (now.isoformat(), _hash(token)))
            account = self._account_by_id(account_id)
        return None if account is None else Session(account, csrf)

    def logout(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))

    # -- inside ---------------------------------------------------------------------------

    def _account_by_id(self, account_id: int) -> Account | None:
        row = self._db.execute(
            "SELECT id, kpj, nik, name, segment, email, email_verified_at FROM accounts "
            "WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            return None
        return Account(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6] is not None)

    @staticmethod
    def _check(password_hash: str, password: str) -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
