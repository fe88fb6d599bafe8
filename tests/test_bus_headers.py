"""Request headers over a real broker (the W3C traceparent rides in one): MQTT 5 user
properties that the handler reads from ``request_headers``, or, on MQTT 3.1.1, keys of
the request JSON; on both MQTT clients, and seen by an independent MQTT 5 client."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiomqtt
import pytest

from atmsim.kernel.bus import MqttBus, request_headers
from atmsim.shell.broker import EmbeddedBroker

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _round_trip(broker: EmbeddedBroker, client: str,
                      headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """What a handler saw of one request with ``headers``: the body and its headers."""
    endpoint = dataclasses.replace(broker.endpoint, client=client)
    seen: list[tuple[dict[str, Any], dict[str, str]]] = []

    async def handler(body: dict[str, Any]) -> dict[str, Any]:
        seen.append((dict(body), dict(request_headers.get())))
        return {"id": body["id"], "result": "OK"}

    async with MqttBus(endpoint, "replier") as replier, MqttBus(endpoint, "asker") as asker:
        replier.serve("test/v1/headers", handler)
        assert await replier.wait_connected(10) and await asker.wait_connected(10)
        await asyncio.sleep(0.2)  # the subscription is in place
        reply = await asker.request("test/v1/headers", {"x": 1, "traceparent": "theirs"}
                                    if "keep" in headers else {"x": 1}, 10, headers=headers)
    assert reply["result"] == "OK"
    [(body, seen_headers)] = seen
    return body, seen_headers


@pytest.mark.parametrize("client", ["atmsim", "aiomqtt"])
async def test_mqtt5_carries_headers_as_user_properties(
        mosquitto_broker: EmbeddedBroker, client: str) -> None:
    body, headers = await _round_trip(mosquitto_broker, client, {"traceparent": TRACEPARENT})
    assert headers == {"traceparent": TRACEPARENT}
    assert "traceparent" not in body  # not in the JSON: beside it


@pytest.mark.parametrize("client", ["atmsim", "aiomqtt"])
async def test_mqtt311_carries_headers_as_json_keys(
        amqtt_broker: EmbeddedBroker, client: str) -> None:
    body, headers = await _round_trip(amqtt_broker, client, {"traceparent": TRACEPARENT})
    assert headers == {}
    assert body["traceparent"] == TRACEPARENT and body["x"] == 1


async def test_a_header_never_replaces_a_key_of_the_payload(
        amqtt_broker: EmbeddedBroker) -> None:
    body, _ = await _round_trip(amqtt_broker, "atmsim", {"traceparent": TRACEPARENT,
                                                          "keep": "1"})
    assert body["traceparent"] == "theirs" and body["keep"] == "1"


async def test_user_properties_are_on_the_wire(mosquitto_broker: EmbeddedBroker) -> None:
    """An independent MQTT 5 client (paho under aiomqtt) reads the user property the lean
    client wrote."""
    endpoint = mosquitto_broker.endpoint
    async with aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                              password=endpoint.password,
                              protocol=aiomqtt.ProtocolVersion.V5) as watcher:
        await watcher.subscribe("test/v1/watched", qos=1)
        async with MqttBus(endpoint, "asker") as asker:
            assert await asker.wait_connected(10)
            with pytest.raises(Exception, match="no reply"):
                await asker.request("test/v1/watched", {"x": 2}, 0.5,
                                    headers={"traceparent": TRACEPARENT})
        async with asyncio.timeout(10):
            message = await anext(watcher.messages)
    assert json.loads(message.payload)["x"] == 2  # type: ignore[arg-type]
    assert message.properties is not None
    assert message.properties.UserProperty == [("traceparent", TRACEPARENT)]
