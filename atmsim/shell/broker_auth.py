"""Who may do what on the embedded broker: one MQTT account per component, and the topic
rules each account gets (docs/security.md "The MQTT bus").

The accounts live in ``<data dir>/broker/credentials.json`` (mode 0600, created on the
first start, reused after; a password is never logged). From it this module writes what
each broker needs: for Mosquitto a ``password_file`` (PBKDF2-SHA512 ``$7$`` hashes, the
format ``mosquitto_passwd`` writes) and an ``acl_file``; for nats-server the ``users`` of its
configuration (bcrypt hashes, publish / subscribe permissions on the NATS subjects its MQTT
listener maps the topics to); for amqtt the argon2 password file and the topic lists of its
``topic_acl`` plugin.

Roles, and what each may do (besides reading its own reply prefix
``atmsim/v1/reply/<username>/#``, which every account may):

- ``ledger``  reads the ledger's request topics ``bpjs/jht/v1/#`` and writes replies
  ``atmsim/v1/reply/#``;
- ``switch``  writes balance requests and the transaction events ``atmsim/v1/events/#``;
- ``channel`` writes balance and statement requests (a front end of that kind);
- ``chatbot`` writes the member-service requests (membership, BSU, complaints) and its
  conversation events ``atmsim/v1/events/whatsapp``: the WhatsApp bot, which answers no
  balances and so may not ask for one;
- ``sms``     writes the SMS 2757 requests ``bpjs/jht/v1/sms/req`` (registration, balance
  and KPJ questions of a phone number) and its events ``atmsim/v1/events/#``;
- ``portal``  writes balance, statement, membership-check and contribution-history requests
  and its events (the JMO/SSO web portal);
- ``employer`` writes contribution posts;
- ``monitor`` reads the events, nothing else.

Another front end gets its own account by adding ``"portal": {"role": "channel"}`` to the
file's ``accounts``; the next broker start gives it a password and its rules.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Account", "CredentialsError", "DEFAULT_ACCOUNTS", "ROLES", "REPLY_PREFIX",
           "amqtt_acls", "credentials_path", "ensure_credentials", "load_credentials",
           "mosquitto_acl", "mosquitto_password_line", "nats_subjects", "nats_users",
           "read_listener", "write_listener", "write_private", "forget_listener"]

REPLY_PREFIX = "atmsim/v1/reply/"
EVENTS = "atmsim/v1/events/#"
BALANCE, STATEMENT = "bpjs/jht/v1/balance/req", "bpjs/jht/v1/statement/req"
CONTRIBUTION = "bpjs/jht/v1/contribution/post"
MEMBER, CONTRIBUTIONS = "bpjs/jht/v1/member/req", "bpjs/jht/v1/contributions/req"
MEMBERSHIP, BSU = "bpjs/jht/v1/membership/req", "bpjs/jht/v1/bsu/req"
COMPLAINT = "bpjs/jht/v1/complaint/post"
CHAT_EVENTS = "atmsim/v1/events/whatsapp"
SMS = "bpjs/jht/v1/sms/req"

# role -> (topic filters it may read, topic filters it may write)
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ledger": (("bpjs/jht/v1/#",), (REPLY_PREFIX + "#",)),
    "switch": ((), (BALANCE, EVENTS)),
    "channel": ((), (BALANCE, STATEMENT)),
    "employer": ((), (CONTRIBUTION,)),
    "chatbot": ((), (MEMBERSHIP, BSU, COMPLAINT, CHAT_EVENTS)),
    "sms": ((), (SMS, EVENTS)),
    "monitor": ((EVENTS,), ()),
    # the JMO/SSO web portal: membership checks, balances, statements, contribution history
    "portal": ((), (BALANCE, STATEMENT, MEMBER, CONTRIBUTIONS, EVENTS)),
}
DEFAULT_ACCOUNTS = {"switch": "switch", "ledger": "ledger", "monitor": "monitor",
                    "portal": "portal", "whatsapp": "chatbot", "sms": "sms"}
_ITERATIONS = 1000  # PBKDF2 rounds: the broker pays them once per CONNECT


class CredentialsError(RuntimeError):
    """The credentials file cannot be read or written; the message says why."""


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str
    # Extra topic filters (an operator's own tool): beyond the role's.
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never the password
        return f"Account({self.username!r}, role={self.role!r})"

    @property
    def reads(self) -> tuple[str, ...]:
        return ROLES.get(self.role, ((), ()))[0] + self.read + (self.reply_prefix + "#",)

    @property
    def writes(self) -> tuple[str, ...]:
        return ROLES.get(self.role, ((), ()))[1] + self.write

    @property
    def reply_prefix(self) -> str:
        return f"{REPLY_PREFIX}{self.username}/"


def credentials_path(data_dir: Path) -> Path:
    return data_dir / "broker" / "credentials.json"


def _valid_username(name: str) -> bool:
    # A username is a topic level (the reply prefix) and a line in the password file.
    return bool(name) and len(name) <= 64 and all(
        c.isascii() and (c.isalnum() or c in "-_.") for c in name)


def _parse(raw: Any, path: Path) -> dict[str, Account]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("accounts"), Mapping):
        raise CredentialsError(f"{path}: expected an object with 'accounts'")
    accounts: dict[str, Account] = {}
    for name, entry in raw["accounts"].items():
        if not _valid_username(name) or not isinstance(entry, Mapping):
            raise CredentialsError(f"{path}: bad account {name!r} (letters, digits, - _ .)")
        role = entry.get("role", "")
        if role not in ROLES and role != "custom":
            raise CredentialsError(f"{path}: account {name}: unknown role {role!r} "
                                   f"(use {', '.join(ROLES)} or custom)")
        password = entry.get("password") or ""
        read, write = entry.get("read", []), entry.get("write", [])
        if not isinstance(password, str) or not all(
                isinstance(t, str) for t in [*read, *write]):
            raise CredentialsError(f"{path}: account {name}: bad password or topic list")
        accounts[name] = Account(name, password, role, tuple(read), tuple(write))
    return accounts


def load_credentials(data_dir: Path) -> dict[str, Account] | None:
    """The accounts of the data directory's embedded broker; None when it has none yet."""
    path = credentials_path(data_dir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read {path}: {exc}") from None
    return _parse(raw, path)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only: created 0600, then moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)


def ensure_credentials(data_dir: Path,
                       extra: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> dict[str, Account]:
    """The accounts, creating the file on first use: the default components plus
    ``extra`` (name -> {"role": ..., "read": [...], "write": [...]}); any account
    without a password gets a fresh random one."""
    path = credentials_path(data_dir)
    accounts = load_credentials(data_dir) or {}
    changed = not path.exists()
    wanted: dict[str, Mapping[str, Any]] = {n: {"role": r} for n, r in DEFAULT_ACCOUNTS.items()}
    wanted.update(extra or {})
    for name, entry in wanted.items():
        if name not in accounts:
            parsed = _parse({"accounts": {name: entry}}, path)[name]
            accounts[name] = parsed
            changed = True
    for name, account in list(accounts.items()):
        if not account.password:
            accounts[name] = Account(name, secrets.token_urlsafe(24), account.role,
                                     account.read, account.write)
            changed = True
    if changed:
        body = {"accounts": {a.username: {"role": a.role, "password": a.password,
                                          **({"read": list(a.read)} if a.read else {}),
                                          **({"write": list(a.write)} if a.write else {})}
                             for a in accounts.values()}}
        write_private(path, json.dumps(body, indent=2) + "\n")
    else:
        os.chmod(path, 0o600)  # someone widened it: the file holds every password
    return accounts


def mosquitto_password_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    """One ``password_file`` line, as ``mosquitto_passwd`` writes it (PBKDF2-SHA512)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    return (f"{username}:$7${_ITERATIONS}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def mosquitto_acl(accounts: Mapping[str, Account]) -> str:
    lines = ["# generated by atmsim from credentials.json; edits are overwritten"]
    for account in accounts.values():
        lines += ["", f"user {account.username}"]
        lines += [f"topic read {t}" for t in account.reads if t != account.reply_prefix + "#"]
        lines += [f"topic write {t}" for t in account.writes]
    # Every account reads its own replies and nobody else's.
    lines += ["", f"pattern read {REPLY_PREFIX}%u/#", ""]
    return "\n".join(lines)


def nats_subjects(topic_filter: str) -> list[str]:
    """The NATS subjects an MQTT topic filter covers, as nats-server's MQTT listener maps
    topics: ``/`` separates tokens, ``+`` is ``*``, ``#`` is ``>`` (and, as in MQTT, also
    the parent level itself), a ``.`` inside a level is ``//``.

    >>> nats_subjects("bpjs/jht/v1/#"), nats_subjects("atmsim/v1/reply/a.b/#")
    (['bpjs.jht.v1', 'bpjs.jht.v1.>'], ['atmsim.v1.reply.a//b', 'atmsim.v1.reply.a//b.>'])
    >>> nats_subjects("#"), nats_subjects("a/+/c")
    (['>'], ['a.*.c'])
    """
    levels = [{"+": "*", "#": ">"}.get(level, level.replace(".", "//"))
              for level in topic_filter.split("/")]
    if levels[-1] == ">" and len(levels) > 1:
        return [".".join(levels[:-1]), ".".join(levels)]
    return [".".join(levels)]


def nats_users(accounts: Mapping[str, Account],
               hash_password: Any = None) -> list[dict[str, Any]]:
    """nats-server ``authorization.users``: each account with its password (through
    ``hash_password``, bcrypt in the broker's own configuration) and may publish / subscribe
    only the subjects of its topic rules. An account that may write nothing is denied
    every subject (an empty allow list would mean "no limit")."""
    users = []
    for account in accounts.values():
        password = hash_password(account.password) if hash_password else account.password
        permissions: dict[str, Any] = {}
        for key, topics in (("publish", account.writes), ("subscribe", account.reads)):
            subjects = sorted({s for t in topics for s in nats_subjects(t)})
            permissions[key] = {"allow": subjects} if subjects else {"deny": [">"]}
        users.append({"user": account.username, "password": password,
                      "permissions": permissions})
    return users


def amqtt_acls(accounts: Mapping[str, Account]) -> dict[str, dict[str, list[str]]]:
    """amqtt's ``topic_acl`` lists: subscribe, receive (what is delivered) and publish."""
    reads = {a.username: list(a.reads) for a in accounts.values()}
    return {"subscribe-acl": reads, "receive-acl": reads,
            "publish-acl": {a.username: list(a.writes) for a in accounts.values()}}


def write_listener(data_dir: Path, host: str, port: int, kind: str) -> None:
    """Where the embedded broker listens, so that separately started parts know that an
    ``--mqtt`` URL without credentials points at this data directory's broker. The file
    names the atmsim process that owns the broker (the broker dies with it)."""
    path = data_dir / "broker" / "listener.json"
    path.write_text(json.dumps({"host": host, "port": port, "kind": kind,
                                "owner_pid": os.getpid()}) + "\n")


def forget_listener(data_dir: Path) -> None:
    """The broker stopped: nothing listens for this data directory any more."""
    (data_dir / "broker" / "listener.json").unlink(missing_ok=True)


def read_listener(data_dir: Path) -> dict[str, Any] | None:
    """The listener of this data directory's running broker, or None. A file left behind
    by an owner that is gone is ignored: another broker may have the port by now, and it
    must not be sent our passwords."""
    try:
        raw = json.loads((data_dir / "broker" / "listener.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    owner = raw.get("owner_pid")
    if not isinstance(owner, int) or not _alive(owner):
        return None
    return raw


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True
