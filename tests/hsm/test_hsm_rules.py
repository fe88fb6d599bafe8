"""``atmsim hsm --rules FILE``: each action over a real socket; no match answers as usual."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from hsm_helpers import RawHsm

from atmsim.kernel.rules import HSM_SCHEMA, RuleBook, parse_rules
from hsm_mock import HsmServer

RULES = """
rules:
  - {name: broken, match: {command: NC, fields: {header: "^E1"}}, error: "17"}
  - {name: silent, match: {command: NC, fields: {header: "^D"}}, action: drop}
  - {name: hang up, match: {fields: {header: "^C"}}, action: close}
  - {name: noise, match: {fields: {header: "^G"}}, garbage: {bytes: 9, framed: false}}
  - {name: stutter, match: {fields: {header: "^T"}}, action: twice}
  - {name: mixed up, match: {fields: {header: "^W"}}, action: wrong_header}
  - {name: slow, match: {command: B2}, delay: {distribution: uniform, low: 0.3, high: 0.4,
     seed: 3}}
"""


@pytest.fixture
async def raw() -> AsyncIterator[RawHsm]:
    book = RuleBook(HSM_SCHEMA, rules=parse_rules(RULES, HSM_SCHEMA))
    async with HsmServer(port=0, rules=book) as server:
        client = await RawHsm.connect(server.port)
        yield client
        await client.close()


async def test_error_code_keeps_the_header_and_response_code(raw: RawHsm) -> None:
    reply = await raw.command("NC", header=b"E100")
    assert (reply.header, reply.response_code, reply.error_code, reply.fields) == (
        b"E100", "ND", "17", b"")


async def test_no_rule_matched_answers_as_usual(raw: RawHsm) -> None:
    reply = await raw.command("NC", header=b"OK00")
    assert reply.response_code == "ND" and reply.error_code == "00" and reply.fields


async def test_drop_sends_nothing_and_the_connection_still_answers(raw: RawHsm) -> None:
    await raw.send_frame(b"D000NC")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(raw.read_frame(), 1.0)
    assert (await raw.command("NC", header=b"OK01")).header == b"OK01"


async def test_close_hangs_up(raw: RawHsm) -> None:
    await raw.send_frame(b"C000NC")
    assert await asyncio.wait_for(raw.reader.read(), 5) == b""


async def test_unframed_garbage(raw: RawHsm) -> None:
    await raw.send_frame(b"G000NC")
    noise = await asyncio.wait_for(raw.reader.readexactly(9), 5)
    again = await RawHsm.connect(int(raw.writer.get_extra_info("peername")[1]))
    try:
        await again.send_frame(b"G000NC")
        assert await asyncio.wait_for(again.reader.readexactly(9), 5) == noise  # seeded
    finally:
        await again.close()


async def test_twice(raw: RawHsm) -> None:
    await raw.send_frame(b"T000NC")
    first = await asyncio.wait_for(raw.read_frame(), 5)
    second = await asyncio.wait_for(raw.read_frame(), 5)
    assert first == second and first.startswith(b"T000ND00")


async def test_wrong_header(raw: RawHsm) -> None:
    reply = await raw.call(b"W009NC")
    assert reply.startswith(b"Z110ND00")


async def test_seeded_delay_then_the_usual_reply(raw: RawHsm) -> None:
    started = time.monotonic()
    reply = await raw.command("B2", "0004ABCD", header=b"S000")
    assert reply.error_code == "00" and reply.fields.endswith(b"ABCD")
    assert time.monotonic() - started >= 0.3


async def test_rules_shape_an_offloaded_ei_reply_too(raw: RawHsm) -> None:
    # twice: the same key pair twice (generated once), then the next request's reply.
    await raw.send_frame(b"T000EI0102402")
    await raw.send_frame(b"OK02NC")
    first, second = await raw.read_frame(), await raw.read_frame()
    assert first == second and first.startswith(b"T000EJ00")
    assert (await raw.read_frame())[:6] == b"OK02ND"
    wrong = await raw.call(b"W000EI0102402")
    assert wrong.startswith(b"Z111EJ00") and len(wrong) > 100
