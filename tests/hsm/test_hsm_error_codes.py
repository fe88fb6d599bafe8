"""Each Thales error code this HSM implements, provoked over TCP."""

from __future__ import annotations

import pytest
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    TEST_LMK,
    TPK,
    TPK_CLEAR,
    VALIDATION_DATA,
    ZPK,
    ZPK_CLEAR,
    RawHsm,
    account12,
    encrypted_pin_block,
    tdes_encrypt,
)

from hsm_mock import HsmServer

PAN = "5264220000100010"
ACCOUNT = account12(PAN)
OFFSET = "123456FFFFFF"
# Clear demo key with the parity bit of its first byte flipped.
BAD_PARITY_KEY = bytes([TPK_CLEAR[0] ^ 1]) + TPK_CLEAR[1:]
BAD_ZPK = TEST_LMK.encrypt_key(BAD_PARITY_KEY, "001")
BAD_ZMK = TEST_LMK.encrypt_key(BAD_PARITY_KEY, "000")
ZMK = TEST_LMK.encrypt_key(TPK_CLEAR, "000")
TAK = TEST_LMK.encrypt_key(TPK_CLEAR, "003")


def da(
    *,
    tpk: str = TPK,
    pvk: str = PVK,
    block: str | None = None,
    fmt: str = "01",
    dec_table: str = DEC_TABLE,
    offset: str = OFFSET,
) -> str:
    block = block or encrypted_pin_block("123456", PAN)
    return tpk + pvk + "12" + block + fmt + "06" + ACCOUNT + dec_table + VALIDATION_DATA + offset


def cc(
    source_format: str,
    destination_format: str,
    *,
    source: str = ZPK,
    destination: str = ZPK,
    account: str = ACCOUNT,
) -> str:
    block = encrypted_pin_block("123456", PAN, key=ZPK_CLEAR)
    return (
        source + destination + "12" + block + source_format + destination_format + account
    )


def iso0_block_from_pin_field(pin_field: str) -> str:
    """Encrypt an arbitrary (possibly invalid) ISO 0 PIN field for PAN."""
    clear = bytes(
        a ^ b
        for a, b in zip(bytes.fromhex(pin_field), bytes.fromhex("0000" + ACCOUNT), strict=True)
    )
    return tdes_encrypt(TPK_CLEAR, clear).hex().upper()


CASES = {
    "01 verification failure": ("DA", da(), "DB", "01"),
    "04 invalid key type code": ("BU", "0Z1" + TPK, "BV", "04"),
    "05 invalid key length flag": ("BU", "023" + TPK, "BV", "05"),
    "10 source key parity": ("DA", da(tpk=TEST_LMK.encrypt_key(BAD_PARITY_KEY, "002")), "DB", "10"),
    "11 PVK parity": ("DA", da(pvk=TEST_LMK.encrypt_key(BAD_PARITY_KEY, "002")), "DB", "11"),
    "14 PIN under LMK invalid": (
        "DE",
        PVK + "0" * 13 + "06" + ACCOUNT + DEC_TABLE + VALIDATION_DATA,
        "DF",
        "14",
    ),
    "15 invalid input": ("DA", da(block="NOT-HEX-PINBLOCK"), "DB", "15"),
    "20 PIN block values": (
        "DA",
        da(block=iso0_block_from_pin_field("0612A456FFFFFFFF")),
        "DB",
        "20",
    ),
    "23 PIN block format": ("DA", da(fmt="02"), "DB", "23"),
    "24 PIN length": ("DA", da(block=iso0_block_from_pin_field("03123FFFFFFFFFFF")), "DB", "24"),
    "25 decimalisation table": ("DA", da(dec_table="0000000000000000"), "DB", "25"),
    "26 key scheme": ("DA", da(tpk="Q" + TPK[1:]), "DB", "26"),
    "27 key length": (
        "DC",
        TPK
        + TEST_LMK.encrypt_key(bytes(24), "002", "T")
        + encrypted_pin_block("1234", PAN)
        + "01"
        + ACCOUNT
        + "0"
        + "1226",
        "DD",
        "27",
    ),
    "80 data length": ("B2", "000F" + "0123456789ABCDEF", "B3", "80"),
    "80 MAC message length": ("M6", "02011003" + TAK + "0010" + "too short", "M7", "80"),
    "12 key in user storage": ("DA", da(tpk="K001"), "DB", "12"),
    "13 LMK identifier": ("NC", "%01", "ND", "13"),
    "23 PCI-forbidden translation ISO 0 to ISO 1": ("CC", cc("01", "05"), "CD", "23"),
    "23 PCI-forbidden translation ISO 0 to IBM 3624": ("CC", cc("01", "03"), "CD", "23"),
    "23 ISO 4 needs an AES key": ("CC", cc("01", "48"), "CD", "23"),
    "22 account number": ("CC", cc("01", "47", account="12345678901X"), "CD", "22"),
    "10 source ZPK parity": ("CC", cc("01", "01", source=BAD_ZPK), "CD", "10"),
    "11 destination ZPK parity": ("CC", cc("01", "01", destination=BAD_ZPK), "CD", "11"),
    "10 ZMK parity on import": ("A6", "001" + BAD_ZMK + "X" + "0" * 32 + "U", "A7", "10"),
    "26 key scheme under ZMK": ("A8", "001" + ZMK + ZPK + "Q", "A9", "26"),
    "27 MAC algorithm 3 needs a double key": (
        "M6",
        "02031003" + TEST_LMK.encrypt_key(TPK_CLEAR[:8], "003", "Z") + "0008" + "12345678",
        "M7",
        "27",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_error_code(raw: RawHsm, case: str) -> None:
    code, fields, response_code, error_code = CASES[case]
    reply = await raw.command(code, fields)
    assert (reply.response_code, reply.error_code, reply.fields) == (response_code, error_code, b"")


async def test_68_command_disabled() -> None:
    async with HsmServer(port=0, disabled_commands={"DA"}) as server:
        client = await RawHsm.connect(server.port)
        disabled = await client.command("DA", da())
        still_on = await client.command("NC")
        await client.close()
    assert (disabled.response_code, disabled.error_code) == ("DB", "68")
    assert still_on.error_code == "00"


async def test_b2_declared_length_longer_than_the_data_is_15(raw: RawHsm) -> None:
    reply = await raw.command("B2", "0011" + "0123456789ABCDEF")
    assert reply.error_code == "15"


async def test_the_default_lmk_identifier_is_accepted(raw: RawHsm) -> None:
    assert (await raw.command("NC", "%00")).error_code == "00"


async def test_every_listed_error_code_is_provoked() -> None:
    # The list: each must have a case above (68 has its own test).
    listed = {"01", "10", "11", "12", "13", "15", "20", "23", "24", "25", "26", "27", "80"}
    provoked = {expected for _, _, _, expected in CASES.values()}
    assert listed <= provoked
