"""The HSM's wire behaviour as a host sees it: framing, headers, trailers, limits."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from hsm_helpers import RawHsm

from hsm_mock import HsmServer, VariantLmk


async def test_nc_reply_has_the_shape_of_the_real_payshield_trace(hsm: HsmServer) -> None:
    # Real 10K trace: sent 00 06 HEAD NC, received 00 21 HEAD ND 00 <16H> <9A>.
    reader, writer = await asyncio.open_connection("127.0.0.1", hsm.port)
    writer.write(b"\x00\x06HEADNC")
    length = await reader.readexactly(2)
    message = await reader.readexactly(int.from_bytes(length, "big"))
    writer.close()
    assert length == b"\x00\x21"
    assert re.fullmatch(rb"HEADND00[0-9A-F]{6}0{10}[0-9A-Z]{4}-[0-9A-Z]{4}", message)


async def test_nc_check_value_tells_lmks_apart(raw: RawHsm) -> None:
    other = [bytes([i + 2]) * 16 for i in range(20)]
    async with HsmServer(port=0, lmk=VariantLmk(other)) as second:
        other_client = await RawHsm.connect(second.port)
        theirs = await other_client.command("NC")
        await other_client.close()
    ours = await raw.command("NC")
    assert ours.fields[:16] != theirs.fields[:16]


async def test_header_and_trailer_are_echoed(raw: RawHsm) -> None:
    reply = await raw.call(b"A1B2NC\x19my-trailer")
    assert reply.startswith(b"A1B2ND00")
    assert reply.endswith(b"\x19my-trailer")


async def test_header_length_is_configurable() -> None:
    async with HsmServer(port=0, header_len=6) as server:
        client = await RawHsm.connect(server.port)
        reply = await client.call(b"ABCDEFB2" + b"0004" + b"ping")
        await client.close()
    assert reply == b"ABCDEFB300ping"


async def test_unknown_command_answers_zz_15(raw: RawHsm) -> None:
    assert await raw.call(b"HEADQQfields") == b"HEADZZ15"
    assert await raw.call(b"HEAD\xff\xfe") == b"HEADZZ15"


async def test_messages_too_short_for_a_command_get_an_error_reply(raw: RawHsm) -> None:
    assert await raw.call(b"HE") == b"HEZZ15"
    assert await raw.call(b"") == b"ZZ15"
    # The connection is still usable afterwards.
    assert (await raw.command("NC")).error_code == "00"


async def test_oversized_frame_closes_only_that_connection(hsm: HsmServer) -> None:
    bystander = await RawHsm.connect(hsm.port)
    offender = await RawHsm.connect(hsm.port)
    offender.writer.write(b"\xff\xff" + b"x" * 100)
    assert await asyncio.wait_for(offender.reader.read(), 5) == b""
    assert (await bystander.command("NC")).error_code == "00"
    await offender.close()
    await bystander.close()


async def test_requests_before_an_oversized_frame_are_answered_and_the_size_logged(
    raw: RawHsm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hsm_mock.server")
    raw.writer.write(b"\x00\x06HEADNC" + b"\x80\x01" + b"x" * 10)
    assert (await asyncio.wait_for(raw.read_frame(), 5))[:8] == b"HEADND00"
    assert await asyncio.wait_for(raw.reader.read(), 5) == b""
    assert re.search(r"frame of 32769 bytes from .* refused; closing connection", caplog.text)


async def test_frame_cut_short_by_the_client_does_not_harm_the_server(hsm: HsmServer) -> None:
    client = await RawHsm.connect(hsm.port)
    client.writer.write(b"\x00\x10HEADN")
    await client.close()
    fresh = await RawHsm.connect(hsm.port)
    assert (await fresh.command("NC")).error_code == "00"
    await fresh.close()


async def test_pipelined_requests_on_one_connection_are_all_answered(raw: RawHsm) -> None:
    headers = [f"{i:04d}".encode() for i in range(100)]
    raw.writer.write(
        b"".join(len(m).to_bytes(2, "big") + m for m in (h + b"B2" + b"0004" + h for h in headers))
    )
    replies = [await asyncio.wait_for(raw.read_frame(), 5) for _ in headers]
    # In request order, across the several writes 100 replies leave in.
    assert replies == [h + b"B300" + h for h in headers]


async def test_many_clients_at_once(hsm: HsmServer) -> None:
    async def one_client(n: int) -> bytes:
        client = await RawHsm.connect(hsm.port)
        reply = await client.call(f"{n:04d}".encode() + b"NC")
        await client.close()
        return reply[:8]

    replies = await asyncio.gather(*(one_client(n) for n in range(30)))
    assert replies == [f"{n:04d}ND00".encode() for n in range(30)]


async def test_a_frame_arriving_byte_by_byte_is_answered_once_complete(raw: RawHsm) -> None:
    frame = b"\x00\x0cHEADB20002ok"
    for i in range(len(frame)):
        raw.writer.write(frame[i : i + 1])
        await raw.writer.drain()
        await asyncio.sleep(0)
    assert await asyncio.wait_for(raw.read_frame(), 5) == b"HEADB300ok"


async def test_a_client_that_never_reads_does_not_stop_the_others(hsm: HsmServer) -> None:
    hog = await RawHsm.connect(hsm.port)
    echo = b"HEADB2" + b"7FFF" + b"x" * 0x7FFF
    for _ in range(40):  # ~1.3 MB of replies it never reads
        hog.writer.write(len(echo).to_bytes(2, "big") + echo)
    other = await RawHsm.connect(hsm.port)
    assert (await other.command("NC")).error_code == "00"
    await other.close()
    hog.writer.transport.abort()
