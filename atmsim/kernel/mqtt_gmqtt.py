"""The bus's MQTT connection on gmqtt: ``[mqtt] client = "gmqtt"``.

Same surface as ``atmsim.kernel.mqtt.MqttConnection`` (publish_soon, publish_acked,
subscribe, wait_closed, close), so ``MqttBus`` runs on it; it exists to measure gmqtt
against the lean client end to end (BENCHMARKS.md "MQTT client").

gmqtt takes a packet identifier for each QoS 1 message in flight from a pool as large as
the broker's Receive Maximum (Mosquitto's MQTT 5 default: 20) and raises OverflowError
when it is empty. Here a publish waits for room instead (``publish_acked``) or says it
has none (``publish_soon`` returns False, and ``MqttBus.request`` then waits), as the lean
client does. gmqtt's own reconnecting is off: ``MqttBus`` reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from atmsim.kernel.mqtt import MAX_PACKET, IncomingMessage, MqttError, MqttRefused, MqttUnreachable

__all__ = ["GmqttConnection", "connect_gmqtt"]

_log = logging.getLogger("atmsim.bus.gmqtt")


class _Client(gmqtt.Client):  # type: ignore[misc]
    """gmqtt's client with each QoS 1 publish's PUBACK as a future."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acks: dict[int, asyncio.Future[None]] = {}
        self.room: list[asyncio.Future[None]] = []

    def publish_qos0(self, topic: str, payload: bytes, **properties: Any) -> None:
        self._connection.publish(gmqtt.Message(topic, payload, qos=0, **properties))

    def publish_qos1(self, topic: str, payload: bytes, **properties: Any) -> asyncio.Future[None]:
        message = gmqtt.Message(topic, payload, qos=1, **properties)
        mid, package = self._connection.publish(message)
        self._persistent_storage.push_message(mid, package)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks[mid] = ack
        return ack

    def _remove_message_from_queue(self, mid: int) -> None:  # called on PUBACK
        super()._remove_message_from_queue(mid)
        ack = self.acks.pop(mid, None)
        if ack is not None and not ack.done():
            ack.set_result(None)
        while self.room:
            waiter = self.room.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break

    @property
    def full(self) -> bool:
        """No packet identifier left: gmqtt would raise OverflowError on the next one."""
        ids = self._package_handler.id_generator
        return len(ids._used_ids) >= ids._max - 1

    def fail(self, error: MqttError) -> None:
        for future in [*self.acks.values(), *self.room]:
            if not future.done():
                future.set_exception(error)
                future.exception()
        self.acks.clear()
        self.room.clear()


class GmqttConnection:
    def __init__(self, client: _Client, protocol: str) -> None:
        self._client = client
        self._v5 = protocol == "5"
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._subscribes: dict[int, asyncio.Future[int]] = {}
        self.shared_subscriptions: bool | None = None

    def _properties(self, response_topic: str | None, correlation_data: bytes | None,
                    user_properties: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        if not self._v5:
            return {}
        props: dict[str, Any] = {}
        if response_topic is not None:
            props["response_topic"] = response_topic
        if correlation_data is not None:
            props["correlation_data"] = correlation_data
        if user_properties:
            props["user_property"] = list(user_properties)
        return props

    def _check_open(self) -> None:
        if self._closed.done():
            raise self._closed.exception() or MqttError("connection closed")

    def publish_soon(self, topic: str, payload: bytes, *, response_topic: str | None = None,
                     correlation_data: bytes | None = None,
                     user_properties: Sequence[tuple[str, str]] = (), qos: int = 1) -> bool:
        self._check_open()
        properties = self._properties(response_topic, correlation_data, user_properties)
        if qos == 0:
            self._client.publish_qos0(topic, payload, **properties)
            return True
        if self._client.full:
            return False
        ack = self._client.publish_qos1(topic, payload, **properties)
        ack.add_done_callback(lambda f: f.cancelled() or f.exception())
        return True

    async def publish_acked(self, topic: str, payload: bytes, *,
                            response_topic: str | None = None,
                            correlation_data: bytes | None = None,
                            user_properties: Sequence[tuple[str, str]] = ()) -> None:
        self._check_open()
        while self._client.full:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._client.room.append(waiter)
            await waiter
        await self._client.publish_qos1(topic, payload, **self._properties(
            response_topic, correlation_data, user_properties))

    def on_subscribe(self, mid: int, granted: tuple[int, ...], properties: Any) -> None:
        future = self._subscribes.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(granted[0] if granted else 0x80)

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        self._check_open()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        mid = self._client.subscribe(topic_filter, qos=qos)
        self._subscribes[mid] = future
        code = await asyncio.wait_for(future, 10)
        if code >= 0x80:
            raise MqttError(f"subscription to {topic_filter} refused (code {code:#04x})")

    def lost(self, error: MqttError) -> None:
        if not self._closed.done():
            self._closed.set_exception(error)
            self._closed.exception()
        self._client.fail(error)
        for future in self._subscribes.values():
            if not future.done():
                future.set_exception(error)
                future.exception()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def close(self) -> None:
        self._client._is_active = False
        if not self._closed.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.disconnect(), 2)
        self.lost(MqttError("connection closed"))


async def connect_gmqtt(host: str, port: int, *, client_id: str, protocol: str,
                        on_message: Callable[[IncomingMessage], None], keepalive: int = 10,
                        timeout: float = 5.0, username: str | None = None,
                        password: str | None = None,
                        ssl_context: ssl.SSLContext | None = None,
                        max_packet: int = MAX_PACKET) -> GmqttConnection:
    """Open a gmqtt session; raises the ``atmsim.kernel.mqtt`` errors."""
    properties = {"maximum_packet_size": max_packet} if protocol == "5" else {}
    client = _Client(client_id, clean_session=True, logger=_log, **properties)
    client.set_config({"reconnect_retries": 0})
    if username is not None:
        client.set_auth_credentials(username, password)
    connection = GmqttConnection(client, protocol)

    def message(_client: Any, topic: str, payload: bytes, qos: int, props: dict[str, Any]) -> int:
        response_topic = (props.get("response_topic") or [None])[0]
        correlation = (props.get("correlation_data") or [None])[0]
        pairs = tuple((str(k), str(v)) for k, v in props.get("user_property") or ())
        on_message(IncomingMessage(topic, bytes(payload), response_topic, correlation, pairs,
                                   qos))
        return 0

    def disconnected(_client: Any, packet: Any, exc: Any = None) -> None:
        client._is_active = False  # no reconnecting of gmqtt's own
        connection.lost(MqttError("connection to the broker lost"))

    client.on_message = message
    client.on_disconnect = disconnected
    client.on_subscribe = lambda _client, mid, qos, props: connection.on_subscribe(mid, qos, props)
    try:
        await asyncio.wait_for(client.connect(host, port, ssl=ssl_context or False,
                                              keepalive=keepalive,
                                              version=MQTTv50 if protocol == "5" else MQTTv311),
                               timeout)
    except gmqtt.mqtt.handler.MQTTConnectError as exc:
        client._is_active = False
        raise MqttRefused(int(getattr(exc, "_code", 0x80))) from None
    except (OSError, TimeoutError) as exc:
        client._is_active = False
        raise MqttUnreachable(f"cannot reach {host}:{port}: {exc or 'no answer'}") from None
    if protocol == "5":
        props = client._package_handler._connack_properties
        connection.shared_subscriptions = (props.get("shared_subscription_available")
                                           or [1])[0] != 0
    return connection
