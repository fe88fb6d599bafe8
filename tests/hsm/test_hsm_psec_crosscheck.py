"""The HSM's PIN cryptography agrees with psec on many random inputs.

psec is an independent implementation of PIN blocks, IBM 3624 and Visa PVV; the
pure functions and the commands over TCP must give the same answers.
"""

from __future__ import annotations

import random

import pytest
from hsm_helpers import TEST_LMK, RawHsm, account12
from psec import pin as psec_pin
from psec import pinblock

from atmsim.kernel.crypto.pin_blocks import build_pin_block, extract_pin
from hsm_mock.keys import force_odd_parity
from hsm_mock.pin_verification import ibm3624_natural_pin, ibm3624_offset, visa_pvv

# psec encrypts with the deprecated TripleDES import; that is psec's business.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

ROUNDS = 300


def random_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def random_case(rng: random.Random) -> tuple[str, str]:
    pin = random_digits(rng, rng.randint(4, 12))
    pan = random_digits(rng, rng.randint(13, 19))
    return pin, pan


def random_dec_table(rng: random.Random) -> str:
    digits = list("0123456789")
    rng.shuffle(digits)
    return "".join(digits) + "".join(rng.sample("0123456789", 6))


def test_iso0_blocks_match_psec_both_ways() -> None:
    rng = random.Random(1)
    for _ in range(ROUNDS):
        pin, pan = random_case(rng)
        ours = build_pin_block(pin, "01", account12(pan))
        assert ours == pinblock.encode_pinblock_iso_0(pin, pan)
        assert extract_pin(ours, "01", account12(pan)) == pin
        assert pinblock.decode_pinblock_iso_0(ours, pan) == pin


def test_iso3_blocks_match_psec_both_ways() -> None:
    rng = random.Random(2)
    for _ in range(ROUNDS):
        pin, pan = random_case(rng)
        theirs = pinblock.encode_pinblock_iso_3(pin, pan)
        assert extract_pin(theirs, "47", account12(pan)) == pin
        ours = build_pin_block(pin, "47", account12(pan), rng=rng.randbytes)
        assert pinblock.decode_pinblock_iso_3(ours, pan) == pin


def test_ibm3624_natural_pin_and_offset_match_psec() -> None:
    rng = random.Random(3)
    for _ in range(ROUNDS):
        pin, _ = random_case(rng)
        pvk = force_odd_parity(rng.randbytes(rng.choice((8, 16))))
        block = random_digits(rng, 16)
        # Our validation data carries the last 5 account digits at its N.
        validation_data, account = block[:5] + "N" + block[10:], "0000000" + block[5:10]
        table = random_dec_table(rng)
        natural = psec_pin.generate_ibm3624_pin(pvk, table, "0" * len(pin), block, 0, 16, "F")
        expected = psec_pin.generate_ibm3624_offset(pvk, table, pin, block, 0, 16, "F")
        assert ibm3624_natural_pin(pvk, validation_data, account, table, len(pin)) == natural
        offset = ibm3624_offset(pvk, pin, validation_data, account, table, 4)
        assert offset == expected.ljust(12, "F")


def test_visa_pvv_matches_psec() -> None:
    rng = random.Random(4)
    for _ in range(ROUNDS):
        pin, pan = random_case(rng)
        pvk_pair = force_odd_parity(rng.randbytes(16))
        pvki = rng.randint(0, 9)
        expected = psec_pin.generate_visa_pvv(pvk_pair, str(pvki), pin[:4], pan)
        assert visa_pvv(pvk_pair, pan, pvki, pin) == expected


async def test_de_and_dg_over_tcp_match_psec(raw: RawHsm) -> None:
    rng = random.Random(5)
    for _ in range(40):
        pin, pan = random_case(rng)
        account = account12(pan)
        pvk_clear = force_odd_parity(rng.randbytes(16))
        pvk = TEST_LMK.encrypt_key(pvk_clear, "002")
        table = random_dec_table(rng)
        encrypted_pin = (await raw.command("BA", pin.ljust(13, "F") + account)).fields.decode()

        de = await raw.command("DE", pvk + encrypted_pin + "04" + account + table + "N" + "F" * 11)
        expected_offset = psec_pin.generate_ibm3624_offset(
            pvk_clear, table, pin, account[-5:], 0, 5, "F"
        )
        # 02: a double-length PVK is a warning for DE; the offset is still returned.
        assert (de.error_code, de.fields.decode()) == ("02", expected_offset.ljust(12, "F"))

        dg = await raw.command("DG", pvk + encrypted_pin + account + "3")
        expected_pvv = psec_pin.generate_visa_pvv(pvk_clear, "3", pin[:4], pan)
        assert (dg.error_code, dg.fields.decode()) == ("00", expected_pvv)


def test_iso4_aes_blocks_match_psec_both_ways() -> None:
    from atmsim.kernel.crypto.pin_blocks import decipher_iso4, encipher_iso4

    rng = random.Random(6)
    for _ in range(ROUNDS):
        pin, pan = random_case(rng)
        key = rng.randbytes(rng.choice((16, 24, 32)))
        ours = encipher_iso4(key, pin, pan, rng=rng.randbytes)
        assert pinblock.decipher_pinblock_iso_4(key, ours, pan) == pin
        theirs = pinblock.encipher_pinblock_iso_4(key, pin, pan)
        assert decipher_iso4(key, theirs, pan) == pin
