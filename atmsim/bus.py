"""The message bus between the switch and the ledger: request / serve / publish.

One small interface (``Bus``) so that the switch and the ledger never touch an MQTT client
directly; ``MqttBus`` implements it over ``atmsim.mqtt``, a lean asyncio MQTT 3.1.1/5
connection (QoS 1, TCP_NODELAY on every socket). It replaced aiomqtt/paho-mqtt behind the
same interface because paho cost more CPU per inquiry than the rest of the switch put
together (see BENCHMARKS.md); JSON goes through orjson for the same reason.

Request/reply follows DESIGN.md: the request JSON carries ``id`` and ``reply_to``; the
replier publishes its JSON answer to ``reply_to``. On MQTT 5 the response topic and the
correlation data are set as properties too, for tools that look there.

The connection is owned by a background task that reconnects with backoff, so a broker
that goes away and comes back is picked up by itself; while it is away, ``request`` fails
at once with ``BusUnavailable`` rather than waiting out its deadline.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import orjson

from atmsim.mqtt import (
    IncomingMessage,
    MqttConnection,
    MqttError,
    MqttRefused,
    MqttUnreachable,
    connect,
    topic_matches,
)

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

    def publish_soon(self, topic: str, payload: dict[str, Any]) -> bool:
        """Queue one message (QoS 1) without waiting for the broker; False when it cannot
        be queued (not connected). For events, which nobody waits for."""
        ...


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    protocol: str = "auto"  # "5", "3.1.1" or "auto"
    shared_subscriptions: bool = True
    client: str = "atmsim"  # "atmsim" (the lean atmsim.mqtt) or "aiomqtt"

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


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` until it has ended; the caller's own cancellation still propagates.

    One ``cancel()`` is not enough on Python 3.11: ``asyncio.wait_for`` returns its result
    and drops the cancellation when its inner future completes in the same loop round (a
    CONNACK arriving just as ``close`` cancels the connect), and the runner then went on to
    wait for a session nobody would end: ``atmsim up`` hung when a later part failed.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        log.debug("MQTT runner ended with %r", task.exception())


def _expire(future: asyncio.Future[dict[str, Any]], message: str) -> None:
    if not future.done():
        future.set_exception(BusTimeout(message))


class MqttBus:
    """``Bus`` over MQTT. Use as ``async with MqttBus(endpoint, "switch") as bus:``."""

    def __init__(self, endpoint: MqttEndpoint, name: str, *, max_concurrent_handlers: int = 256,
                 reconnect_delay: float = 0.5) -> None:
        self.endpoint = endpoint
        self.client_id = f"atmsim-{name}-{uuid.uuid4().hex[:8]}"
        self.reply_topic = f"atmsim/v1/reply/{self.client_id}"
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._services: dict[str, tuple[str, Handler]] = {}  # subscription -> (topic, handler)
        self._connection: MqttConnection | None = None
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
        # Handlers first: closing the connection under them would make each one log
        # a reply it could not send.
        for task in list(self._handler_tasks):
            task.cancel()
        if self._runner:
            await _cancel_and_wait(self._runner)
            self._runner = None
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
        connection = self._connection
        if connection is None or not self._connected.is_set():
            raise BusUnavailable("not connected to the MQTT broker")
        request_id = str(payload.get("id") or uuid.uuid4())
        message = {**payload, "id": request_id, "reply_to": self.reply_topic}
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[request_id] = future
        # One timer on the reply, and no wait for the PUBACK: the reply is the proof
        # that the request arrived (cheaper than asyncio.timeout around two awaits).
        timer = loop.call_later(timeout, _expire, future,
                                f"no reply on {topic} within {timeout:.1f}s")
        try:
            body = orjson.dumps(message)
            if not connection.publish_soon(topic, body, response_topic=self.reply_topic,
                                           correlation_data=request_id.encode()):
                # The broker's in-flight quota is used up: wait for room, within the time.
                await asyncio.wait_for(connection.publish_acked(
                    topic, body, response_topic=self.reply_topic,
                    correlation_data=request_id.encode()), max(0.0, timer.when() - loop.time()))
            return await future
        except TimeoutError:
            raise BusTimeout(f"no reply on {topic} within {timeout:.1f}s") from None
        except MqttError as exc:
            raise BusUnavailable(f"publish failed: {exc}") from None
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)

    def serve(self, topic: str, handler: Handler, *, shared_group: str | None = None) -> None:
        use_share = shared_group and self.endpoint.shared_subscriptions
        subscription = f"$share/{shared_group}/{topic}" if use_share else topic
        self._services[subscription] = (topic, handler)
        connection = self._connection
        if connection is not None and self._connected.is_set():
            task = asyncio.create_task(self._subscribe(connection, subscription))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        connection = self._connection
        if connection is None or not self._connected.is_set():
            return False
        try:
            await connection.publish_acked(topic, orjson.dumps(payload))
            return True
        except MqttError:
            return False

    def publish_soon(self, topic: str, payload: dict[str, Any]) -> bool:
        connection = self._connection
        if connection is None or not self._connected.is_set():
            return False
        try:
            return connection.publish_soon(topic, orjson.dumps(payload))
        except MqttError:
            return False

    # -- connection ownership -------------------------------------------------------

    async def _run(self) -> None:
        delay = self._reconnect_delay
        announced_down = False
        while not self._closing:
            protocols = ["5", "3.1.1"] if self._protocol == "auto" else [self._protocol]
            for protocol in protocols:
                try:
                    connection = await self._connect(
                        self.endpoint.host, self.endpoint.port, client_id=self.client_id,
                        protocol=protocol, on_message=self._dispatch, keepalive=10, timeout=5)
                except MqttUnreachable as exc:
                    if not announced_down:
                        log.warning("MQTT broker %s unavailable: %s", self.endpoint.url, exc)
                        announced_down = True
                    break
                except MqttError as exc:
                    # A v3.1.1-only broker refuses an MQTT 5 CONNECT (or just hangs up on
                    # it): try the next protocol.
                    if isinstance(exc, MqttRefused) and not exc.wrong_protocol:
                        log.warning("MQTT broker %s refused us: %s", self.endpoint.url, exc)
                    log.debug("MQTT %s refused by %s: %s", protocol, self.endpoint.url, exc)
                    continue
                self._protocol = protocol
                try:
                    await self._session(connection)
                except MqttError as exc:
                    if not announced_down:
                        log.warning("MQTT broker %s unavailable: %s", self.endpoint.url, exc)
                        announced_down = True
                finally:
                    await connection.close()
                    self._connection = None
                    if self._connected.is_set():
                        self._connected.clear()
                        self._fail_pending(BusUnavailable("connection to the broker lost"))
                announced_down = False
                delay = self._reconnect_delay
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @property
    def _connect(self) -> Callable[..., Awaitable[MqttConnection]]:
        if self.endpoint.client == "aiomqtt":
            from atmsim.mqtt_aiomqtt import connect_aiomqtt

            return connect_aiomqtt  # type: ignore[return-value]
        return connect

    async def _session(self, connection: MqttConnection) -> None:
        await connection.subscribe(self.reply_topic, qos=1)
        for subscription in self._services:
            await self._subscribe(connection, subscription)
        self._connection = connection
        self._connected.set()
        log.info("connected to MQTT broker %s (MQTT %s) as %s", self.endpoint.url,
                 self._protocol, self.client_id)
        await connection.wait_closed()

    async def _subscribe(self, connection: MqttConnection, subscription: str) -> None:
        try:
            await connection.subscribe(subscription, qos=1)
        except MqttError as exc:
            log.warning("subscribe %s failed: %s", subscription, exc)

    def _dispatch(self, message: IncomingMessage) -> None:
        try:
            body = orjson.loads(message.payload)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, TypeError):
            log.warning("dropped a message on %s that is not a JSON object", message.topic)
            return
        if message.topic == self.reply_topic:
            future = self._pending.get(str(body.get("id")))
            if future is not None and not future.done():
                future.set_result(body)
            return
        for subscription, (_, handler) in self._services.items():
            if topic_matches(subscription, message.topic):
                task = asyncio.create_task(self._handle(handler, body, message))
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)
                return

    async def _handle(self, handler: Handler, body: dict[str, Any],
                      request: IncomingMessage) -> None:
        async with self._handler_slots:
            try:
                reply = await handler(body)
            except Exception:
                log.exception("handler failed for request %s", body.get("id"))
                reply = {"id": body.get("id"), "result": "ERROR", "reason": "internal error"}
            reply_to = body.get("reply_to")
            if not (isinstance(reply_to, str) and reply_to) and request.response_topic:
                reply_to = request.response_topic  # an MQTT 5 requester that only set the property
            connection = self._connection
            if reply is None or not isinstance(reply_to, str) or not reply_to or connection is None:
                return
            try:
                await connection.publish_acked(reply_to, orjson.dumps(reply),
                                               correlation_data=request.correlation_data)
            except MqttError as exc:
                log.warning("reply to %s not sent: %s", body.get("id"), exc)

    def _fail_pending(self, error: BusError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
