"""The message bus over a real broker: MQTT 5 request/response properties, and failing fast."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from atmsim.kernel.bus import BusUnavailable, MqttBus, MqttEndpoint
from atmsim.shell.broker import EmbeddedBroker
from tests.conftest import TEST_ACCOUNT, SessionBroker, free_port, require_broker


async def test_mqtt5_requester_gets_its_correlation_data_back(
        mosquitto_broker: EmbeddedBroker) -> None:
    endpoint = mosquitto_broker.endpoint

    async def echo(body: dict[str, object]) -> dict[str, object]:
        return {"id": body.get("id"), "result": "OK", "echo": body.get("x")}

    async with MqttBus(endpoint, "replier") as replier:
        replier.serve("test/v1/echo", echo, shared_group="echoers")
        assert await replier.wait_connected(10)
        async with aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                                  password=endpoint.password,
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.subscribe("atmsim/v1/reply/tester/answers", qos=1)
            await asyncio.sleep(0.3)  # the replier's subscription is in place
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "atmsim/v1/reply/tester/answers"
            props.CorrelationData = b"corr-42"
            await client.publish("test/v1/echo", json.dumps({"id": "r1", "x": 7}), qos=1,
                                 properties=props)
            async with asyncio.timeout(10):
                message = await anext(client.messages)
    assert json.loads(message.payload) == {"id": "r1", "result": "OK", "echo": 7}  # type: ignore[arg-type]
    assert message.properties is not None
    assert message.properties.CorrelationData == b"corr-42"


async def test_request_without_a_broker_fails_at_once() -> None:
    endpoint = MqttEndpoint("127.0.0.1", free_port(), protocol="3.1.1")
    async with MqttBus(endpoint, "lonely") as bus:
        started = time.monotonic()
        with pytest.raises(BusUnavailable):
            await bus.request("bpjs/jht/v1/balance/req", {"nik": "x"}, timeout=5)
        assert time.monotonic() - started < 1


@pytest.mark.parametrize("client", ["atmsim", "aiomqtt", "gmqtt"])
@pytest.mark.parametrize("kind", ["nats", "amqtt", "mosquitto"])
async def test_request_serve_and_publish_on_either_client(
        kind: str, client: str, tmp_path: Path) -> None:
    if client == "gmqtt":
        pytest.importorskip("gmqtt")
    # A broker of its own: on the session's amqtt broker, after the whole suite had used
    # it, one request of the 50 once went unanswered (amqtt, pure Python, left with other
    # tests' sessions); this test is about the clients, not about that broker's history.
    require_broker(kind)
    broker = SessionBroker("127.0.0.1", free_port(), tmp_path, kind,
                           extra_accounts=TEST_ACCOUNT)
    await broker.start()
    try:
        await _request_serve_and_publish(dataclasses.replace(broker.endpoint, client=client))
    finally:
        await broker.stop()


async def _request_serve_and_publish(endpoint: MqttEndpoint) -> None:

    async def answer(body: dict[str, object]) -> dict[str, object]:
        return {"id": body.get("id"), "result": "OK", "double": 2 * int(body["x"])}  # type: ignore[call-overload]

    async with MqttBus(endpoint, "server") as server, MqttBus(endpoint, "client") as caller:
        server.serve("test/v1/double", answer, shared_group="doublers")
        assert await server.wait_connected(10) and await caller.wait_connected(10)
        await asyncio.sleep(0.3)
        replies = await asyncio.gather(*(caller.request("test/v1/double", {"x": i}, 5)
                                         for i in range(50)))
        assert [r["double"] for r in replies] == [2 * i for i in range(50)]
        assert await caller.publish("test/v1/event", {"seen": True})


async def test_a_reply_after_the_timeout_is_logged_as_late(
        broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:
    from atmsim.kernel.bus import BusTimeout

    async def slow(body: dict[str, object]) -> dict[str, object]:
        await asyncio.sleep(0.6)
        return {"id": body.get("id"), "result": "OK"}

    caplog.set_level("WARNING", "atmsim.bus")
    async with MqttBus(broker.endpoint, "slowpoke") as replier, \
            MqttBus(broker.endpoint, "asker") as asker:
        replier.serve("test/v1/slow", slow)
        assert await replier.wait_connected(10) and await asker.wait_connected(10)
        await asyncio.sleep(0.3)  # the replier's subscription is in place
        with pytest.raises(BusTimeout):
            await asker.request("test/v1/slow", {"id": "req-7"}, timeout=0.3)
        async with asyncio.timeout(10):
            while "late reply" not in caplog.text:
                await asyncio.sleep(0.05)
    assert "late reply id=req-7: its request id=req-7 timed out (sent" in caplog.text
