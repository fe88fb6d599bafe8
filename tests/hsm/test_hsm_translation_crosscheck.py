"""CA/CC/CI/G0 PIN translation and M6/M8 MACs over TCP, against psec and pydukpt.

psec (PIN blocks, MACs) and pydukpt (X9.24-1 DUKPT) are independent implementations:
on many random inputs the HSM's answers must be what they compute.
"""

from __future__ import annotations

import random

import pydukpt
import pytest
from hsm_helpers import TEST_LMK, RawHsm, account12, tdes_encrypt
from psec import mac as psec_mac
from psec import pinblock

from atmsim.kernel.crypto import tdes
from hsm_mock.keys import force_odd_parity

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

ALLOWED = {
    ("01", "01"), ("01", "47"), ("47", "01"), ("47", "47"), ("05", "01"), ("05", "47"),
    ("03", "01"), ("03", "47"), ("03", "05"), ("03", "03"),
}


def random_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def clear_block(fmt: str, pin: str, pan: str) -> bytes:
    if fmt == "01":
        return pinblock.encode_pinblock_iso_0(pin, pan)
    if fmt == "47":
        return pinblock.encode_pinblock_iso_3(pin, pan)
    if fmt == "03":
        return bytes.fromhex(pin.ljust(16, "F"))
    return bytes.fromhex("1" + f"{len(pin):X}" + pin + "A" * (14 - len(pin)))  # ISO 1


def pin_from(fmt: str, block: bytes, pan: str) -> str:
    if fmt == "01":
        return pinblock.decode_pinblock_iso_0(block, pan)
    if fmt == "47":
        return pinblock.decode_pinblock_iso_3(block, pan)
    nibbles = block.hex().upper()
    return nibbles.rstrip("F") if fmt == "03" else nibbles[2 : 2 + int(nibbles[1], 16)]


@pytest.mark.parametrize("command", ["CA", "CC"])
async def test_translations_match_psec_and_follow_pci_rules(raw: RawHsm, command: str) -> None:
    rng = random.Random(command)
    source_type = "002" if command == "CA" else "001"
    for _ in range(80):
        pin = random_digits(rng, rng.randint(4, 12))
        pan = random_digits(rng, rng.randint(13, 19))
        source_clear, destination_clear = (force_odd_parity(rng.randbytes(16)) for _ in "ab")
        source_format = rng.choice(["01", "47", "05", "03"])
        destination_format = rng.choice(["01", "47", "05", "03"])
        block = tdes_encrypt(source_clear, clear_block(source_format, pin, pan)).hex().upper()
        reply = await raw.command(
            command,
            TEST_LMK.encrypt_key(source_clear, source_type)
            + TEST_LMK.encrypt_key(destination_clear, "001")
            + "12"
            + block
            + source_format
            + destination_format
            + account12(pan),
        )
        if (source_format, destination_format) not in ALLOWED:
            assert reply.error_code == "23"
            continue
        assert reply.error_code == "00"
        length, out, fmt = reply.fields[:2], reply.fields[2:18], reply.fields[18:]
        assert (int(length), fmt.decode()) == (len(pin), destination_format)
        decrypted = tdes.decrypt_ecb(destination_clear, bytes.fromhex(out.decode()))
        assert pin_from(destination_format, decrypted, pan) == pin


@pytest.mark.parametrize("command", ["CI", "G0"])
async def test_dukpt_translation_matches_pydukpt(raw: RawHsm, command: str) -> None:
    rng = random.Random(command)
    zpk_clear = force_odd_parity(rng.randbytes(16))
    zpk = TEST_LMK.encrypt_key(zpk_clear, "001")
    for _ in range(60):
        bdk_clear = force_odd_parity(rng.randbytes(16))
        ksn = rng.randbytes(7) + (rng.getrandbits(21) | 1).to_bytes(3, "big")
        pin = random_digits(rng, rng.randint(4, 12))
        pan = random_digits(rng, rng.randint(13, 19))
        key = pydukpt.derive_key(pydukpt.derive_ipek(bdk_clear, ksn), ksn)
        block = pydukpt.encrypt_pin(key, pin, pan).hex().upper()
        source_format = "01" if command == "G0" else ""
        reply = await raw.command(
            command,
            TEST_LMK.encrypt_key(bdk_clear, "009") + zpk + "A05" + ksn.hex().upper() + block
            + source_format + "47" + account12(pan),
        )
        assert reply.error_code == "00"
        decrypted = tdes.decrypt_ecb(zpk_clear, bytes.fromhex(reply.fields[2:18].decode()))
        assert pinblock.decode_pinblock_iso_3(decrypted, pan) == pin


async def test_macs_match_psec_whole_and_in_pieces(raw: RawHsm) -> None:
    rng = random.Random(11)
    for _ in range(60):
        algorithm = rng.choice(["01", "03"])
        key_clear = force_odd_parity(rng.randbytes(16 if algorithm == "03" else rng.choice((8, 16))))
        padding = rng.choice(["1", "2"])
        data = rng.randbytes(rng.randint(1, 200))
        key_type = rng.choice(["003", "008"])
        key = TEST_LMK.encrypt_key(key_clear, key_type, "Z" if len(key_clear) == 8 else "U")
        if algorithm == "03":
            expected = psec_mac.generate_retail_mac(key_clear[:8], key_clear[8:], data, int(padding))
        else:
            expected = psec_mac.generate_cbc_mac(key_clear, data, int(padding))
        head = b"0" + b"1" + algorithm.encode() + padding.encode() + key_type.encode() + key.encode()
        whole = await raw.command("M6", head + f"{2 * len(data):04X}".encode() + data.hex().encode())
        assert (whole.error_code, whole.fields) == ("00", expected[:4].hex().upper().encode())

        # The same message as first piece + final piece, the IV carried between them.
        split = 8 * rng.randint(0, (len(data) - 1) // 8)
        if split:
            first = b"1" + head[1:] + f"{2 * split:04X}".encode() + data[:split].hex().encode()
            iv = (await raw.command("M6", first)).fields
            final = (
                b"3" + head[1:] + iv + f"{2 * (len(data) - split):04X}".encode()
                + data[split:].hex().encode()
            )
            pieces = await raw.command("M8", final + expected[:4].hex().upper().encode())
            assert pieces.error_code == "00"
