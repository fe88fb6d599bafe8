"""Who a participant is: the KPJ (BPJS participant number) and the NIK (national ID number).

Both arrive as text from the wire or a file; ``parse_kpj`` and ``parse_nik`` turn that text
into a checked value or raise an ``IdentityError`` whose message says which part is wrong.
The ledger stores and compares the plain digit strings (``Kpj.value``, ``Nik.value``).

NIK layout (Dukcapil): ``PP KK CC DDMMYY NNNN`` = province, regency/city, district, birth
date (women add 40 to the day, so 41-71), then a serial from 0001. The year has two digits;
the century is the one that does not put the birth date in the future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = [
    "PROVINCE_CODES",
    "IdentityError",
    "InvalidKpj",
    "InvalidNik",
    "Kpj",
    "Nik",
    "Sex",
    "parse_kpj",
    "parse_nik",
]

# re.ASCII so that other scripts' digits (e.g. Arabic-Indic) are not taken for 0-9.
_KPJ_RE = re.compile(r"[0-9]{11}", re.ASCII)
_NIK_RE = re.compile(r"[0-9]{16}", re.ASCII)

# Kemendagri province codes. 11-61 are confirmed by published sources; the
# Kalimantan (62-65), Sulawesi (7x), Maluku (8x) and Papua (9x, incl. the 2022 provinces)
# codes are the published Kemendagri list, not checked against a stored source.
PROVINCE_CODES: dict[str, str] = {
    "11": "Aceh", "12": "Sumatera Utara", "13": "Sumatera Barat", "14": "Riau",
    "15": "Jambi", "16": "Sumatera Selatan", "17": "Bengkulu", "18": "Lampung",
    "19": "Kepulauan Bangka Belitung", "21": "Kepulauan Riau",
    "31": "DKI Jakarta", "32": "Jawa Barat", "33": "Jawa Tengah", "34": "DI Yogyakarta",
    "35": "Jawa Timur", "36": "Banten",
    "51": "Bali", "52": "Nusa Tenggara Barat", "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat", "62": "Kalimantan Tengah", "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur", "65": "Kalimantan Utara",
    "71": "Sulawesi Utara", "72": "Sulawesi Tengah", "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara", "75": "Gorontalo", "76": "Sulawesi Barat",
    "81": "Maluku", "82": "Maluku Utara",
    "91": "Papua", "92": "Papua Barat", "93": "Papua Selatan", "94": "Papua Tengah",
    "95": "Papua Pegunungan", "96": "Papua Barat Daya",
}

_WOMAN_DAY_OFFSET = 40


class IdentityError(ValueError):
    """A KPJ or NIK that cannot be accepted; the message names the faulty part."""


class InvalidKpj(IdentityError):
    """Not an 11-digit KPJ."""


class InvalidNik(IdentityError):
    """Not a structurally valid 16-digit NIK."""


Sex = Literal["L", "P"]  # laki-laki / perempuan, as BPJS and Dukcapil records write it


@dataclass(frozen=True)
class Kpj:
    """A KPJ (Kartu Peserta Jamsostek) number: exactly 11 digits.

    >>> parse_kpj("10012345678").value
    '10012345678'
    """

    value: str

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Nik:
    """A NIK whose structure has been checked, with what it says about its holder.

    >>> nik = parse_nik("3273024708900002")
    >>> nik.province, nik.birth_date.isoformat(), nik.sex
    ('32', '1990-08-07', 'P')
    """

    value: str
    birth_date: date
    sex: Sex

    @property
    def province(self) -> str:
        return self.value[0:2]

    @property
    def regency(self) -> str:
        """Province + regency/city code, e.g. ``3273`` (Kota Bandung)."""
        return self.value[0:4]

    @property
    def district(self) -> str:
        """Province + regency + district (kecamatan) code, e.g. ``327302``."""
        return self.value[0:6]

    @property
    def serial(self) -> str:
        return self.value[12:16]

    def __str__(self) -> str:
        return self.value


def parse_kpj(text: str) -> Kpj:
    """Check an 11-digit KPJ.

    >>> parse_kpj("0901230003")
    Traceback (most recent call last):
    ...
    bpjs_ledger.identity.InvalidKpj: KPJ must be exactly 11 digits, got 10 characters
    """
    if not isinstance(text, str):
        raise InvalidKpj(f"KPJ must be a string of 11 digits, got {type(text).__name__}")
    if not _KPJ_RE.fullmatch(text):
        raise InvalidKpj(f"KPJ must be exactly 11 digits, got {_describe(text)}")
    return Kpj(text)


def parse_nik(text: str, *, today: date | None = None) -> Nik:
    """Check a NIK's structure and derive its holder's birth date and sex.

    ``today`` decides the century of the two-digit birth year (default: the system date).

    >>> parse_nik("5103011008700006").birth_date.isoformat()
    '1970-08-10'
    >>> parse_nik("9903011008700006")
    Traceback (most recent call last):
    ...
    bpjs_ledger.identity.InvalidNik: NIK province code 99 is not an Indonesian province
    """
    if not isinstance(text, str):
        raise InvalidNik(f"NIK must be a string of 16 digits, got {type(text).__name__}")
    if not _NIK_RE.fullmatch(text):
        raise InvalidNik(f"NIK must be exactly 16 digits, got {_describe(text)}")
    province, regency, district = text[0:2], text[2:4], text[4:6]
    if province not in PROVINCE_CODES:
        raise InvalidNik(f"NIK province code {province} is not an Indonesian province")
    if regency == "00":
        raise InvalidNik("NIK regency/city code 00 does not exist")
    if district == "00":
        raise InvalidNik("NIK district code 00 does not exist")
    birth_date, sex = _birth_date_and_sex(text[6:12], today or date.today())
    if text[12:16] == "0000":
        raise InvalidNik("NIK serial 0000 does not exist (serials start at 0001)")
    return Nik(text, birth_date, sex)


def _birth_date_and_sex(ddmmyy: str, today: date) -> tuple[date, Sex]:
    day, month, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    sex: Sex = "L"
    if day > _WOMAN_DAY_OFFSET:
        day -= _WOMAN_DAY_OFFSET
        sex = "P"
    for century in (2000, 1900):
        try:
            born = date(century + yy, month, day)
        except ValueError:
            # 29 Feb can be valid in one century and not the other (1900 vs 2000).
            continue
        if born <= today:
            return born, sex
    raise InvalidNik(f"NIK birth date {ddmmyy} (DDMMYY, day+40 for women) is not a valid date")


def _describe(text: str) -> str:
    # Say what is wrong without echoing the value: it may be someone's NIK.
    if not text:
        return "an empty string"
    if not (text.isascii() and text.isdigit()):
        return f"{len(text)} characters, not all digits 0-9"
    return f"{len(text)} characters"
