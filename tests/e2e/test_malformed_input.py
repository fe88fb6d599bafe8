"""Malformed input never kills or wedges the switch; other connections keep being served."""

from __future__ import annotations

import asyncio
import os

import iso8583
import pytest

from atm_switch.wire import default_profile
from atmsim.stack import Stack
from tests.e2e.atm import card, inquire, link_to


def _raw(fields: dict[str, str]) -> bytes:
    """Encode without the profile's checks, as a broken ATM driver would."""
    raw, _ = iso8583.encode(dict(fields), default_profile().spec)
    return bytes(raw)


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(2, "big") + body


GOOD_0200 = {"t": "0200", "2": "5264220000100010", "3": "310000", "7": "1121060000",
             "11": "123456", "41": "BNI00001", "49": "360", "52": "0123456789ABCDEF"}


async def _send_and_read(stack: Stack, data: bytes, *, expect_reply: bool,
                         close_after: bool = False) -> bytes | None:
    assert stack.switch is not None
    reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
    writer.write(data)
    await writer.drain()
    if close_after:
        writer.close()
        return None
    try:
        if not expect_reply:
            rest = await asyncio.wait_for(reader.read(), 3)  # the switch closes or stays silent
            return rest
        header = await asyncio.wait_for(reader.readexactly(2), 5)
        return await asyncio.wait_for(reader.readexactly(int.from_bytes(header, "big")), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("field, value", [
    ("3", "31A000"),          # letters in an n field
    ("2", "52642200001000AB"),  # letters in an n LLVAR field
    ("41", "BNI0000\x01"),  # control character in an ans field
    ("52", "0123456789ABCDEZ"),  # a binary field that is not hex
])
async def test_bad_field_gets_30(amqtt_stack: Stack, field: str, value: str) -> None:
    fields = dict(GOOD_0200)
    fields[field] = value
    raw = _raw(fields)
    reply = await _send_and_read(amqtt_stack, _frame(raw), expect_reply=True)
    assert reply is not None
    message, _ = iso8583.decode(bytearray(reply), default_profile().spec)
    assert message["t"] == "0210" and message["39"] == "30"
    assert message["11"] == "123456"


async def test_broken_frames_and_garbage_leave_other_connections_served(
        amqtt_stack: Stack) -> None:
    async with link_to(amqtt_stack) as good:
        attacks = [
            _send_and_read(amqtt_stack, b"\xff\xff" + b"A" * 100, expect_reply=False),  # absurd
            _send_and_read(amqtt_stack, b"\x00\x00", expect_reply=False),  # empty frame
            _send_and_read(amqtt_stack, b"\x01\x00" + b"0200F2", close_after=True,
                           expect_reply=False),  # truncated, then gone
            _send_and_read(amqtt_stack, _frame(os.urandom(60)), expect_reply=False),  # garbage
            _send_and_read(amqtt_stack, _frame(b"02\xe9\xff" + b"\x00" * 30), expect_reply=False),
            _send_and_read(amqtt_stack, _frame(_raw(GOOD_0200)[:-5]), expect_reply=True),
            _send_and_read(amqtt_stack, b"\x00\x50" + b"0800", expect_reply=False),  # stalls
        ]
        attack_task = asyncio.gather(*attacks, return_exceptions=True)
        for _ in range(5):
            _, result = await inquire(good, card("Budi"))
            assert result.response_code == "00"
        results = await attack_task
        truncated_reply = results[5]
        assert isinstance(truncated_reply, bytes)
        assert iso8583.decode(bytearray(truncated_reply), default_profile().spec)[0]["39"] == "30"
        # The switch closed the connections whose framing broke, and stays up for new ones.
        assert results[0] == b"" and results[1] == b""
    async with link_to(amqtt_stack) as fresh:
        assert (await fresh.echo())["39"] == "00"


async def test_unsupported_processing_code_and_mti_get_12(amqtt_stack: Stack) -> None:
    withdrawal = dict(GOOD_0200, **{"3": "011000"})
    reply = await _send_and_read(amqtt_stack, _frame(_raw(withdrawal)), expect_reply=True)
    assert reply is not None
    assert iso8583.decode(bytearray(reply), default_profile().spec)[0]["39"] == "12"
    auth = dict(GOOD_0200, t="0100")
    reply = await _send_and_read(amqtt_stack, _frame(_raw(auth)), expect_reply=True)
    assert reply is not None
    decoded = iso8583.decode(bytearray(reply), default_profile().spec)[0]
    assert (decoded["t"], decoded["39"]) == ("0110", "12")
