"""Closing the stack closes every part, even when one part's close fails or hangs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from atmsim.shell.stack import Stack
from tests.cli.helpers import port_is_free, wait_port_free
from tests.conftest import stack_settings


async def test_one_failing_and_one_hanging_part_do_not_keep_the_rest_open(
        data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = stack_settings(data_dir, broker_kind="amqtt")
    stack = Stack(settings)
    await stack.start()
    assert stack.switch is not None and stack.hsm is not None
    switch_port, hsm_port, mqtt_port = stack.switch.port, stack.hsm.port, settings.mqtt.port
    real_switch_close, real_hsm_close = stack.switch.close, stack.hsm.close

    async def switch_close_then_hang() -> None:
        await real_switch_close()
        await asyncio.Event().wait()

    async def hsm_close_then_fail() -> None:
        await real_hsm_close()
        raise RuntimeError("disk on fire")

    stack.switch.close = switch_close_then_hang  # type: ignore[method-assign]
    stack.hsm.close = hsm_close_then_fail  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="atmsim.stack"):
        closing = asyncio.create_task(stack.close())
        done, _ = await asyncio.wait([closing], timeout=6)
    assert closing in done, "close hung on the part that hangs"
    closing.result()  # and did not raise for the part that failed
    assert "switch did not close within" in caplog.text
    assert "HSM did not close cleanly: disk on fire" in caplog.text
    assert port_is_free(switch_port) and port_is_free(hsm_port)
    assert await wait_port_free(mqtt_port), "the broker child outlived the stack"
    await stack.close()  # a second close is harmless
