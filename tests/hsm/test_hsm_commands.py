"""Host commands over TCP, checked against published vectors and each other."""

from __future__ import annotations

import pytest
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    TEST_LMK,
    TPK,
    VALIDATION_DATA,
    ZPK,
    RawHsm,
    account12,
    encrypted_pin_block,
)

from hsm_mock.pin_verification import ibm3624_offset

DEMO_PAN = "5264220000100010"
DEMO_PIN = "123456"
DEMO_KEYS = {  # docs/demo-data.md demo keys and their published check values
    "BCCB7A64310B9DA43E7A529EAD7591A7": "1CF334",
    "E5DC0880CE4094C21A89FB6EC204B0E6": "363645",
    "C48F46EF0420CBF88C1980D62616E97C": "04A9A2",
    "B968FE5B0D1F13924AFD49FB1AF40223": "808A4B",
}
VISA_PVK_PAIR = bytes.fromhex("13345779133457791334577913345779")


async def pin_under_lmk(raw: RawHsm, pin: str, account: str) -> str:
    reply = await raw.command("BA", pin.ljust(13, "F") + account)
    assert (reply.response_code, reply.error_code) == ("BB", "00")
    return reply.fields.decode()


async def offset_for(raw: RawHsm, pin: str, pan: str, check_length: int = 6) -> str:
    encrypted = await pin_under_lmk(raw, pin, account12(pan))
    fields = PVK + encrypted + f"{check_length:02d}" + account12(pan) + DEC_TABLE + VALIDATION_DATA
    reply = await raw.command("DE", fields)
    # The demo PVK is double length: a payShield warns (02) and generates with TDES.
    assert (reply.response_code, reply.error_code) == ("DF", "02")
    return reply.fields.decode()


def da_fields(
    pin_block: str,
    offset: str,
    pan: str = DEMO_PAN,
    *,
    fmt: str = "01",
    check_length: int = 6,
    pin_key: str = TPK,
    pvk: str = PVK,
) -> str:
    return (
        pin_key
        + pvk
        + "12"
        + pin_block
        + fmt
        + f"{check_length:02d}"
        + account12(pan)
        + DEC_TABLE
        + VALIDATION_DATA
        + offset
    )


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        (b"0010" + b"0123456789ABCDEF", b"0123456789ABCDEF"),
        (b"0000", b""),
        (b"0005" + b"\x00\x19\xffab", b"\x00\x19\xffab"),
    ],
)
async def test_b2_echoes_its_data(raw: RawHsm, request_fields: bytes, expected: bytes) -> None:
    reply = await raw.command("B2", request_fields)
    assert (reply.response_code, reply.error_code, reply.fields) == ("B3", "00", expected)


@pytest.mark.parametrize(("clear", "check"), sorted(DEMO_KEYS.items()))
async def test_bu_gives_the_demo_keys_published_check_values(
    raw: RawHsm, clear: str, check: str
) -> None:
    encrypted = TEST_LMK.encrypt_key(bytes.fromhex(clear), "002")
    legacy = await raw.command("BU", "021" + encrypted)
    six = await raw.command("BU", "021" + encrypted + ";U01")
    assert (legacy.response_code, legacy.error_code) == ("BV", "00")
    assert len(legacy.fields) == 16 and legacy.fields.decode().startswith(check)
    assert (six.error_code, six.fields.decode()) == ("00", check)


async def test_bu_reads_the_key_type_after_the_delimiter_for_ff(raw: RawHsm) -> None:
    reply = await raw.command("BU", "FF1" + ZPK + ";001;U01")
    assert (reply.error_code, reply.fields) == ("00", b"08D7B4")


async def test_a0_generates_a_key_whose_check_value_bu_confirms(raw: RawHsm) -> None:
    generated = await raw.command("A0", "0002U")
    assert (generated.response_code, generated.error_code) == ("A1", "00")
    key, check = generated.fields[:33].decode(), generated.fields[33:].decode()
    assert key[0] == "U" and len(check) == 6
    confirmed = await raw.command("BU", "021" + key + ";U01")
    assert confirmed.fields.decode() == check


@pytest.mark.parametrize(("scheme", "length"), [("Z", 16), ("U", 33), ("T", 49)])
async def test_a0_key_length_follows_the_scheme(raw: RawHsm, scheme: str, length: int) -> None:
    reply = await raw.command("A0", "0001" + scheme)
    assert reply.error_code == "00"
    assert len(reply.fields) == length + 6


async def test_dg_reproduces_the_published_visa_pvv(raw: RawHsm) -> None:
    # PVK pair 1334577913345779 1334577913345779, PAN 1234567890123, PVKI 0, PIN 1234.
    pvk_pair = TEST_LMK.encrypt_key(VISA_PVK_PAIR, "002")
    account = account12("1234567890123")
    encrypted_pin = await pin_under_lmk(raw, "1234", account)
    reply = await raw.command("DG", pvk_pair + encrypted_pin + account + "0")
    assert (reply.response_code, reply.error_code, reply.fields) == ("DH", "00", b"1226")


async def test_dg_accepts_the_pvk_pair_as_two_single_keys(raw: RawHsm) -> None:
    halves = "".join(TEST_LMK.encrypt_key(VISA_PVK_PAIR[i : i + 8], "002", "Z") for i in (0, 8))
    account = account12("1234567890123")
    encrypted_pin = await pin_under_lmk(raw, "1234", account)
    reply = await raw.command("DG", halves + encrypted_pin + account + "0")
    assert (reply.error_code, reply.fields) == ("00", b"1226")


async def test_pin_under_lmk_is_bound_to_its_account(raw: RawHsm) -> None:
    a = await pin_under_lmk(raw, DEMO_PIN, "000000000001")
    b = await pin_under_lmk(raw, DEMO_PIN, "000000000002")
    assert a != b and len(a) == len(b) == 13 and a.isdigit()


async def test_de_offset_matches_the_pure_helper(raw: RawHsm) -> None:
    from hsm_helpers import PVK_CLEAR

    offset = await offset_for(raw, DEMO_PIN, DEMO_PAN)
    assert offset == ibm3624_offset(
        PVK_CLEAR, DEMO_PIN, VALIDATION_DATA, account12(DEMO_PAN), DEC_TABLE, 6
    )
    assert offset.endswith("FFFFFF") and offset[:6].isdigit()


async def test_da_verifies_a_six_digit_pin_and_rejects_a_last_digit_change(raw: RawHsm) -> None:
    offset = await offset_for(raw, DEMO_PIN, DEMO_PAN)
    right = await raw.command("DA", da_fields(encrypted_pin_block(DEMO_PIN, DEMO_PAN), offset))
    wrong = await raw.command("DA", da_fields(encrypted_pin_block("123457", DEMO_PAN), offset))
    assert (right.response_code, right.error_code) == ("DB", "02")  # verified, TDES warning
    assert (wrong.response_code, wrong.error_code) == ("DB", "01")


async def test_da_check_length_4_ignores_digits_after_the_fourth(raw: RawHsm) -> None:
    offset = await offset_for(raw, DEMO_PIN, DEMO_PAN, check_length=4)
    block = encrypted_pin_block("123499", DEMO_PAN)
    reply = await raw.command("DA", da_fields(block, offset, check_length=4))
    assert reply.error_code == "02"


async def test_da_accepts_iso_format_3(raw: RawHsm) -> None:
    offset = await offset_for(raw, DEMO_PIN, DEMO_PAN)
    block = encrypted_pin_block(DEMO_PIN, DEMO_PAN, fmt="47")
    assert (await raw.command("DA", da_fields(block, offset, fmt="47"))).error_code == "02"


async def test_da_pin_is_bound_to_the_card(raw: RawHsm) -> None:
    offset = await offset_for(raw, DEMO_PIN, DEMO_PAN)
    other_card = "5264220000100028"
    block = encrypted_pin_block(DEMO_PIN, other_card)
    reply = await raw.command("DA", da_fields(block, offset, pan=other_card))
    assert reply.error_code == "01"


async def test_ea_verifies_under_a_zpk(raw: RawHsm) -> None:
    from hsm_helpers import ZPK_CLEAR

    offset = await offset_for(raw, DEMO_PIN, DEMO_PAN)
    block = encrypted_pin_block(DEMO_PIN, DEMO_PAN, key=ZPK_CLEAR)
    reply = await raw.command("EA", da_fields(block, offset, pin_key=ZPK))
    assert (reply.response_code, reply.error_code) == ("EB", "02")
    # The same block under a TPK field is decrypted with the wrong key.
    assert (await raw.command("DA", da_fields(block, offset))).error_code not in ("00", "02")


@pytest.mark.parametrize(
    ("code", "pin_key_name", "reply_code"), [("DC", "TPK", "DD"), ("EC", "ZPK", "ED")]
)
async def test_pvv_verification(raw: RawHsm, code: str, pin_key_name: str, reply_code: str) -> None:
    import hsm_helpers

    pin_key = getattr(hsm_helpers, pin_key_name)
    clear_key = getattr(hsm_helpers, pin_key_name + "_CLEAR")
    pan = "1234567890123"
    pvk_pair = TEST_LMK.encrypt_key(VISA_PVK_PAIR, "002")

    def fields(pin: str) -> str:
        return (
            pin_key
            + pvk_pair
            + encrypted_pin_block(pin, pan, key=clear_key)
            + "01"
            + account12(pan)
            + "0"
            + "1226"
        )

    right = await raw.command(code, fields("1234"))
    wrong = await raw.command(code, fields("1235"))
    assert (right.response_code, right.error_code) == (reply_code, "00")
    assert wrong.error_code == "01"


async def test_ibm_3624_with_a_single_length_pvk_answers_00_and_a_double_one_02(
    raw: RawHsm,
) -> None:
    single_pvk = bytes.fromhex("0123456789ABCDEF")
    account = account12(DEMO_PAN)
    offset = ibm3624_offset(single_pvk, DEMO_PIN, VALIDATION_DATA, account, DEC_TABLE, 6)
    block = encrypted_pin_block(DEMO_PIN, DEMO_PAN)
    single = TEST_LMK.encrypt_key(single_pvk, "002", scheme="Z")
    reply = await raw.command("DA", da_fields(block, offset, pvk=single))
    assert (reply.response_code, reply.error_code) == ("DB", "00")
    # The same PVK doubled (K || K) is the same TDES key: verified, with the warning.
    doubled = TEST_LMK.encrypt_key(single_pvk * 2, "002")
    assert (await raw.command("DA", da_fields(block, offset, pvk=doubled))).error_code == "02"
    wrong = encrypted_pin_block("999999", DEMO_PAN)
    assert (await raw.command("DA", da_fields(wrong, offset, pvk=doubled))).error_code == "01"
    encrypted = await pin_under_lmk(raw, DEMO_PIN, account)
    de = await raw.command(
        "DE", single + encrypted + "06" + account + DEC_TABLE + VALIDATION_DATA)
    assert (de.error_code, de.fields.decode()) == ("00", offset)
