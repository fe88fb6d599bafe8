"""The bus's own MQTT client against real brokers, checked by an independent client
(aiomqtt): protocol fallback, events, many requests in flight."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from atmsim.kernel.bus import MqttBus, MqttEndpoint
from atmsim.shell.broker import EmbeddedBroker


async def _echo(body: dict[str, object]) -> dict[str, object]:
    return {"id": body.get("id"), "result": "OK", "n": body.get("n")}


async def test_auto_protocol_falls_back_to_311_on_a_311_only_broker(
        amqtt_broker: EmbeddedBroker) -> None:
    endpoint = MqttEndpoint(amqtt_broker.host, amqtt_broker.port, protocol="auto",
                            shared_subscriptions=False,
                            username=amqtt_broker.endpoint.username,
                            password=amqtt_broker.endpoint.password)
    async with MqttBus(endpoint, "replier") as replier, MqttBus(endpoint, "asker") as asker:
        replier.serve("test/v1/fallback", _echo)
        assert await replier.wait_connected(10) and await asker.wait_connected(10)
        reply = await asker.request("test/v1/fallback", {"n": 1}, 5)
    assert reply["n"] == 1


async def test_many_requests_in_flight_each_get_their_own_reply(
        broker: EmbeddedBroker) -> None:
    endpoint = broker.endpoint
    async with MqttBus(endpoint, "replier") as replier, MqttBus(endpoint, "asker") as asker:
        replier.serve("test/v1/many", _echo, shared_group="echoers")
        assert await replier.wait_connected(10) and await asker.wait_connected(10)
        await asyncio.sleep(0.2)
        replies = await asyncio.gather(*(asker.request("test/v1/many", {"n": n}, 20)
                                         for n in range(500)))
    assert [r["n"] for r in replies] == list(range(500))


async def test_queued_events_reach_a_subscriber(broker: EmbeddedBroker) -> None:
    endpoint = broker.endpoint
    async with aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                              password=endpoint.password) as watcher:
        await watcher.subscribe("test/v1/events", qos=1)
        async with MqttBus(endpoint, "switch") as bus:
            assert await bus.wait_connected(10)
            assert all(bus.publish_soon("test/v1/events", {"n": n}) for n in range(20))
            received = []
            async with asyncio.timeout(10):
                async for message in watcher.messages:
                    received.append(json.loads(message.payload))  # type: ignore[arg-type]
                    if len(received) == 20:
                        break
    assert sorted(r["n"] for r in received) == list(range(20))


async def test_publish_soon_without_a_broker_says_so() -> None:
    from tests.conftest import free_port

    async with MqttBus(MqttEndpoint("127.0.0.1", free_port(), protocol="3.1.1"), "x") as bus:
        assert bus.publish_soon("test/v1/events", {"n": 1}) is False
