"""Requests go at the endpoint's request QoS (0 by default) and are answered at the QoS
they came with, as an independent MQTT client (aiomqtt) sees them on every broker."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import aiomqtt

from atmsim.kernel.bus import MqttBus
from atmsim.shell.broker import EmbeddedBroker

TOPIC = "test/v1/qos"
REPLIES = "atmsim/v1/reply/tester/qos"


def _client(broker: EmbeddedBroker) -> aiomqtt.Client:
    endpoint = broker.endpoint
    return aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                          password=endpoint.password, identifier=f"qos-{broker.kind}")


async def test_a_request_is_answered_at_the_qos_it_came_with(broker: EmbeddedBroker) -> None:
    async def answer(body: dict[str, object]) -> dict[str, object]:
        return {"id": body.get("id"), "result": "OK"}

    async with MqttBus(broker.endpoint, "replier") as replier:
        replier.serve(TOPIC, answer)
        assert await replier.wait_connected(10)
        async with _client(broker) as client:
            await client.subscribe(REPLIES, qos=1)  # the reply's QoS is its publisher's
            await asyncio.sleep(0.3)  # the replier's subscription is in place
            seen = {}
            for qos in (0, 1):
                await client.publish(TOPIC, json.dumps({"id": f"q{qos}", "reply_to": REPLIES}),
                                     qos=qos)
                async with asyncio.timeout(10):
                    message = await anext(client.messages)
                seen[json.loads(message.payload)["id"]] = message.qos  # type: ignore[arg-type]
    # amqtt 0.12 delivers at the subscription's QoS, not at the lower of the two as MQTT
    # says (3.8.4): the replier got that request at 1, and answered at 1.
    assert seen == ({"q0": 1, "q1": 1} if broker.kind == "amqtt" else {"q0": 0, "q1": 1})


async def test_requests_go_at_qos_0_unless_asked_otherwise(broker: EmbeddedBroker) -> None:
    async with _client(broker) as ledger_side:
        await ledger_side.subscribe(TOPIC, qos=1)
        await asyncio.sleep(0.3)
        seen = []
        for endpoint, qos in ((broker.endpoint, None), (broker.endpoint, 1),
                              (dataclasses.replace(broker.endpoint, request_qos=1), None)):
            async with MqttBus(endpoint, "asker") as asker:
                assert await asker.wait_connected(10)
                asking = asyncio.create_task(asker.request(TOPIC, {"n": len(seen)}, 10,
                                                           qos=qos))
                async with asyncio.timeout(10):
                    message = await anext(ledger_side.messages)
                seen.append(message.qos)
                request = json.loads(message.payload)  # type: ignore[arg-type]
                await ledger_side.publish(request["reply_to"], json.dumps(
                    {"id": request["id"], "result": "OK"}), qos=message.qos)
                assert (await asking)["result"] == "OK"
    assert seen == ([1, 1, 1] if broker.kind == "amqtt" else [0, 1, 1])
