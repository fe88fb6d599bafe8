"""KPJ and NIK checks: what the ledger accepts as a participant's identity."""

from __future__ import annotations

from datetime import date

import pytest

from atmsim.kernel.demo_data import DEMO_CARDS
from bpjs_ledger.identity import IdentityError, InvalidKpj, InvalidNik, parse_kpj, parse_nik

TODAY = date(2026, 11, 2)


@pytest.mark.parametrize(("nik", "born", "sex"), [
    ("3171011505850001", date(1985, 5, 15), "L"),  # Budi
    ("3273024708900002", date(1990, 8, 7), "P"),  # Siti: day 47 = 7 + 40
    ("5171026110920004", date(1992, 10, 21), "P"),  # Dewi: day 61 = 21 + 40
    ("5103011008700006", date(1970, 8, 10), "L"),  # Wayan
    ("3273081409750002", date(1975, 9, 14), "L"),  # a published example
    ("3171017101050001", date(2005, 1, 31), "P"),  # day 71 = 31 + 40, born this century
])
def test_nik_gives_birth_date_and_sex(nik: str, born: date, sex: str) -> None:
    parsed = parse_nik(nik, today=TODAY)

    assert (parsed.birth_date, parsed.sex) == (born, sex)


def test_nik_parts() -> None:
    nik = parse_nik("3273024708900002", today=TODAY)

    assert (nik.province, nik.regency, nik.district, nik.serial) == ("32", "3273", "327302",
                                                                      "0002")


def test_every_demo_card_holder_has_a_valid_nik() -> None:
    assert all(parse_nik(card.nik, today=TODAY) for card in DEMO_CARDS)


def test_two_digit_year_never_lands_in_the_future() -> None:
    assert parse_nik("3171011505260001", today=date(2026, 11, 2)).birth_date.year == 2026
    assert parse_nik("3171011512260001", today=date(2026, 11, 2)).birth_date.year == 1926


@pytest.mark.parametrize(("nik", "complaint"), [
    ("9971011505850001", "province code 99"),
    ("0071011505850001", "province code 00"),
    ("2071011505850001", "province code 20"),
    ("3100011505850001", "regency"),
    ("3171001505850001", "district"),
    ("3171013205850001", "birth date"),  # day 32: neither a man's day nor a woman's (72-40)
    ("3171017205850001", "birth date"),  # day 72 - 40 = 32
    ("3171014005850001", "birth date"),  # day 40: day 0 for a woman, too late for a man
    ("3171010013850001", "birth date"),  # month 13
    ("3171013002850001", "birth date"),  # 30 February
    ("3171012902010001", "birth date"),  # 29 February 2001 (and 1901)
    ("3171011505850000", "serial"),
    ("317101150585001", "16 digits"),
    ("31710115058500011", "16 digits"),
    ("31710115O5850001", "not all digits"),
    ("3171011505850\u0661\u0662\u0663", "not all digits"),  # Arabic-Indic digits
    ("", "empty"),
])
def test_malformed_nik_is_refused_with_the_reason(nik: str, complaint: str) -> None:
    with pytest.raises(InvalidNik, match=complaint) as caught:
        parse_nik(nik, today=TODAY)

    assert isinstance(caught.value, ValueError)
    if len(nik) > 6:
        assert nik not in str(caught.value)  # a refused NIK is still someone's NIK


def test_leap_day_is_a_birth_date() -> None:
    assert parse_nik("3171016902000001", today=TODAY).birth_date == date(2000, 2, 29)


def test_kpj_is_eleven_digits() -> None:
    assert parse_kpj("09012300033").value == "09012300033"
    assert str(parse_kpj("10012345678")) == "10012345678"


@pytest.mark.parametrize("kpj", ["1001234567", "100123456789", "1001234567a", " 10012345678",
                                 "", "\u0661" * 11])
def test_malformed_kpj_is_refused(kpj: str) -> None:
    with pytest.raises(InvalidKpj, match="11 digits"):
        parse_kpj(kpj)


@pytest.mark.parametrize("value", [10012345678, None, ["10012345678"]])
def test_non_text_identity_is_refused(value: object) -> None:
    with pytest.raises(IdentityError):
        parse_kpj(value)  # type: ignore[arg-type]
    with pytest.raises(IdentityError):
        parse_nik(value)  # type: ignore[arg-type]
