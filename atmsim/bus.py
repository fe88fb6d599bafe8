"""The message bus between the switch and the ledger: request / serve / publish.

One small interface (``Bus``) so that the switch and the ledger never touch an MQTT client
directly; ``MqttBus`` implements it with aiomqtt (QoS 1, TCP_NODELAY on every socket).

Request/reply follows DESIGN.md: the request JSON carries ``id`` and ``reply_to``; the
replier publishes its JSON answer to ``reply_to``. On MQTT 5 the response topic and the
correlation data are set as properties too, for tools that look there.

The connection is owned by a background task that reconnects with backoff, so a broker
that goes away and comes back is picked up by itself; while it is away, ``request`` fails
at once with ``BusUnavailable`` rather than waiting out its deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailable",
    "BusTimeout",
    "Handler",
    "MqttBus",
    "MqttEndpoint",
    "parse_mqtt_url",
]

log = logging.getLogger("atmsim.bus")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]

NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class _QuietPendingCalls(logging.Filter):
    """aiomqtt warns on every publish past a handful in flight; that is our normal load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pending publish calls" not in record.getMessage()


_mqtt_log = logging.getLogger("atmsim.bus.mqtt")
_mqtt_log.addFilter(_QuietPendingCalls())


class BusError(Exception):
    """The bus could not carry a request."""


class BusUnavailable(BusError):
    """Not connected to the broker."""


class BusTimeout(BusError):
    """No reply within the deadline."""


class Bus(Protocol):
    async def request(self, topic: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Publish ``payload`` with an ``id`` and ``reply_to`` and wait for the reply."""
        ...

    def serve(self, topic: str, handler: Handler, *, shared_group: str | None = None) -> None:
        """Answer every request on ``topic`` with ``handler`` while the bus is open."""
        ...

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Publish one message (QoS 1); False when it could not be handed to the broker."""
        ...


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    protocol: str = "auto"  # "5", "3.1.1" or "auto"
    shared_subscriptions: bool = True

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (or ``tcp://``, or a bare ``host:port``) to host and port.

    >>> parse_mqtt_url("mqtt://127.0.0.1:1884")
    ('127.0.0.1', 1884)
    """
    if "://" not in url:
        url = "mqtt://" + url
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r} (use mqtt://host:port)")
    if not parsed.hostname:
        raise ValueError(f"no host in MQTT URL {url!r}")
    try:
        port = parsed.port or 1883
    except ValueError:
        raise ValueError(f"bad port in MQTT URL {url!r}") from None
    return parsed.hostname, port


_PROTOCOLS = {"5": aiomqtt.ProtocolVersion.V5, "3.1.1": aiomqtt.ProtocolVersion.V311}


class MqttBus:
    """``Bus`` over MQTT. Use as ``async with MqttBus(endpoint, "switch") as bus:``."""

    def __init__(self, endpoint: MqttEndpoint, name: str, *, max_concurrent_handlers: int = 256,
                 reconnect_delay: float = 0.5) -> None:
        self.endpoint = endpoint
        self.client_id = f"atmsim-{name}-{uuid.uuid4().hex[:8]}"
        self.reply_topic = f"atmsim/v1/reply/{self.client_id}"
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._services: dict[str, tuple[str, Handler]] = {}  # subscription -> (topic, handler)
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._handler_slots = asyncio.Semaphore(max_concurrent_handlers)
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._reconnect_delay = reconnect_delay
        self._protocol = endpoint.protocol
        self._closing = False

    # -- lifetime -------------------------------------------------------------------

    async def __aenter__(self) -> MqttBus:
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closing = True
        if self._runner:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
            self._runner = None
        for task in list(self._handler_tasks):
            task.cancel()
        self._fail_pending(BusUnavailable("bus closed"))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except TimeoutError:
            return False

    # -- the interface --------------------------------------------------------------

    async def request(self, topic: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        client = self._client
        if client is None or not self._connected.is_set():
            raise BusUnavailable("not connected to the MQTT broker")
        request_id = str(payload.get("id") or uuid.uuid4())
        message = {**payload, "id": request_id, "reply_to": self.reply_topic}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with asyncio.timeout(timeout):
                await client.publish(topic, json.dumps(message, separators=(",", ":")), qos=1,
                                     properties=self._request_properties(request_id))
                return await future
        except TimeoutError:
            raise BusTimeout(f"no reply on {topic} within {timeout:.1f}s") from None
        except aiomqtt.MqttError as exc:
            raise BusUnavailable(f"publish failed: {exc}") from None
        finally:
            self._pending.pop(request_id, None)

    def serve(self, topic: str, handler: Handler, *, shared_group: str | None = None) -> None:
        use_share = shared_group and self.endpoint.shared_subscriptions
        subscription = f"$share/{shared_group}/{topic}" if use_share else topic
        self._services[subscription] = (topic, handler)
        client = self._client
        if client is not None and self._connected.is_set():
            task = asyncio.create_task(self._subscribe(client, subscription))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        client = self._client
        if client is None or not self._connected.is_set():
            return False
        try:
            await client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1)
            return True
        except aiomqtt.MqttError:
            return False

    # -- connection ownership -------------------------------------------------------

    def _request_properties(self, request_id: str) -> Properties | None:
        if self._protocol != "5":
            return None
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = request_id.encode()
        return props

    def _make_client(self, protocol: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.endpoint.host,
            self.endpoint.port,
            identifier=self.client_id,
            protocol=_PROTOCOLS[protocol],
            socket_options=NODELAY,
            keepalive=10,
            timeout=5,
            logger=_mqtt_log,
        )

    async def _run(self) -> None:
        delay = self._reconnect_delay
        announced_down = False
        while not self._closing:
            protocols = ["5", "3.1.1"] if self._protocol == "auto" else [self._protocol]
            for protocol in protocols:
                try:
                    async with self._make_client(protocol) as client:
                        self._protocol = protocol
                        await self._session(client)
                except aiomqtt.MqttCodeError as exc:
                    # A v3.1.1-only broker refuses an MQTT 5 CONNECT: try the next protocol.
                    log.debug("MQTT %s refused by %s: %s", protocol, self.endpoint.url, exc)
                    continue
                except aiomqtt.MqttError as exc:
                    if not announced_down:
                        log.warning("MQTT broker %s unavailable: %s", self.endpoint.url, exc)
                        announced_down = True
                    break
                finally:
                    self._client = None
                    if self._connected.is_set():
                        self._connected.clear()
                        self._fail_pending(BusUnavailable("connection to the broker lost"))
                announced_down = False
                delay = self._reconnect_delay
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.subscribe(self.reply_topic, qos=1)
        for subscription in self._services:
            await self._subscribe(client, subscription)
        self._client = client
        self._connected.set()
        log.info("connected to MQTT broker %s (MQTT %s) as %s", self.endpoint.url,
                 self._protocol, self.client_id)
        async for message in client.messages:
            self._dispatch(client, message)

    async def _subscribe(self, client: aiomqtt.Client, subscription: str) -> None:
        try:
            await client.subscribe(subscription, qos=1)
        except aiomqtt.MqttError as exc:
            log.warning("subscribe %s failed: %s", subscription, exc)

    def _dispatch(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        try:
            body = json.loads(message.payload)  # type: ignore[arg-type]
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, TypeError):
            log.warning("dropped a message on %s that is not a JSON object", message.topic)
            return
        topic = str(message.topic)
        if topic == self.reply_topic:
            future = self._pending.get(str(body.get("id")))
            if future is not None and not future.done():
                future.set_result(body)
            return
        for service_topic, handler in self._services.values():
            if message.topic.matches(service_topic):
                task = asyncio.create_task(self._handle(client, handler, body,
                                                        message.properties))
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)
                return

    async def _handle(self, client: aiomqtt.Client, handler: Handler, body: dict[str, Any],
                      request_properties: Properties | None) -> None:
        async with self._handler_slots:
            try:
                reply = await handler(body)
            except Exception:
                log.exception("handler failed for request %s", body.get("id"))
                reply = {"id": body.get("id"), "result": "ERROR", "reason": "internal error"}
            reply_to = body.get("reply_to")
            response_topic = getattr(request_properties, "ResponseTopic", None)
            if not (isinstance(reply_to, str) and reply_to) and response_topic:
                reply_to = response_topic  # an MQTT 5 requester that only set the property
            if reply is None or not isinstance(reply_to, str) or not reply_to:
                return
            properties = None
            correlation = getattr(request_properties, "CorrelationData", None)
            if self._protocol == "5" and correlation is not None:
                properties = Properties(PacketTypes.PUBLISH)
                properties.CorrelationData = correlation
            try:
                await client.publish(reply_to, json.dumps(reply, separators=(",", ":")), qos=1,
                                     properties=properties)
            except aiomqtt.MqttError as exc:
                log.warning("reply to %s not sent: %s", body.get("id"), exc)

    def _fail_pending(self, error: BusError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
