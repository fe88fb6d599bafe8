"""Malformed input never kills or wedges the switch; other connections keep being served."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import iso8583
import pytest

from atmsim.kernel.wire import default_profile
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.conftest import stack_settings


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


# -- length prefixes, non-ASCII bytes and other MTIs (one connection per case) -----------

SHORT_0200 = dict(GOOD_0200, **{"32": "009", "35": "5264=3012", "103": "100123456"})


def _spans(raw: bytes) -> dict[str, tuple[int, int, int]]:
    """Where each part of an encoded message sits: key -> (start, prefix length, end)."""
    _, encoded = iso8583.decode(bytearray(raw), default_profile().spec)
    spans, position = {}, 0
    for key, parts in encoded.items():
        size = len(parts["len"]) + len(parts["data"])
        spans[key] = (position, len(parts["len"]), position + size)
        position += size
    return spans


async def _exchange_on_one_link(stack: Stack, body: bytes) -> dict[str, str] | None:
    """Send one message; its decoded answer, or None when none comes. The connection
    must then still answer an echo: a dropped message does not cost the ATM its link."""
    assert stack.switch is not None
    reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
    try:
        writer.write(_frame(body))
        echo = {"t": "0800", "7": "1121060000", "11": "999999", "41": "BNI00001", "70": "301"}
        answer: dict[str, str] | None = None
        try:
            header = await asyncio.wait_for(reader.readexactly(2), 1.0)
            raw = await asyncio.wait_for(reader.readexactly(int.from_bytes(header, "big")), 5)
            answer = default_profile().decode(raw)
        except TimeoutError:
            pass
        writer.write(_frame(default_profile().encode(echo)))
        header = await asyncio.wait_for(reader.readexactly(2), 5)
        raw = await asyncio.wait_for(reader.readexactly(int.from_bytes(header, "big")), 5)
        assert default_profile().decode(raw)["39"] == "00"
        return answer
    finally:
        writer.close()


@pytest.mark.parametrize("prefix", [b" 3", b"+3", b"3 ", b"\t3", b"0\t", b"\xb3\xb3"])
@pytest.mark.parametrize("field, answered", [("2", False), ("32", True), ("35", True),
                                             ("103", True)])
async def test_a_length_prefix_that_is_not_digits_is_a_format_error(
        amqtt_stack: Stack, field: str, answered: bool, prefix: bytes) -> None:
    fields = dict(SHORT_0200, **({"2": "526422000"} if field == "2" else {}))
    raw = _raw(fields)
    start, width, _ = _spans(raw)[field]
    assert width == 2
    body = raw[:start] + prefix + raw[start + 2:]
    answer = await _exchange_on_one_link(amqtt_stack, body)
    if answered:  # field 11 comes before it: the ATM gets a 30 it can match
        assert answer is not None and answer["39"] == "30" and answer["11"] == "123456"
    else:  # the STAN lies beyond a field whose end cannot be known: nothing to address
        assert answer is None


# The ASCII character each field refuses: a letter in a digits field, a 'Z' in a hex one,
# a control character where letters are allowed (41 and 103 are ans, 49 an).
@pytest.mark.parametrize("field, refused", [
    ("t", b"A"), ("2", b"A"), ("3", b"A"), ("7", b"A"), ("11", b"A"), ("41", b"\x01"),
    ("49", b"\x01"), ("52", b"Z"), ("103", b"\x01")])
async def test_a_non_ascii_byte_is_treated_like_a_refused_ascii_character(
        amqtt_stack: Stack, field: str, refused: bytes, caplog: pytest.LogCaptureFixture) -> None:
    raw = _raw(dict(GOOD_0200, **{"103": "10012345678"}))
    start, width, _ = _spans(raw)[field]
    at = start + width + 1  # the second character of the value
    answers = []
    for byte in (refused, b"\xe9"):
        answers.append(await _exchange_on_one_link(amqtt_stack, raw[:at] + byte + raw[at + 1:]))
    letter, non_ascii = answers
    assert (letter is None) == (non_ascii is None)
    if field in ("t", "11"):  # no request MTI or no STAN: dropped, never a guess
        assert non_ascii is None
        assert "dropped a message that cannot be answered" in caplog.text
        assert GOOD_0200["2"] not in caplog.text  # what is logged of it is masked
    else:
        assert letter is not None and non_ascii is not None
        assert letter == non_ascii
        assert non_ascii["39"] == "30" and non_ascii["11"] == "123456"
        assert non_ascii["t"] == "0210"


@pytest.mark.parametrize("mti, answer_mti", [
    ("0100", "0110"), ("0400", "0410"), ("0220", "0230"),
    ("0201", "0210"), ("9200", "9210"), ("1200", "1210"), ("0820", "0830")])
async def test_another_request_mti_gets_its_response_with_12(
        amqtt_stack: Stack, mti: str, answer_mti: str) -> None:
    body = _raw(dict(GOOD_0200, t=mti))
    first = await _exchange_on_one_link(amqtt_stack, body)
    again = await _exchange_on_one_link(amqtt_stack, body)
    assert first is not None and first == again  # the same answer every time
    assert (first["t"], first["39"], first["11"]) == (answer_mti, "12", "123456")


@pytest.mark.parametrize("mti", ["0420", "0421"])
async def test_a_reversal_without_field_90_gets_0430_with_30(amqtt_stack: Stack,
                                                             mti: str) -> None:
    # 0420/0421 are handled (reversals); without the original data elements they are a
    # format error, answered the same every time.
    body = _raw(dict(GOOD_0200, t=mti))
    first = await _exchange_on_one_link(amqtt_stack, body)
    again = await _exchange_on_one_link(amqtt_stack, body)
    assert first is not None and first == again
    assert (first["t"], first["39"], first["11"]) == ("0430", "30", "123456")


@pytest.mark.parametrize("mti", ["0210", "0110", "0430", "0810", "0240", "0260", "02A0"])
async def test_a_response_or_notification_is_dropped_and_logged(
        amqtt_stack: Stack, mti: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "atmsim.switch")
    body = _raw(dict(GOOD_0200, t=mti)) if mti.isdigit() else \
        mti.encode() + _raw(GOOD_0200)[4:]
    assert await _exchange_on_one_link(amqtt_stack, body) is None
    assert "dropped a message" in caplog.text
    assert GOOD_0200["2"] not in caplog.text


@pytest.mark.parametrize("header", [b" 123", b"+123", b"012 ", b"\t123", b"0x12", b"\xd9123"])
async def test_4ascii_length_header_must_be_four_digits(
        amqtt_broker: EmbeddedBroker, data_dir: Path, header: bytes) -> None:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.switch.framing = "4ascii"
    echo = default_profile().encode({"t": "0800", "7": "1121060000", "11": "000001",
                                     "41": "BNI00001", "70": "301"})
    async with Stack(settings) as stack:
        assert stack.switch is not None
        reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
        writer.write(header + echo[:123])
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
        writer.close()
        reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
        writer.write(b"%04d" % len(echo) + echo)
        header_back = await asyncio.wait_for(reader.readexactly(4), 5)
        body = await asyncio.wait_for(reader.readexactly(int(header_back)), 5)
        assert default_profile().decode(body)["39"] == "00"
        writer.close()
