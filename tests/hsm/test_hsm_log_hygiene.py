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
    assert "CMD=DA ERR=00" in logged and "CMD=DA ERR=01" in logged and "CMD=DE" in logged
    leaked = sorted(s for s in secrets if s.upper() in logged)
    assert leaked == []
