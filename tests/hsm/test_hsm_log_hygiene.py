"""No PIN, PIN block, key or decimalisation table reaches the logs, even at DEBUG."""

from __future__ import annotations

import logging

import pytest
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    PVK_CLEAR,
    TEST_LMK,
    TPK,
    TPK_CLEAR,
    VALIDATION_DATA,
    RawHsm,
    account12,
    encrypted_pin_block,
    read_rsa_public_key,
    tdes_encrypt,
)
from psec import pinblock

from atm_switch.hsm_link import HsmLink
from hsm_mock import HsmServer
from hsm_mock.lmk import PAIR_NAMES

PINS = ["271828", "314159", "161803", "141421", "173205"]
PAN = "5264220000100010"


async def test_logs_never_show_secrets(
    hsm: HsmServer, raw: RawHsm, link: HsmLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = account12(PAN)
    secrets: set[str] = {TPK_CLEAR.hex(), PVK_CLEAR.hex(), TPK[1:], PVK[1:], DEC_TABLE}
    secrets |= {TEST_LMK.pair(name).hex() for name in PAIR_NAMES}
    for pin in PINS:
        clear_block = pinblock.encode_pinblock_iso_0(pin, PAN)
        block = tdes_encrypt(TPK_CLEAR, clear_block).hex().upper()
        encrypted_pin = (await raw.command("BA", pin.ljust(13, "F") + account)).fields.decode()
        offset = (
            await raw.command(
                "DE", PVK + encrypted_pin + "06" + account + DEC_TABLE + VALIDATION_DATA
            )
        ).fields.decode()
        secrets |= {pin, clear_block.hex(), block, encrypted_pin, offset}
        for attempt in (pin, pin[::-1]):
            await link.verify_pin_ibm3624(
                tpk_lmk=TPK,
                pvk_lmk=PVK,
                pin_block_hex=encrypted_pin_block(attempt, PAN),
                pin_block_format="01",
                account12=account,
                check_length=6,
                dec_table=DEC_TABLE,
                validation_data=VALIDATION_DATA,
                offset=offset,
            )
        # Malformed and refused requests log too: they must not echo their input.
        await raw.command("DA", TPK + PVK + "12" + block + "02" + "06" + account)
        await raw.command(
            "DA",
            TPK + PVK + "12" + block + "01" + "06" + account + "0" * 16 + VALIDATION_DATA + offset,
        )
    generated = (await raw.command("A0", "0002U")).fields.decode()
    secrets.add(generated[1:33])
    await raw.command("BU", "021" + TPK)

    logged = caplog.text.upper()
    assert "CMD=DA ERR=02" in logged and "CMD=DA ERR=01" in logged and "CMD=DE" in logged
    leaked = sorted(s for s in secrets if s.upper() in logged)
    assert leaked == []


async def test_translation_exchange_and_mac_commands_log_no_secrets(
    raw: RawHsm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    zpk_clear = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    zmk_clear = bytes.fromhex("98F8BFD5FB58DACEFDCD1C675DA19EAD")
    bdk_clear = bytes.fromhex("13345779133457791334577913345779")
    zpk = TEST_LMK.encrypt_key(zpk_clear, "001")
    zmk = TEST_LMK.encrypt_key(zmk_clear, "000")
    bdk = TEST_LMK.encrypt_key(bdk_clear, "009")
    tak = TEST_LMK.encrypt_key(zpk_clear, "003")
    account = account12(PAN)
    secrets: set[str] = {k.hex() for k in (zpk_clear, zmk_clear, bdk_clear)}
    secrets |= {zpk[1:], zmk[1:], bdk[1:], tak[1:]}
    for pin in PINS:
        block = encrypted_pin_block(pin, PAN)
        translated = await raw.command("CA", TPK + zpk + "12" + block + "01" + "47" + account)
        secrets |= {pin, block, translated.fields[2:18].decode()}
        await raw.command("CC", zpk + zpk + "12" + block + "01" + "05" + account)  # 23
        await raw.command("G0", bdk + zpk + "A05" + "FFFF9876543210E00001" + block + "0101" + account)
    exported = await raw.command("A8", "001" + zmk + zpk + "X")
    secrets.add(exported.fields[1:33].decode())
    await raw.command("A6", "001" + zmk + exported.fields[:33].decode() + "U")
    message = b"secret payment message body 1234"
    mac = await raw.command("M6", b"02010003" + tak.encode() + b"0020" + message)
    secrets |= {message.decode(), mac.fields.decode()}

    logged = caplog.text.upper()
    assert "CMD=CA ERR=00" in logged and "CMD=CC ERR=23" in logged and "CMD=M6 ERR=00" in logged
    assert "CMD=A8 ERR=00" in logged and "CMD=G0" in logged
    leaked = sorted(s for s in secrets if s and s.upper() in logged)
    assert leaked == []



async def test_rsa_commands_log_no_key_material(
    raw: RawHsm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = await raw.command("EI", "0102402")
    (modulus, _), rest = read_rsa_public_key(reply.fields)
    length, cryptogram = rest[:4], rest[4:]
    await raw.command("EW", b"060101" + b"0014secret-message;99" + length + cryptogram)
    tampered = cryptogram[:-1] + bytes((cryptogram[-1] ^ 1,))
    await raw.command("EW", b"060101" + b"0014secret-message;99" + length + tampered)
    logged = caplog.text.upper()
    assert "CMD=EI ERR=00" in logged and "CMD=EW ERR=00" in logged and "CMD=EW ERR=49" in logged
    for secret in (f"{modulus:X}"[:32], cryptogram[:16].hex().upper(), "SECRET-MESSAGE"):
        assert secret not in logged
