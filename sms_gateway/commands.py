"""What a participant types to 2757, read into a command (pure; docs/channels.md).

The three public formats, case- and spacing-tolerant:

* ``DAFTAR SALDO#NIK#NAMA#DD-MM-YYYY#KPJ#EMAIL``: register the sending number. The email
  may be left out; the name may be written without spaces; the shorter
  ``DAFTAR SALDO#NIK#DD-MM-YYYY#KPJ#EMAIL`` (no name) is accepted too.
* ``SALDO <KPJ>`` or ``SALDO<KPJ>``: the JHT balance of a KPJ registered to this number.
* ``CEK NOMOR KTP <NIK>``: the KPJ of that NIK, to the number it is registered to.

``INFO`` / ``BANTUAN`` / ``HELP`` ask for the formats. ``parse_command`` returns a
``Register``, ``Balance``, ``KpjLookup`` or ``Help``, or raises ``CommandError`` naming
the command whose format was wrong and what was wrong, so the reply can show the right
format.

>>> parse_command("daftar saldo # 3171011505850001#Budi Santoso#15-05-1985#10012345678").name
'Budi Santoso'
>>> parse_command("saldo10012345678")
Balance(kpj='10012345678')
>>> parse_command("Cek  Nomor KTP 3171011505850001")
KpjLookup(nik='3171011505850001')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "Balance",
    "Command",
    "CommandError",
    "Help",
    "KpjLookup",
    "Register",
    "command_name",
    "parse_command",
]


@dataclass(frozen=True)
class Register:
    nik: str
    name: str | None  # None: the variant without a name
    birth_date: date
    kpj: str
    email: str | None


@dataclass(frozen=True)
class Balance:
    kpj: str


@dataclass(frozen=True)
class KpjLookup:
    nik: str


@dataclass(frozen=True)
class Help:
    pass


Command = Register | Balance | KpjLookup | Help


class CommandError(ValueError):
    """A message that is not one of the formats. ``command`` is the one it looked like
    (``DAFTAR``, ``SALDO``, ``CEK``) or None; the message says what was wrong."""

    def __init__(self, command: str | None, problem: str) -> None:
        super().__init__(problem)
        self.command = command
        self.problem = problem


_SPACE = re.compile(r"\s+")
_DATE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_EMAIL = re.compile(r"[^@\s#]{1,64}@[^@\s#]{1,190}\.[^@\s#.]{2,24}")
_NAME = re.compile(r"[A-Za-z][A-Za-z .,'\-]{0,63}")
_MAX_TEXT = 480  # three SMS: a longer message is no command of ours


def command_name(command: Command) -> str:
    """The keyword of a command, for events and logs.

    >>> command_name(Balance("10012345678"))
    'SALDO'
    """
    return {Register: "DAFTAR", Balance: "SALDO", KpjLookup: "CEK", Help: "INFO"}[
        type(command)]


def parse_command(text: str) -> Command:
    """Read one message (see the module's docstring)."""
    if len(text) > _MAX_TEXT:
        raise CommandError(None, "message too long")
    squeezed = _SPACE.sub("", text).upper()
    if squeezed.startswith("DAFTARSALDO"):
        return _register(text)
    if squeezed.startswith("DAFTAR"):
        raise CommandError("DAFTAR", "DAFTAR SALDO expected")
    if squeezed.startswith("SALDO"):
        kpj = squeezed[len("SALDO"):].lstrip("#:.-")
        if not _digits(kpj, 11):
            raise CommandError("SALDO", "KPJ must be 11 digits")
        return Balance(kpj)
    for keyword in ("CEKNOMORKTP", "CEKNOKTP", "CEKKTP"):
        if squeezed.startswith(keyword):
            nik = squeezed[len(keyword):].lstrip("#:.-")
            if not _digits(nik, 16):
                raise CommandError("CEK", "NIK must be 16 digits")
            return KpjLookup(nik)
    if squeezed.startswith("CEK"):
        raise CommandError("CEK", "CEK NOMOR KTP expected")
    if squeezed in ("INFO", "BANTUAN", "HELP", "MENU", "?"):
        return Help()
    raise CommandError(None, "unknown command")


def _digits(text: str, count: int) -> bool:
    return len(text) == count and text.isascii() and text.isdigit()


def _register(text: str) -> Register:
    parts = [p.strip() for p in text.split("#")]
    fields = parts[1:]
    if fields and fields[-1] == "":
        fields = fields[:-1]  # a trailing # (left when the email is left out)
    if not 3 <= len(fields) <= 5:
        raise CommandError("DAFTAR", "wrong number of # parts")
    nik = _SPACE.sub("", fields[0])
    if not _digits(nik, 16):
        raise CommandError("DAFTAR", "NIK must be 16 digits")
    rest = fields[1:]
    name: str | None = None
    if not _DATE.fullmatch(_SPACE.sub("", rest[0])):
        name, rest = _SPACE.sub(" ", rest[0]), rest[1:]
        if not _NAME.fullmatch(name):
            raise CommandError("DAFTAR", "the name may hold letters, spaces, . ' - only")
    if not 2 <= len(rest) <= 3:
        raise CommandError("DAFTAR", "wrong number of # parts")
    birth_date = _birth_date(_SPACE.sub("", rest[0]))
    kpj = _SPACE.sub("", rest[1])
    if not _digits(kpj, 11):
        raise CommandError("DAFTAR", "KPJ must be 11 digits")
    email = rest[2] if len(rest) == 3 else None
    if email is not None and not _EMAIL.fullmatch(email):
        raise CommandError("DAFTAR", "the email address is not valid")
    return Register(nik, name, birth_date, kpj, email)


def _birth_date(text: str) -> date:
    match = _DATE.fullmatch(text)
    if match is None:
        raise CommandError("DAFTAR", "birth date must be DD-MM-YYYY")
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise CommandError("DAFTAR", "birth date is not a real date") from None
