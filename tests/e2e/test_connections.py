"""Idle and half-sent connections are closed, and the connection cap refuses one more at
once while the connections it holds keep their answers (short timeouts, real sockets)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.conftest import LEDGER_DEADLINE, stack_settings


@asynccontextmanager
async def _stack(broker: EmbeddedBroker, data_dir: Path, *, repeat_interval: float = 60.0,
                 **switch: Any) -> AsyncIterator[Stack]:
    settings = stack_settings(data_dir, broker.endpoint.secret_url)
    settings.mqtt.protocol = "3.1.1"
    settings.mqtt.shared_subscriptions = "no"
    for name, value in switch.items():
        setattr(settings.switch, name, value)
    settings.log.repeat_interval = repeat_interval
    async with Stack(settings) as running:
        yield running


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    """Seconds until the switch closes the connection (fails the test after ``seconds``)."""
    started = time.monotonic()
    try:
        rest = await asyncio.wait_for(reader.read(), seconds)
    except ConnectionResetError:
        rest = b""
    assert rest == b"", rest
    return time.monotonic() - started


async def test_idle_connection_is_closed_and_an_echoing_one_stays(
        amqtt_broker: EmbeddedBroker, data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "atmsim.switch")
    async with _stack(amqtt_broker, data_dir, idle_timeout=1.0, frame_timeout=1.0) as stack:
        assert stack.switch is not None
        idle_reader, idle_writer = await asyncio.open_connection(stack.switch.host,
                                                                 stack.switch.port)
        async with link_to(stack) as echoing:
            assert (await echoing.sign_on())["39"] == "00"
            idle_task = asyncio.create_task(_closed_within(idle_reader, 5))
            for _ in range(12):  # 3.6 s: well past the 1 s idle timeout
                await asyncio.sleep(0.3)
                assert (await echoing.echo())["39"] == "00"
            assert echoing.connected
            # The idle one was closed after about the timeout, not at once.
            assert await idle_task > 0.8
        idle_writer.close()
    assert "no request for 1 s (switch.idle_timeout)" in caplog.text


async def test_a_request_in_flight_is_answered_past_the_idle_timeout(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    async with _stack(amqtt_broker, data_dir, idle_timeout=0.5, frame_timeout=0.5) as stack:
        await stack.stop_ledger()  # the inquiry now takes the ledger deadline, 1.5 s
        assert LEDGER_DEADLINE > 0.5 * 2
        async with link_to(stack) as link:
            _, result = await inquire(link, card("Budi"))
            assert result.response_code == "91"  # an answer, not a closed connection


async def test_half_sent_frame_is_closed_after_the_frame_timeout(
        amqtt_broker: EmbeddedBroker, data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "atmsim.switch")
    async with _stack(amqtt_broker, data_dir, idle_timeout=30.0, frame_timeout=1.0) as stack:
        assert stack.switch is not None
        reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
        writer.write(b"\x00\x50" + b"0800")  # 80 bytes announced, 4 sent
        await writer.drain()

        async def trickle() -> None:  # a byte now and then does not reset the frame clock
            for _ in range(30):
                await asyncio.sleep(0.3)
                writer.write(b"0")
                await writer.drain()

        trickling = asyncio.create_task(trickle())
        try:
            assert await _closed_within(reader, 5) > 0.8
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)
            writer.close()
        # A whole, slow-to-start ATM is not affected: it was idle, not mid-frame.
        async with link_to(stack) as link:
            await asyncio.sleep(1.5)
            assert (await link.echo())["39"] == "00"
    assert "a frame was still incomplete after 1 s (switch.frame_timeout)" in caplog.text


async def test_one_connection_over_the_cap_is_refused_at_once(
        amqtt_broker: EmbeddedBroker, data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "atmsim.switch")
    cap = 5
    async with _stack(amqtt_broker, data_dir, max_connections=cap,
                      repeat_interval=1.0) as stack:
        assert stack.switch is not None
        links = [link_to(stack, terminal_id="BNI00001") for _ in range(cap)]
        for link in links:
            await link.connect()
            assert (await link.sign_on())["39"] == "00"
        extra = [await asyncio.open_connection(stack.switch.host, stack.switch.port)
                 for _ in range(10)]
        for reader, _ in extra:
            await _closed_within(reader, 3)  # refused at once, not left hanging
        for link in links:  # the connections within the cap still get their answers
            assert (await link.echo())["39"] == "00"
        _, result = await inquire(links[0], card("Budi"))
        assert result.response_code == "00"
        # Logged once, then counted: the count follows when the 1 s window is over.
        refusals = [r.getMessage() for r in caplog.records if "refused a connection" in
                    r.getMessage()]
        assert len(refusals) == 1 and "5 connections open" in refusals[0]
        deadline = time.monotonic() + 5
        while "similar messages suppressed" not in caplog.text and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert "refused a connection" in caplog.text
        assert "(9 similar messages suppressed in the last" in caplog.text
        # A place freed is a place taken.
        await links.pop().close()
        deadline = time.monotonic() + 5
        while stack.switch.open_connections >= cap and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        async with link_to(stack) as newcomer:
            assert (await newcomer.echo())["39"] == "00"
        for link in links:
            await link.close()
        for _, writer in extra:
            writer.close()
