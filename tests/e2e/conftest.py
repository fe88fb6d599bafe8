"""A whole stack per test, on loopback ports of its own, against a real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atmsim.broker import EmbeddedBroker
from atmsim.config import Settings, load_settings
from atmsim.stack import Stack
from tests.conftest import free_port

# Short deadlines so the fault drills take a second, not the production 2 s / 5 s.
HSM_DEADLINE = 1.0
LEDGER_DEADLINE = 1.5


def stack_settings(data_dir: Path, mqtt_url: str = "", *, broker_kind: str = "auto") -> Settings:
    return load_settings(env={}, overrides={
        "data_dir": str(data_dir),
        "switch": {"port": free_port(), "hsm_deadline": HSM_DEADLINE,
                   "ledger_deadline": LEDGER_DEADLINE},
        "hsm": {"port": free_port()},
        "mqtt": {"url": mqtt_url, "port": free_port(), "broker": broker_kind},
    })


@pytest.fixture
async def stack(broker: EmbeddedBroker, data_dir: Path) -> AsyncIterator[Stack]:
    """The back end against the session broker of each kind (amqtt and Mosquitto)."""
    settings = stack_settings(data_dir, broker.endpoint.url)
    settings.mqtt.protocol = broker.endpoint.protocol
    settings.mqtt.shared_subscriptions = "yes" if broker.endpoint.shared_subscriptions else "no"
    async with Stack(settings) as running:
        yield running


@pytest.fixture
async def amqtt_stack(amqtt_broker: EmbeddedBroker, data_dir: Path) -> AsyncIterator[Stack]:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.url)
    settings.mqtt.protocol = "3.1.1"
    settings.mqtt.shared_subscriptions = "no"
    async with Stack(settings) as running:
        yield running
