"""A0 mode 1, A6 and A8 over TCP: keys travelling between banks under a ZMK."""

from __future__ import annotations

import random

import pytest
from hsm_helpers import TEST_LMK, ZPK, ZPK_CLEAR, RawHsm, tdes_encrypt

from hsm_mock.keys import force_odd_parity

ZMK_CLEAR = force_odd_parity(bytes.fromhex("98F8BFD5FB58DACEFDCD1C675DA19EAD"))
ZMK = TEST_LMK.encrypt_key(ZMK_CLEAR, "000")


def under_zmk(clear: bytes, scheme: str) -> str:
    """The key under ZMK_CLEAR, computed here from the scheme rules, not the mock."""
    variants = {"X": (0, 0), "Y": (0, 0, 0), "U": (0xA6, 0x5A), "T": (0x6A, 0xDE, 0x2B)}[scheme]
    out = b""
    for i, variant in enumerate(variants):
        key = bytearray(ZMK_CLEAR)
        key[8] ^= variant
        out += tdes_encrypt(bytes(key), clear[8 * i : 8 * i + 8])
    return scheme + out.hex().upper()


async def check_value(raw: RawHsm, key_type: str, key: str) -> str:
    flag = {16: "0", 33: "1", 49: "2"}[len(key)]
    reply = await raw.command("BU", "FF" + flag + key + ";" + key_type + ";001")
    assert reply.error_code == "00"
    return reply.fields.decode()


@pytest.mark.parametrize("scheme", ["U", "X"])
async def test_a8_exports_a_zpk_as_the_scheme_rules_say(raw: RawHsm, scheme: str) -> None:
    reply = await raw.command("A8", "001" + ZMK + ZPK + scheme)
    assert (reply.response_code, reply.error_code) == ("A9", "00")
    assert reply.fields.decode() == under_zmk(ZPK_CLEAR, scheme) + "08D7B4"


@pytest.mark.parametrize("scheme", ["U", "T", "X", "Y"])
async def test_a6_imports_what_the_other_bank_sent(raw: RawHsm, scheme: str) -> None:
    clear = force_odd_parity(random.Random(scheme).randbytes(24 if scheme in "TY" else 16))
    lmk_scheme = "T" if scheme in "TY" else "U"
    reply = await raw.command("A6", "001" + ZMK + under_zmk(clear, scheme) + lmk_scheme)
    assert (reply.response_code, reply.error_code) == ("A7", "00")
    key, check = reply.fields[:-6].decode(), reply.fields[-6:].decode()
    assert TEST_LMK.decrypt_key(key, "001").material == clear
    assert check == await check_value(raw, "001", key)


async def test_a6_forces_odd_parity_and_answers_01_as_advice(raw: RawHsm) -> None:
    even = bytes([ZPK_CLEAR[0] ^ 1]) + ZPK_CLEAR[1:]
    reply = await raw.command("A6", "001" + ZMK + under_zmk(even, "X") + "U")
    assert (reply.response_code, reply.error_code) == ("A7", "01")
    assert reply.fields.decode() == TEST_LMK.encrypt_key(ZPK_CLEAR, "001") + "08D7B4"


async def test_a0_mode_1_gives_the_same_key_under_lmk_and_zmk(raw: RawHsm) -> None:
    reply = await raw.command("A0", "1001U" + ZMK + "X")
    assert (reply.response_code, reply.error_code) == ("A1", "00")
    text = reply.fields.decode()
    under_lmk, under_zmk_field, check = text[:33], text[33:66], text[66:]
    imported = await raw.command("A6", "001" + ZMK + under_zmk_field + "U")
    assert (imported.error_code, imported.fields.decode()) == ("00", under_lmk + check)


async def test_a0_mode_1_under_a_tmk(raw: RawHsm) -> None:
    tmk = TEST_LMK.encrypt_key(ZMK_CLEAR, "002")
    reply = await raw.command("A0", "1002U;1" + tmk + "U")
    assert reply.error_code == "00"
    under_lmk, under_tmk = reply.fields[:33].decode(), reply.fields[33:66].decode()
    clear = TEST_LMK.decrypt_key(under_lmk, "002").material
    assert under_tmk == under_zmk(clear, "U")


async def test_export_then_import_round_trips_many_keys(raw: RawHsm) -> None:
    rng = random.Random(9)
    for _ in range(25):
        clear = force_odd_parity(rng.randbytes(16))
        key_type = rng.choice(["001", "002", "003", "008", "009"])
        exported = await raw.command("A8", key_type + ZMK + TEST_LMK.encrypt_key(clear, key_type) + "U")
        assert exported.error_code == "00"
        imported = await raw.command("A6", key_type + ZMK + exported.fields[:33].decode() + "U")
        assert imported.error_code == "00"
        assert TEST_LMK.decrypt_key(imported.fields[:33].decode(), key_type).material == clear
