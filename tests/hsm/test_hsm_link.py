"""HsmLink, the switch's HSM client, against a real HsmServer and failing HSMs."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    PVK_CLEAR,
    TEST_LMK,
    TPK,
    VALIDATION_DATA,
    account12,
    encrypted_pin_block,
)

from atm_switch.hsm_link import HsmLink, HsmUnavailable
from hsm_mock import HsmServer
from hsm_mock.pin_verification import ibm3624_offset

CARDS = {  # docs/demo-data.md demo cards
    "5264220000100010": "123456",
    "5264220000100028": "246810",
    "5264220000100036": "112233",
    "5264220000100044": "654321",
    "5264220000100051": "135790",
    "5371760000200062": "999111",
}
OFFSETS = {
    pan: ibm3624_offset(PVK_CLEAR, pin, VALIDATION_DATA, account12(pan), DEC_TABLE, 6)
    for pan, pin in CARDS.items()
}


async def verify(link: HsmLink, pan: str, pin: str) -> str:
    return await link.verify_pin_ibm3624(
        tpk_lmk=TPK,
        pvk_lmk=PVK,
        pin_block_hex=encrypted_pin_block(pin, pan),
        pin_block_format="01",
        account12=account12(pan),
        check_length=6,
        dec_table=DEC_TABLE,
        validation_data=VALIDATION_DATA,
        offset=OFFSETS[pan],
    )


async def test_verify_and_diagnostics(link: HsmLink) -> None:
    # 02: verified, with the warning a payShield gives for a double-length PVK.
    assert await verify(link, "5264220000100010", "123456") == "02"
    assert await verify(link, "5264220000100010", "123450") == "01"
    lmk_check, firmware = await link.diagnostics()
    assert lmk_check == TEST_LMK.check_value() and len(firmware) == 9


async def test_visa_pvv_verification(link: HsmLink) -> None:
    pan = "1234567890123"
    pvk_pair = TEST_LMK.encrypt_key(bytes.fromhex("13345779133457791334577913345779"), "002")

    async def check(pin: str) -> str:
        return await link.verify_pin_pvv(
            tpk_lmk=TPK,
            pvk_lmk=pvk_pair,
            pin_block_hex=encrypted_pin_block(pin, pan),
            pin_block_format="01",
            account12=account12(pan),
            pvki=0,
            pvv="1226",
        )

    assert (await check("1234"), await check("4321")) == ("00", "01")


async def test_200_concurrent_verifications_share_one_connection(
    hsm: HsmServer, link: HsmLink
) -> None:
    rng = random.Random(7)
    calls = []
    for _ in range(200):
        pan, pin = rng.choice(sorted(CARDS.items()))
        right = rng.random() < 0.5
        calls.append((pan, pin if right else pin[:-1] + str((int(pin[-1]) + 1) % 10), right))
    results = await asyncio.gather(*(verify(link, pan, pin) for pan, pin, _ in calls))
    assert results == ["02" if right else "01" for _, _, right in calls]
    assert hsm.connection_count == 1


async def test_stopped_hsm_fails_fast_and_the_link_recovers_on_restart() -> None:
    server = HsmServer(port=0)
    await server.start()
    port = server.port
    link = HsmLink("127.0.0.1", port, deadline=0.5)
    assert await verify(link, "5264220000100010", "123456") == "02"

    await server.close()
    for _ in range(2):  # the live connection drops, then connecting is refused
        started = time.monotonic()
        with pytest.raises(HsmUnavailable):
            await verify(link, "5264220000100010", "123456")
        assert time.monotonic() - started < 0.5 + 0.25

    async with HsmServer(port=port):
        assert await verify(link, "5264220000100010", "123456") == "02"
    await link.close()


async def fake_hsm(
    on_connection: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
async def silent_hsm() -> AsyncIterator[int]:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass
        writer.close()

    async for port in fake_hsm(swallow):
        yield port


@pytest.fixture
async def hsm_that_hangs_up() -> AsyncIterator[int]:
    async def hang_up_after_five(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for _ in range(5):
            length = int.from_bytes(await reader.readexactly(2), "big")
            await reader.readexactly(length)
        writer.close()

    async for port in fake_hsm(hang_up_after_five):
        yield port


async def test_slow_hsm_raises_within_the_deadline(silent_hsm: int) -> None:
    link = HsmLink("127.0.0.1", silent_hsm, deadline=0.3)
    started = time.monotonic()
    with pytest.raises(HsmUnavailable):
        await link.diagnostics()
    elapsed = time.monotonic() - started
    await link.close()
    assert 0.25 < elapsed < 0.6


async def test_lost_connection_fails_every_request_in_flight(hsm_that_hangs_up: int) -> None:
    link = HsmLink("127.0.0.1", hsm_that_hangs_up, deadline=5.0)
    started = time.monotonic()
    results = await asyncio.gather(*(link.diagnostics() for _ in range(5)), return_exceptions=True)
    await link.close()
    assert all(isinstance(r, HsmUnavailable) for r in results)
    assert time.monotonic() - started < 1.0  # failed on the hang-up, not the deadline


async def test_a_reply_with_a_header_not_in_flight_is_explained(
        caplog: pytest.LogCaptureFixture) -> None:
    """An HSM that answers under the wrong message header: the link logs the reply with the
    nearest header in flight, and waits for the right one."""

    async def off_by_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = int.from_bytes(await reader.readexactly(2), "big")
        request = await reader.readexactly(length)
        header = request[:4]
        for reply_header in (b"%04d" % (int(header) + 1), header):
            reply = reply_header + b"ND00" + b"0123456789ABCDEF" + b"1500-0001"
            writer.write(len(reply).to_bytes(2, "big") + reply)
        await writer.drain()
        await reader.read()
        writer.close()

    caplog.set_level("WARNING", "atm_switch.hsm_link")
    async for port in fake_hsm(off_by_one):
        link = HsmLink("127.0.0.1", port, deadline=5.0)
        assert await link.diagnostics() == ("0123456789ABCDEF", "1500-0001")
        await link.close()
    assert "reply ND header='0002' matches no pending request; nearest: header='0001'" \
        in caplog.text
    assert "differs in header ('0002' where the request had '0001')" in caplog.text


async def test_a_reply_with_a_warning_has_succeeded(link: HsmLink) -> None:
    account = account12("5264220000100010")
    pin = await link.request("BA", "123456".ljust(13, "F") + account)
    de = await link.request("DE", PVK + pin.fields.decode() + "06" + account + DEC_TABLE
                            + VALIDATION_DATA)
    assert (de.error_code, de.succeeded) == ("02", True)  # double-length PVK: a warning
    assert pin.succeeded and (await link.request("NC")).succeeded
    dg = await link.request("DG", PVK + "0" * 13 + account + "1")
    assert dg.error_code != "00" and not dg.succeeded
