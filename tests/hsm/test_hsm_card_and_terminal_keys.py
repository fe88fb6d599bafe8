"""CW/CY (card verification values) and HC (a new terminal key under the current one).

CVVs are checked against the Visa published example and against psec; HC's keys are
opened here with the scheme rules and the LMK, not with the code under test.
"""

from __future__ import annotations

import random

import pytest
from hsm_helpers import TEST_LMK, RawHsm, tdes_encrypt
from psec import cvv as psec_cvv

from atmsim.kernel.crypto import tdes
from atmsim.kernel.demo_data import DEMO_KEYS
from hsm_mock.keys import force_odd_parity, kcv

VISA_CVK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
VISA_CARD = "4123456789012345;8701101"  # PAN ; expiry YYMM, service code


@pytest.mark.parametrize("scheme", ["", "U"])
async def test_cw_gives_the_visa_published_cvv(raw: RawHsm, scheme: str) -> None:
    cvk = TEST_LMK.encrypt_key(VISA_CVK, "402", scheme=scheme)
    reply = await raw.command("CW", cvk + VISA_CARD)
    assert (reply.response_code, reply.error_code, reply.fields) == ("CX", "00", b"561")
    right = await raw.command("CY", cvk + "561" + VISA_CARD)
    wrong = await raw.command("CY", cvk + "562" + VISA_CARD)
    assert (right.response_code, right.error_code) == ("CZ", "00")
    assert wrong.error_code == "01"


async def test_cw_matches_psec_for_random_cards(raw: RawHsm) -> None:
    rng = random.Random(11)
    for _ in range(25):
        cvk_clear = force_odd_parity(rng.randbytes(16))
        cvk = TEST_LMK.encrypt_key(cvk_clear, "402")
        pan = "".join(rng.choice("0123456789") for _ in range(rng.randint(13, 19)))
        expiry = f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}"
        service = rng.choice(["101", "201", "000", "999"])
        reply = await raw.command("CW", f"{cvk}{pan};{expiry}{service}")
        assert reply.fields.decode() == psec_cvv.generate_cvv(cvk_clear, pan, expiry, service)


async def test_cw_and_cy_error_codes(raw: RawHsm) -> None:
    bad_parity = bytes([VISA_CVK[0] ^ 1]) + VISA_CVK[1:]
    assert (await raw.command("CW", TEST_LMK.encrypt_key(bad_parity, "402") + VISA_CARD)
            ).error_code == "10"
    triple = TEST_LMK.encrypt_key(VISA_CVK + VISA_CVK[:8], "402", scheme="T")
    assert (await raw.command("CW", triple + VISA_CARD)).error_code == "27"  # a pair only
    cvk = TEST_LMK.encrypt_key(VISA_CVK, "402")
    assert (await raw.command("CW", cvk + "4123456789012345" + "8701101")).error_code == "15"
    assert (await raw.command("CY", cvk + "56X" + VISA_CARD)).error_code == "15"
    # A CVK under the wrong key type decrypts to another key: no error, another CVV.
    other = await raw.command("CW", TEST_LMK.encrypt_key(VISA_CVK, "002") + VISA_CARD)
    assert other.error_code in ("00", "10") and other.fields != b"561"


def open_under(tmk: bytes, field: str) -> bytes:
    """A U-scheme key under a TMK, opened with the variant rules (0xA6, 0x5A)."""
    data = bytes.fromhex(field[1:])
    out = b""
    for i, variant in enumerate((0xA6, 0x5A)):
        key = bytearray(tmk)
        key[8] ^= variant
        out += tdes.decrypt_ecb(bytes(key), data[8 * i: 8 * i + 8])
    return out


async def test_hc_gives_a_new_terminal_key_under_the_current_one_and_the_lmk(
    raw: RawHsm,
) -> None:
    tmk_clear = bytes.fromhex(DEMO_KEYS["TMK"].clear_hex)
    tmk = TEST_LMK.encrypt_key(tmk_clear, "002")
    reply = await raw.command("HC", tmk)
    assert (reply.response_code, reply.error_code) == ("HD", "00")
    text = reply.fields.decode()
    under_tmk, under_lmk = text[:33], text[33:66]
    assert len(text) == 66 and under_tmk[0] == under_lmk[0] == "U"
    clear = open_under(tmk_clear, under_tmk)
    assert TEST_LMK.decrypt_key(under_lmk, "002").material == clear
    assert force_odd_parity(clear) == clear
    # With the options: X9.17 under the TMK (plain TDES), U under the LMK, 6H check value.
    with_kcv = (await raw.command("HC", tmk + ";XU1")).fields.decode()
    under_tmk, under_lmk, check = with_kcv[:33], with_kcv[33:66], with_kcv[66:]
    plain = tdes.decrypt_ecb(tmk_clear, bytes.fromhex(under_tmk[1:]))
    assert under_tmk[0] == "X" and check == kcv(plain)
    assert TEST_LMK.decrypt_key(under_lmk, "002").material == plain
    assert tdes_encrypt(plain, bytes(8)).hex().upper()[:6] == check
    assert (await raw.command("HC", tmk)).fields.decode() != text  # a fresh key each time


async def test_hc_error_codes(raw: RawHsm) -> None:
    tmk_clear = bytes.fromhex(DEMO_KEYS["TMK"].clear_hex)
    bad = bytes([tmk_clear[0] ^ 1]) + tmk_clear[1:]
    assert (await raw.command("HC", TEST_LMK.encrypt_key(bad, "002"))).error_code == "10"
    tmk = TEST_LMK.encrypt_key(tmk_clear, "002")
    assert (await raw.command("HC", tmk + ";QU1")).error_code == "26"
    assert (await raw.command("HC", tmk + ";UQ1")).error_code == "26"
    assert (await raw.command("HC", tmk + ";UU7")).error_code == "15"
    assert (await raw.command("HC", tmk + ";TU1")).error_code == "27"  # lengths disagree
    assert (await raw.command("HC", "K001")).error_code == "12"
