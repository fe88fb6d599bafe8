"""The bus's MQTT connection on aiomqtt, the well-kept MQTT library.

Same surface as ``atmsim.kernel.mqtt.MqttConnection`` (publish_soon, publish_acked, subscribe,
wait_closed, close), so ``MqttBus`` runs on either: ``[mqtt] client = "aiomqtt"``. The lean
``atmsim.kernel.mqtt`` connection is the default because paho under aiomqtt costs about half of
the CPU of an inquiry (BENCHMARKS.md); this one is the reference to compare it against
and the fallback should the lean client ever disagree with a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from atmsim.kernel.mqtt import MAX_PACKET, IncomingMessage, MqttError, MqttRefused, MqttUnreachable

__all__ = ["AiomqttConnection", "connect_aiomqtt"]

_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
_PROTOCOLS = {"5": aiomqtt.ProtocolVersion.V5, "3.1.1": aiomqtt.ProtocolVersion.V311}


class _QuietPendingCalls(logging.Filter):
    """aiomqtt warns on every publish past a handful in flight; that is our normal load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pending publish calls" not in record.getMessage()


_log = logging.getLogger("atmsim.bus.aiomqtt")
_log.addFilter(_QuietPendingCalls())


class AiomqttConnection:
    def __init__(self, client: aiomqtt.Client, protocol: str,
                 on_message: Callable[[IncomingMessage], None]) -> None:
        self._client = client
        self._v5 = self.v5 = protocol == "5"
        self._on_message = on_message
        self._error: MqttError | None = None
        self._closed = asyncio.Event()
        self._publishes: set[asyncio.Task[None]] = set()
        self._reader = asyncio.create_task(self._read())
        self.shared_subscriptions: bool | None = None  # from the MQTT 5 CONNACK

    async def _read(self) -> None:
        try:
            async for message in self._client.messages:
                props = message.properties
                self._on_message(IncomingMessage(
                    str(message.topic), bytes(message.payload),  # type: ignore[arg-type]
                    getattr(props, "ResponseTopic", None),
                    getattr(props, "CorrelationData", None),
                    tuple((str(k), str(v)) for k, v in getattr(props, "UserProperty", ())),
                    int(message.qos)))
        except aiomqtt.MqttError as exc:
            self._error = MqttError(str(exc))
        finally:
            self._closed.set()

    def _properties(self, response_topic: str | None, correlation_data: bytes | None,
                    user_properties: Sequence[tuple[str, str]] = ()) -> Properties | None:
        if not self._v5 or (response_topic is None and correlation_data is None
                            and not user_properties):
            return None
        props = Properties(PacketTypes.PUBLISH)
        if response_topic is not None:
            props.ResponseTopic = response_topic
        if correlation_data is not None:
            props.CorrelationData = correlation_data
        if user_properties:
            props.UserProperty = list(user_properties)
        return props

    async def publish_acked(self, topic: str, payload: bytes, *,
                            response_topic: str | None = None,
                            correlation_data: bytes | None = None,
                            user_properties: Sequence[tuple[str, str]] = ()) -> None:
        await self._publish(topic, payload, 1, response_topic=response_topic,
                            correlation_data=correlation_data, user_properties=user_properties)

    async def _publish(self, topic: str, payload: bytes, qos: int, *,
                       response_topic: str | None = None,
                       correlation_data: bytes | None = None,
                       user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self._closed.is_set():
            raise self._error or MqttError("connection closed")
        try:
            await self._client.publish(topic, payload, qos=qos,
                                       properties=self._properties(response_topic,
                                                                   correlation_data,
                                                                   user_properties))
        except aiomqtt.MqttError as exc:
            raise MqttError(str(exc)) from None

    def publish_soon(self, topic: str, payload: bytes, *, response_topic: str | None = None,
                     correlation_data: bytes | None = None,
                     user_properties: Sequence[tuple[str, str]] = (), qos: int = 1) -> bool:
        if self._closed.is_set():
            raise self._error or MqttError("connection closed")
        task = asyncio.create_task(self._publish(
            topic, payload, qos, response_topic=response_topic,
            correlation_data=correlation_data, user_properties=user_properties))
        self._publishes.add(task)
        task.add_done_callback(self._published)
        return True

    def _published(self, task: asyncio.Task[None]) -> None:
        self._publishes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.debug("publish not handed to the broker: %s", task.exception())

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        try:
            await self._client.subscribe(topic_filter, qos=qos)
        except aiomqtt.MqttError as exc:
            raise MqttError(str(exc)) from None

    async def wait_closed(self) -> None:
        await self._closed.wait()
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        self._reader.cancel()
        for task in list(self._publishes):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self._reader
        with contextlib.suppress(aiomqtt.MqttError, OSError, RuntimeError):
            await self._client.__aexit__(None, None, None)


async def connect_aiomqtt(host: str, port: int, *, client_id: str, protocol: str,
                          on_message: Callable[[IncomingMessage], None], keepalive: int = 10,
                          timeout: float = 5.0, username: str | None = None,
                          password: str | None = None,
                          ssl_context: ssl.SSLContext | None = None,
                          max_packet: int = MAX_PACKET) -> AiomqttConnection:
    """Open an aiomqtt session with TCP_NODELAY; raises the ``atmsim.kernel.mqtt`` errors.

    On MQTT 5 the broker is told the largest packet we take (CONNECT Maximum Packet
    Size). On 3.1.1 paho has no such limit: it reads an oversize message whole (the
    lean client, the default, skips it instead; docs/security.md)."""
    properties = None
    if protocol == "5":
        properties = Properties(PacketTypes.CONNECT)
        properties.MaximumPacketSize = max_packet
    client = aiomqtt.Client(host, port, identifier=client_id, protocol=_PROTOCOLS[protocol],
                            socket_options=_NODELAY, keepalive=keepalive, timeout=timeout,
                            logger=_log, username=username, password=password,
                            tls_context=ssl_context, properties=properties)
    connack: dict[str, Any] = {}
    paho = client._client
    aiomqtt_on_connect = paho.on_connect

    def on_connect(*args: Any) -> None:
        # aiomqtt drops the CONNACK properties; "Shared Subscription Available" is there.
        connack["properties"] = args[4] if len(args) > 4 else None
        aiomqtt_on_connect(*args)  # type: ignore[misc]

    paho.on_connect = on_connect
    try:
        await client.__aenter__()
    except aiomqtt.MqttCodeError as exc:
        code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", 0x80)
        raise MqttRefused(int(code)) from None
    except aiomqtt.MqttError as exc:
        raise MqttUnreachable(f"cannot reach {host}:{port}: {exc}") from None
    connection = AiomqttConnection(client, protocol, on_message)
    if protocol == "5":
        props = connack.get("properties")
        connection.shared_subscriptions = getattr(props, "SharedSubscriptionAvailable", 1) != 0
    return connection
