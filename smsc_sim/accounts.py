"""Who may bind to the simulated SMSC (``<data dir>/smsc/credentials.json``, mode 0600).

Two kinds of account:

* ``esme``: an application bound to short codes (``addresses``), as the BPJS gateway
  ``bpjs2757`` is to 2757. It receives what phones send to them and may send from them.
* ``handset``: the simulated phones. A phone binds with the handset account and its own
  number as ``address_range``; the SMSC then delivers to it what is sent to that number,
  and whatever it sends carries that number as its sender, whatever it claims.

The file is made on first use with a random password for each account and reused after.
Add your own ESME as ``"mine": {"role": "esme", "addresses": ["9999"]}``: the next start
gives it a password.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SmscAccount", "AccountsError", "accounts_path", "ensure_accounts",
           "DEFAULT_ESME", "HANDSET"]

DEFAULT_ESME = "bpjs2757"
HANDSET = "handset"


class AccountsError(RuntimeError):
    """The credentials file cannot be read or written; the message says why."""


@dataclass(frozen=True)
class SmscAccount:
    system_id: str
    password: str = field(repr=False)
    role: str  # "esme" or "handset"
    addresses: tuple[str, ...] = ()


def accounts_path(data_dir: Path) -> Path:
    return data_dir / "smsc" / "credentials.json"


def _parse(raw: Any, path: Path) -> dict[str, SmscAccount]:
    if not isinstance(raw, dict) or not isinstance(raw.get("accounts"), dict):
        raise AccountsError(f"{path}: expected an object with 'accounts'")
    accounts = {}
    for name, entry in raw["accounts"].items():
        ok_name = isinstance(name, str) and 0 < len(name) <= 15 and name.isascii()
        if not ok_name or not isinstance(entry, dict):
            raise AccountsError(f"{path}: bad account {name!r} (1-15 ASCII characters)")
        role = entry.get("role")
        password = entry.get("password") or ""
        addresses = entry.get("addresses", [])
        if role not in ("esme", "handset") or not isinstance(password, str) or len(
                password) > 8 or not all(isinstance(a, str) for a in addresses):
            raise AccountsError(f"{path}: account {name}: role esme or handset, a password "
                                "of at most 8 characters, addresses a list of strings")
        accounts[name] = SmscAccount(name, password, role, tuple(addresses))
    return accounts


def ensure_accounts(data_dir: Path) -> dict[str, SmscAccount]:
    """The accounts, the file made (or completed with passwords) first when needed."""
    path = accounts_path(data_dir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raw = {"accounts": {DEFAULT_ESME: {"role": "esme", "addresses": ["2757"]},
                            HANDSET: {"role": "handset"}}}
    except (OSError, ValueError) as exc:
        raise AccountsError(f"cannot read {path}: {exc}") from None
    accounts = _parse(raw, path)
    changed = not path.exists()
    for name, account in list(accounts.items()):
        if not account.password:
            # SMPP 3.4 passwords are at most 8 characters (9 with the NUL).
            accounts[name] = SmscAccount(name, secrets.token_urlsafe(6)[:8], account.role,
                                         account.addresses)
            changed = True
    if changed:
        body = {"accounts": {a.system_id: {"role": a.role, "password": a.password,
                                           **({"addresses": list(a.addresses)}
                                              if a.addresses else {})}
                             for a in accounts.values()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (json.dumps(body, indent=2) + "\n").encode())
        finally:
            os.close(fd)
        os.replace(temporary, path)
    return accounts
