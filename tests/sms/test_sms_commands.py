"""What a participant may type, read the way they meant it; every reply one or two GSM
7-bit SMS; long texts cut and put back together."""

from __future__ import annotations

from datetime import date

import pytest

from atmsim.kernel.smpp.text import Reassembler, is_gsm7, septets, split_text
from sms_gateway import replies
from sms_gateway.commands import (
    Balance,
    CommandError,
    Help,
    KpjLookup,
    Register,
    parse_command,
)

NIK, KPJ = "3171011505850001", "10012345678"
BORN = date(1985, 5, 15)


@pytest.mark.parametrize(("text", "expected"), [
    (f"DAFTAR SALDO#{NIK}#Budi Santoso#15-05-1985#{KPJ}#budi@example.com",
     Register(NIK, "Budi Santoso", BORN, KPJ, "budi@example.com")),
    (f"daftar saldo#{NIK}#BUDISANTOSO#15-05-1985#{KPJ}", Register(NIK, "BUDISANTOSO", BORN,
                                                                  KPJ, None)),
    (f"Daftar  Saldo # {NIK} # budi   santoso # 15/05/1985 # {KPJ} #",
     Register(NIK, "budi santoso", BORN, KPJ, None)),
    (f"DAFTARSALDO#{NIK}#15-05-1985#{KPJ}#b@example.com", Register(NIK, None, BORN, KPJ,
                                                                  "b@example.com")),
    (f"DAFTAR SALDO#{NIK}#15-05-1985#{KPJ}", Register(NIK, None, BORN, KPJ, None)),
    (f"SALDO {KPJ}", Balance(KPJ)), (f"saldo{KPJ}", Balance(KPJ)),
    (" Saldo 100 1234 5678 ", Balance(KPJ)), (f"SALDO#{KPJ}", Balance(KPJ)),
    (f"CEK NOMOR KTP {NIK}", KpjLookup(NIK)), (f"ceknomorktp{NIK}", KpjLookup(NIK)),
    ("info", Help()), ("Bantuan", Help()),
])
def test_the_public_formats_and_their_variants(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "command", "problem"), [
    ("SALDO 1001234567", "SALDO", "KPJ must be 11 digits"),
    ("SALDO", "SALDO", "KPJ must be 11 digits"),
    (f"SALDO {KPJ}' OR '1'='1", "SALDO", "KPJ must be 11 digits"),
    ("CEK NOMOR KTP 317101150585", "CEK", "NIK must be 16 digits"),
    ("CEK SALDO", "CEK", "CEK NOMOR KTP expected"),
    (f"DAFTAR {NIK}", "DAFTAR", "DAFTAR SALDO expected"),
    (f"DAFTAR SALDO#{NIK}#Budi#31-02-1985#{KPJ}", "DAFTAR", "birth date is not a real date"),
    (f"DAFTAR SALDO#{NIK}#Budi#1985-05-15#{KPJ}", "DAFTAR", "birth date must be DD-MM-YYYY"),
    (f"DAFTAR SALDO#{NIK}#Budi#15-05-1985#{KPJ}#not-an-email", "DAFTAR",
     "the email address is not valid"),
    (f"DAFTAR SALDO#{NIK}#B'); DROP TABLE x;--#15-05-1985#{KPJ}", "DAFTAR",
     "the name may hold letters, spaces, . ' - only"),
    (f"DAFTAR SALDO#{NIK}", "DAFTAR", "wrong number of # parts"),
    ("HALO", None, "unknown command"), ("x" * 500, None, "message too long"),
])
def test_wrong_formats_say_what_was_wrong(text: str, command: str | None,
                                          problem: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    assert (caught.value.command, caught.value.problem) == (command, problem)
    reply = replies.format_error(caught.value.command, caught.value.problem)
    if command == "DAFTAR":
        assert reply.endswith(replies.FORMAT_DAFTAR)


def test_every_reply_is_gsm7_in_at_most_two_sms() -> None:
    texts = [replies.registered(KPJ, "NONAKTIF", already=True), replies.mismatch(),
             replies.balance(KPJ, "NONAKTIF", 99_999_999_999_99, "2026-10-31", "2026-09"),
             replies.kpj_found([KPJ, "10012345679"]), replies.not_registered(),
             replies.kpj_not_registered(), replies.nik_not_registered(), replies.help_text(),
             replies.rate_limited(59), replies.failures_limited(23), replies.unavailable(),
             *(replies.format_error(c, "x") for c in ("DAFTAR", "SALDO", "CEK"))]
    for text in texts:
        assert is_gsm7(text), text
        assert len(split_text(text)) <= 2, text
    assert septets(replies.balance(KPJ, "AKTIF", 12_345_678_90, "2026-10-31", "2026-09")) <= 160


def test_long_texts_are_cut_and_joined_whatever_the_order_or_alphabet() -> None:
    for text in ("SALDO " * 60, "€[]" * 80, "Terima kasih ✓ " * 20):
        segments = split_text(text, reference=200)
        assert len(segments) > 1
        joined = Reassembler()
        results = [joined.add("628", 0x40, s.udh + s.body, s.data_coding)
                   for s in reversed(segments)]
        assert results[:-1] == [None] * (len(segments) - 1) and results[-1] == text
        sar = Reassembler()
        results = [sar.add("628", 0, s.body, s.data_coding, {
            0x020C: s.reference.to_bytes(2, "big"), 0x020E: bytes((s.total,)),
            0x020F: bytes((s.number,))}) for s in segments]
        assert results[-1] == text
    with pytest.raises(ValueError):
        Reassembler().add("628", 0x40, bytes((9, 0, 3)), 0)
