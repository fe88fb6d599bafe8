"""A quiet ATM keeps its link: it echoes (0800, 301) more often than the switch's idle
timeout closes connections, so it is not cut off and signed on again between customers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack
from terminal_ui.app import AtmApp
from terminal_ui.screens.idle import IdleScreen
from tests.atm.pilot import atm_config, on_screen, until
from tests.e2e.conftest import stack_settings

IDLE_TIMEOUT = 1.0  # the switch closes a connection that sends nothing for this long


async def _links_seen(amqtt_broker: EmbeddedBroker, data_dir: Path, tmp_path: Path,
                      echo_interval: float) -> tuple[int, bool]:
    """How many distinct links the ATM had in 3.5 quiet seconds, and whether it is
    connected at the end."""
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.switch.idle_timeout = IDLE_TIMEOUT
    async with Stack(settings) as stack:
        app = AtmApp(atm_config(stack, tmp_path, echo_interval=echo_interval))
        async with app.run_test(size=(80, 24)) as pilot:
            await on_screen(pilot, IdleScreen)
            await until(pilot, lambda: app.link is not None and app.link.connected)
            links = [app.link]  # the objects, kept alive: an id() could be reused
            for _ in range(35):
                await asyncio.sleep(0.1)
                if app.link is not None and app.link is not links[-1]:
                    links.append(app.link)
            await until(pilot, lambda: app.link is not None and app.link.connected)
            return len(links), app.connected


@pytest.mark.parametrize("echo_interval, stays", [(0.3, True), (60.0, False)])
async def test_an_echoing_atm_keeps_one_link(amqtt_broker: EmbeddedBroker, data_dir: Path,
                                             tmp_path: Path, echo_interval: float,
                                             stays: bool) -> None:
    count, connected = await _links_seen(amqtt_broker, data_dir, tmp_path, echo_interval)

    assert connected
    if stays:
        assert count == 1  # the same connection throughout
    else:
        assert count > 1  # without echoes the switch cut it off and the ATM came back
