"""Published vectors reproduced over TCP: what a real payShield with the test LMK answers."""

from __future__ import annotations

import pytest
from hsm_helpers import TEST_LMK, RawHsm, encrypted_pin_block, tdes_encrypt

from atmsim.kernel.crypto import tdes

# jPOS JCESecurityModuleTest keys "under standard LMK test key" with their check
# values: clear 12345678 (parity adjusted: 13345779) repeated, and 87654321.
JPOS_KEYS = [
    ("001", "U34E2FC8EAD7CD07BFA2B7ED5FE4D8212", "6FB1C8"),  # ZPK
    ("002", "UE9F05D2F2DB8A8579CA3E806B35E336F", "6FB1C8"),  # TPK
    ("002", "141E1DA3D2D7F3F4", "6FB1C8"),  # PVK, scheme Z
    ("402", "U479D751977AA598CB481F548226DBF2B", "6FB1C8"),  # CVK
    ("402", "56FBB74CDEAD6949", "6FB1C8"),  # CVK A
    ("402", "69E636CF27A47EEE", "AAB151"),  # CVK B
    ("109", "U0D39A43C864D1B40F33998B80BB02C95", "6FB1C8"),  # MK-AC
    ("709", "UDBD2D13CCA57AAAF3E477E0646EF10C9", "6FB1C8"),  # MK-CVC3
    ("00B", "UAAD5E90B44EE630E3D76D6CEC1F4AA72", "6FB1C8"),  # DEK
]
JPOS_ZPK, JPOS_TPK, JPOS_PVK_HALF = (k for _, k, _ in JPOS_KEYS[:3])
JPOS_CLEAR = bytes.fromhex("13345779133457791334577913345779")
BDK_CLEAR = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def bu_fields(key_type: str, key: str) -> str:
    length_flag = {16: "0", 33: "1", 32: "1", 49: "2"}[len(key)]
    return "FF" + length_flag + key + ";" + key_type + ";" + "001"


@pytest.mark.parametrize(("key_type", "key", "check"), JPOS_KEYS)
async def test_jpos_test_keys_have_their_published_check_values(
    raw: RawHsm, key_type: str, key: str, check: str
) -> None:
    reply = await raw.command("BU", bu_fields(key_type, key))
    assert (reply.response_code, reply.error_code, reply.fields.decode()) == ("BV", "00", check)


async def test_published_kcv_0123_fedc_is_08d7b4(raw: RawHsm) -> None:
    zpk = TEST_LMK.encrypt_key(BDK_CLEAR, "001")
    reply = await raw.command("BU", "011" + zpk + ";U01")
    assert (reply.error_code, reply.fields) == ("00", b"08D7B4")


async def test_visa_pvv_1226_with_the_jpos_tpk_and_pvk_pair(raw: RawHsm) -> None:
    # PVK pair 1334577913345779 1334577913345779, PAN 1234567890123, PVKI 0, PIN 1234.
    block = encrypted_pin_block("1234", "1234567890123", key=JPOS_CLEAR)
    fields = JPOS_TPK + JPOS_PVK_HALF * 2 + block + "01" + "123456789012" + "0"
    right = await raw.command("DC", fields + "1226")
    wrong = await raw.command("DC", fields + "1227")
    assert (right.response_code, right.error_code) == ("DD", "00")
    assert wrong.error_code == "01"


async def test_iso0_block_92389_is_0592789fffedcba9(raw: RawHsm) -> None:
    # Manual example: PIN 92389, PAN 4000 0012 3456 2. Turned into ISO 0 by CC from
    # an IBM 3624 block under the same ZPK, then decrypted here.
    ibm_block = tdes_encrypt(JPOS_CLEAR, bytes.fromhex("92389FFFFFFFFFFF")).hex().upper()
    reply = await raw.command(
        "CC", JPOS_ZPK + JPOS_ZPK + "12" + ibm_block + "03" + "01" + "400000123456"
    )
    assert (reply.response_code, reply.error_code) == ("CD", "00")
    assert reply.fields[:2] == b"05" and reply.fields[18:] == b"01"
    clear = tdes.decrypt_ecb(JPOS_CLEAR, bytes.fromhex(reply.fields[2:18].decode()))
    assert clear.hex().upper() == "0592789FFFEDCBA9"


@pytest.mark.parametrize(
    ("source_block", "source_format"),
    [("3C0CA40863092C3A", "01"), ("07438C40F225BF7D", "05")],
)
async def test_jpos_pin_blocks_under_the_jpos_zpk(
    raw: RawHsm, source_block: str, source_format: str
) -> None:
    # jPOS: PIN 1234, account 123456789012, under the 6FB1C8 ZPK, formats 01 and 05.
    reply = await raw.command(
        "CC", JPOS_ZPK + JPOS_ZPK + "12" + source_block + source_format + "01" + "123456789012"
    )
    assert (reply.error_code, reply.fields) == ("00", b"04" + b"3C0CA40863092C3A" + b"01")


async def test_retail_mac_iso9797_b4(raw: RawHsm) -> None:
    # ISO/IEC 9797-1 B.4: "Now is the time for all " under 0123456789ABCDEF/FEDCBA9876543210.
    tak = TEST_LMK.encrypt_key(BDK_CLEAR, "003")
    message = b"Now is the time for all "
    fields = b"0" + b"2" + b"03" + b"1" + b"003" + tak.encode() + b"0018" + message
    generated = await raw.command("M6", fields)
    verified = await raw.command("M8", fields + b"A1C72E74")
    forged = await raw.command("M8", fields + b"A1C72E75")
    assert (generated.response_code, generated.error_code) == ("M7", "00")
    assert generated.fields == b"A1C72E74"  # left half of A1C72E74EA3FA9B6
    assert (verified.response_code, verified.error_code) == ("M9", "00")
    assert forged.error_code == "01"


async def test_x99_mac_of_now_is_the_time(raw: RawHsm) -> None:
    # ANSI X9.9 (ISO 9797-1 algorithm 1, single DES) under 0123456789ABCDEF.
    tak = TEST_LMK.encrypt_key(BDK_CLEAR[:8], "003", "Z")
    fields = b"0" + b"1" + b"01" + b"0" + b"003" + tak.encode() + b"0030"
    fields += b"Now is the time for all ".hex().upper().encode()
    reply = await raw.command("M6", fields)
    assert (reply.error_code, reply.fields) == ("00", b"70A30640")


@pytest.mark.parametrize(
    ("command", "ksn", "expected_block"),
    [
        # X9.24-1 TDES DUKPT: BDK 0123...3210, PIN 1234, PAN 4012345678909.
        ("G0", "FFFF9876543210E00001", "1B9C1845EB993A7A"),
        ("G0", "FFFF9876543210E00002", "10A01C8D02C69107"),
        ("CI", "FFFF9876543210E00001", "1B9C1845EB993A7A"),
        ("CI", "FFFF9876543210EFF800", "33365F5CC6F23C35"),
    ],
)
async def test_dukpt_published_blocks_translate_to_the_zpk(
    raw: RawHsm, command: str, ksn: str, expected_block: str
) -> None:
    bdk = TEST_LMK.encrypt_key(BDK_CLEAR, "009")
    source_format = "01" if command == "G0" else ""
    fields = (
        bdk + JPOS_ZPK + "A05" + ksn + expected_block + source_format + "01" + "401234567890"
    )
    reply = await raw.command(command, fields)
    assert (reply.error_code, reply.fields[:2], reply.fields[18:]) == ("00", b"04", b"01")
    clear = tdes.decrypt_ecb(JPOS_CLEAR, bytes.fromhex(reply.fields[2:18].decode()))
    assert clear.hex().upper() == "041274EDCBA9876F"  # ISO 0, PIN 1234, PAN 4012345678909


async def test_dukpt_ksn_descriptor_605_takes_a_16_digit_ksn(raw: RawHsm) -> None:
    bdk = TEST_LMK.encrypt_key(BDK_CLEAR, "009")
    fields = bdk + JPOS_ZPK + "605" + "9876543210E00001" + "1B9C1845EB993A7A" + "01"
    reply = await raw.command("G0", fields + "01" + "401234567890")
    assert reply.error_code == "00"
