"""What a participant types into the portal's forms, checked before anything is asked of
the ledger: pure functions that return the cleaned values or the errors to show, field by
field, in Indonesian first and English after.

The ledger checks identity (the NIK's structure, the KPJ's owner); these checks only keep
malformed input from travelling further, and tell the person which field to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

__all__ = [
    "SEGMENTS",
    "FormErrors",
    "MemberCheck",
    "Registration",
    "parse_birth_date",
    "check_member_form",
    "check_password",
    "check_registration",
]

# The segments a participant registers under on the portal (JAKON workers have no JHT).
SEGMENTS = {"PU": "Penerima Upah / wage earner", "BPU": "Bukan Penerima Upah / self-employed",
            "PMI": "Pekerja Migran Indonesia / migrant worker"}
MIN_PASSWORD = 8
MAX_PASSWORD = 128
_MAX_NAME = 100
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")

FormErrors = dict[str, str]  # field name -> the message shown beside it


@dataclass(frozen=True)
class Registration:
    """A registration form that passed the checks."""

    nik: str
    kpj: str
    name: str
    birth_date: date
    segment: str
    email: str
    password: str


@dataclass(frozen=True)
class MemberCheck:
    """The "cek kepesertaan" form: NIK, birth date and full name."""

    nik: str
    birth_date: date
    name: str


def parse_birth_date(text: str) -> date | None:
    """A birth date as a form sends it (``YYYY-MM-DD`` from a date field) or as people
    write it (``DD-MM-YYYY`` or ``DD/MM/YYYY``); None when it is not a real date.

    >>> parse_birth_date("1985-05-15"), parse_birth_date("15/05/1985")
    (datetime.date(1985, 5, 15), datetime.date(1985, 5, 15))
    >>> parse_birth_date("31-02-1985") is None, parse_birth_date("1985-5-1") is None
    (True, True)
    """
    text = text.strip()
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if match:
        year, month, day = match.groups()
    else:
        match = re.fullmatch(r"(\d{2})[-/](\d{2})[-/](\d{4})", text)
        if not match:
            return None
        day, month, year = match.groups()
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _digits(form: Mapping[str, str], key: str, length: int, label: str,
            errors: FormErrors) -> str:
    value = re.sub(r"[\s.-]", "", form.get(key, ""))
    if not (len(value) == length and value.isascii() and value.isdigit()):
        errors[key] = f"{label} harus {length} digit angka / {label} must be {length} digits"
    return value


def _name(form: Mapping[str, str], errors: FormErrors) -> str:
    name = " ".join(form.get("name", "").split())
    if not name:
        errors["name"] = "Nama lengkap wajib diisi / Full name is required"
    elif len(name) > _MAX_NAME or not any(c.isalpha() for c in name):
        errors["name"] = "Nama lengkap tidak valid / Full name is not valid"
    return name


def _birth_date(form: Mapping[str, str], errors: FormErrors, today: date) -> date:
    birth = parse_birth_date(form.get("birth_date", ""))
    if birth is None or not date(1900, 1, 1) <= birth <= today:
        errors["birth_date"] = ("Tanggal lahir tidak valid (DD-MM-YYYY) / "
                                "Birth date is not valid (DD-MM-YYYY)")
        return date.min
    return birth


def check_password(password: str, confirm: str) -> str | None:
    """Why a new password is refused, or None.

    >>> check_password("rahasia123", "rahasia123") is None
    True
    >>> check_password("rahasia", "rahasia").startswith("Kata sandi minimal 8 karakter")
    True
    """
    if password != confirm:
        return "Konfirmasi kata sandi tidak sama / The passwords do not match"
    if (not MIN_PASSWORD <= len(password) <= MAX_PASSWORD
            or not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password)):
        return ("Kata sandi minimal 8 karakter, dengan huruf dan angka / "
                "At least 8 characters, letters and digits")
    return None


def check_registration(form: Mapping[str, str], today: date
                       ) -> tuple[Registration | None, FormErrors]:
    """The registration form checked field by field: the registration, or the errors.

    >>> form = {"nik": "3171011505850001", "kpj": "10012345678", "name": " Budi  Santoso ",
    ...         "birth_date": "15-05-1985", "segment": "PU", "email": "budi@example.id",
    ...         "password": "rahasia123", "password_confirm": "rahasia123"}
    >>> registration, errors = check_registration(form, date(2026, 12, 1))
    >>> registration.name, registration.birth_date, errors
    ('Budi Santoso', datetime.date(1985, 5, 15), {})
    >>> sorted(check_registration({**form, "kpj": "123", "segment": "X"}, date(2026, 12, 1))[1])
    ['kpj', 'segment']
    """
    errors: FormErrors = {}
    nik = _digits(form, "nik", 16, "NIK", errors)
    kpj = _digits(form, "kpj", 11, "KPJ", errors)
    name = _name(form, errors)
    birth = _birth_date(form, errors, today)
    segment = form.get("segment", "").strip().upper()
    if segment not in SEGMENTS:
        errors["segment"] = "Pilih segmen kepesertaan / Choose a membership segment"
    email = form.get("email", "").strip()
    if len(email) > 254 or not _EMAIL.match(email):
        errors["email"] = "Alamat email tidak valid / The email address is not valid"
    password = form.get("password", "")
    problem = check_password(password, form.get("password_confirm", ""))
    if problem:
        errors["password"] = problem
    if errors:
        return None, errors
    return Registration(nik, kpj, name, birth, segment, email.lower(), password), errors


def check_member_form(form: Mapping[str, str], today: date
                      ) -> tuple[MemberCheck | None, FormErrors]:
    """The "cek kepesertaan" form: NIK, birth date, full name.

    >>> check_member_form({"nik": "3171011505850001", "birth_date": "1985-05-15",
    ...                    "name": "Budi Santoso"}, date(2026, 12, 1))[0].nik
    '3171011505850001'
    """
    errors: FormErrors = {}
    nik = _digits(form, "nik", 16, "NIK", errors)
    birth = _birth_date(form, errors, today)
    name = _name(form, errors)
    if errors:
        return None, errors
    return MemberCheck(nik, birth, name), errors
