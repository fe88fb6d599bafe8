"""The message bus between the switch and the ledger: request / serve / publish.

One small interface (``Bus``) so that the switch and the ledger never touch an MQTT client
directly; ``MqttBus`` implements it over ``atmsim.kernel.mqtt``, a lean asyncio MQTT 3.1.1/5
connection (QoS 1, TCP_NODELAY on every socket). It replaced aiomqtt/paho-mqtt behind the
same interface because paho cost more CPU per inquiry than the rest of the switch put
together (see BENCHMARKS.md); JSON goes through orjson for the same reason.

Request/reply (docs/ledger.md, "Over MQTT"): the request JSON carries ``id`` and ``reply_to``; the
replier publishes its JSON answer to ``reply_to``. On MQTT 5 the response topic and the
correlation data are set as properties too, for tools that look there.

The connection is owned by a background task that reconnects with backoff, so a broker
that goes away and comes back is picked up by itself; while it is away, ``request`` fails
at once with ``BusUnavailable`` rather than waiting out its deadline. ``established``
tells a starting command within seconds that the broker is not there at all.

The bus is shared with whoever else holds an account on the broker (docs/security.md):
a requester's replies come on ``atmsim/v1/reply/<username>/<client id>``, which the
broker lets only that account read; a server answers only a ``reply_to`` of that shape
(anything else, wildcards and NULs included, is dropped and logged, rate-limited), and a
requester takes a reply only for a request it has outstanding, with matching MQTT 5
correlation data when the reply carries any. Credentials are never printed: ``url`` and
``mask_url`` show ``user:***``.

A request may carry ``headers``, short strings for the replier beside the JSON (the W3C
``traceparent`` of ``atmsim.kernel.otel``): on MQTT 5 as user properties, which a
handler reads from ``request_headers`` while it answers; on MQTT 3.1.1, which has no
properties, as keys of the request JSON (never replacing one the payload has).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import orjson

from atmsim.kernel.mqtt import (
    MAX_PACKET,
    IncomingMessage,
    MqttConnection,
    MqttError,
    MqttRefused,
    MqttUnreachable,
    connect,
    topic_matches,
)
from atmsim.kernel.tls import TlsError, client_context
from atmsim.kernel.unmatched import MatchKey, UnmatchedReplyLog

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailable",
    "BusTimeout",
    "Handler",
    "Listener",
    "MqttBus",
    "MqttEndpoint",
    "MAX_PACKET",
    "REPLY_PREFIX",
    "MqttUrl",
    "check_reply_topic",
    "mask_url",
    "parse_mqtt_url",
    "parse_mqtt_url_full",
    "request_headers",
]

REPLY_PREFIX = "atmsim/v1/reply/"
MAX_REPLY_TOPIC = 256  # bytes of UTF-8

log = logging.getLogger("atmsim.bus")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
# A reader of a stream (``MqttBus.listen``): the topic and the payload as it came.
Listener = Callable[[str, bytes], None]

# The MQTT 5 user properties of the request a handler is answering (empty on MQTT 3.1.1,
# where headers are keys of the request JSON): set for each handler's own task.
request_headers: ContextVar[Mapping[str, str]] = ContextVar(
    "request_headers", default=MappingProxyType({}))


class BusError(Exception):
    """The bus could not carry a request."""


class BusUnavailable(BusError):
    """Not connected to the broker."""


class BusTimeout(BusError):
    """No reply within the deadline."""


class Bus(Protocol):
    async def request(self, topic: str, payload: dict[str, Any], timeout: float, *,
                      headers: Mapping[str, str] | None = None,
                      qos: int | None = None) -> dict[str, Any]:
        """Publish ``payload`` with an ``id`` and ``reply_to`` and wait for the reply;
        ``headers`` go with it (MQTT 5 user properties, or JSON keys on 3.1.1). ``qos``:
        the request's QoS (None: the endpoint's ``request_qos``); the reply comes back at
        the same QoS."""
        ...

    def serve(self, topic: str, handler: Handler, *, shared_group: str | None = None) -> None:
        """Answer every request on ``topic`` with ``handler`` while the bus is open."""
        ...

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Publish one message (QoS 1); False when it could not be handed to the broker."""
        ...

    def publish_soon(self, topic: str, payload: dict[str, Any], qos: int = 1) -> bool:
        """Queue one message (QoS 1, or 0: at most once, nothing acknowledged) without
        waiting for the broker; False when it cannot be queued (not connected). For
        events, which nobody waits for."""
        ...


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    protocol: str = "auto"  # "5", "3.1.1" or "auto"
    # "auto" (None): shared when an MQTT 5 broker says it has them; True / False: forced.
    shared_subscriptions: bool | None = None
    client: str = "atmsim"  # "atmsim" (the lean atmsim.kernel.mqtt), "aiomqtt" or "gmqtt"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None  # TLS: trust this CA (PEM) instead of the system's
    # QoS of requests (and so of their replies): 0 by default, see docs/architecture.md,
    # "Requests at QoS 0". A request that asks for 1 (a post) still goes at 1.
    request_qos: int = 0

    @property
    def url(self) -> str:
        """For messages: the password masked."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{_host(self.host)}:{self.port}"

    @property
    def secret_url(self) -> str:
        """The URL with the password, to hand to another process; never to print."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = ""
        if self.username:
            from urllib.parse import quote

            user = quote(self.username, safe="") + (
                ":" + quote(self.password, safe="") if self.password else "") + "@"
        return f"{scheme}://{user}{_host(self.host)}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            return client_context(ca_file=self.ca_file or None)
        except TlsError as exc:
            raise ValueError(f"MQTT {exc}") from None


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]*@",
                              re.IGNORECASE)


def mask_url(text: str) -> str:
    """Any ``scheme://user:password@`` in ``text`` with the password masked.

    >>> mask_url("mqtts://ledger:s3cret@broker:8883")
    'mqtts://ledger:***@broker:8883'
    """
    return _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)


def parse_mqtt_url_full(url: str) -> MqttUrl:
    """``mqtt://[user:password@]host[:port]`` (``mqtts://`` for TLS, default port 8883;
    ``tcp://`` and a bare ``host:port`` are plain MQTT on 1883). Errors never show the
    password."""
    shown = mask_url(url)
    if "://" not in url:
        url = "mqtt://" + url
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
        raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r} in {shown!r} "
                         "(use mqtt://host:port or mqtts://host:port)")
    tls = scheme in ("mqtts", "ssl")
    if not parsed.hostname:
        raise ValueError(f"no host in MQTT URL {shown!r}")
    try:
        port = parsed.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"bad port in MQTT URL {shown!r}") from None
    username = unquote(parsed.username) if parsed.username else None
    password = unquote(parsed.password) if parsed.password is not None else None
    return MqttUrl(parsed.hostname, port, tls, username, password)


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (or ``tcp://``, or a bare ``host:port``) to host and port.

    >>> parse_mqtt_url("mqtt://127.0.0.1:1884")
    ('127.0.0.1', 1884)
    """
    parsed = parse_mqtt_url_full(url)
    return parsed.host, parsed.port


def check_reply_topic(topic: object) -> str | None:
    """Why ``topic`` may not be answered on (None: it may): a reply goes only to a
    concrete topic under ``atmsim/v1/reply/``, at most 256 bytes, no wildcard, no NUL,
    no empty level.

    >>> check_reply_topic("atmsim/v1/reply/switch/atmsim-switch-1a2b"), check_reply_topic("#")
    (None, 'contains a wildcard')
    """
    if not isinstance(topic, str) or not topic:
        return "missing"
    if len(topic.encode("utf-8", "surrogatepass")) > MAX_REPLY_TOPIC:
        return f"longer than {MAX_REPLY_TOPIC} bytes"
    if "\x00" in topic:
        return "contains NUL"
    if "#" in topic or "+" in topic:
        return "contains a wildcard"
    if not topic.startswith(REPLY_PREFIX):
        return f"not under {REPLY_PREFIX}"
    if "" in topic[len(REPLY_PREFIX):].split("/"):
        return "has an empty level"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in topic):
        return "is not UTF-8"
    return None


class _RateLimitedWarning:
    """One warning, then at most one a minute with a count of those held back."""

    def __init__(self, every: float = 60.0) -> None:
        self._every = every
        self._last = -every
        self._held = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        suffix = f" ({held} more like it since the last report)" if held else ""
        log.warning(message + suffix, *args)


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
        # Under the account's own prefix: the broker lets only this account read it.
        self.reply_topic = f"{REPLY_PREFIX}{endpoint.username or 'anonymous'}/{self.client_id}"
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # topic -> (shared group, handler); the filter used depends on the broker
        self._services: dict[str, tuple[str | None, Handler]] = {}
        self._subscribed: dict[str, str] = {}  # topic -> the filter subscribed with
        self._listeners: dict[str, Listener] = {}  # topic filter -> reader of raw payloads
        self._dropped_before = 0  # oversize messages dropped by earlier connections
        self.shared_subscriptions: bool | None = None  # as the broker said; None: unknown
        self._attempted = asyncio.Event()  # the first connection attempt has ended
        self._caller_reports_first_failure = False  # established() says it in one line
        self.last_error = ""
        self._warn_reply_to = _RateLimitedWarning()
        self._warn_dropped = _RateLimitedWarning()
        self._unmatched = UnmatchedReplyLog(log, f"bus replies on {self.reply_topic}")
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

    async def established(self, timeout: float) -> None:
        """Return once connected; raise ``BusUnavailable`` (one line, password masked)
        when the first attempt to reach the broker failed or ``timeout`` passed. The bus
        goes on retrying in the background either way."""
        self._caller_reports_first_failure = True
        waiter = asyncio.ensure_future(self._connected.wait())
        attempted = asyncio.ensure_future(self._attempted.wait())
        try:
            await asyncio.wait([waiter, attempted], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            attempted.cancel()
        if self._connected.is_set():
            return
        reason = self.last_error or f"no answer within {timeout:g}s"
        raise BusUnavailable(f"cannot connect to the MQTT broker {self.endpoint.url}: {reason}")

    # -- the interface --------------------------------------------------------------

    async def request(self, topic: str, payload: dict[str, Any], timeout: float, *,
                      headers: Mapping[str, str] | None = None,
                      qos: int | None = None) -> dict[str, Any]:
        connection = self._connection
        if qos is None:
            qos = self.endpoint.request_qos
        if connection is None or not self._connected.is_set():
            raise BusUnavailable("not connected to the MQTT broker")
        request_id = str(payload.get("id") or uuid.uuid4())
        message = {**payload, "id": request_id, "reply_to": self.reply_topic}
        user_properties: tuple[tuple[str, str], ...] = ()
        if headers:
            if connection.v5:
                user_properties = tuple(headers.items())
            else:
                message = {**headers, **message}
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
                                           correlation_data=request_id.encode(),
                                           user_properties=user_properties, qos=qos):
                # The broker's in-flight quota is used up: wait for room, within the time.
                await asyncio.wait_for(connection.publish_acked(
                    topic, body, response_topic=self.reply_topic,
                    correlation_data=request_id.encode(), user_properties=user_properties),
                    max(0.0, timer.when() - loop.time()))
            return await future
        except (BusTimeout, TimeoutError) as exc:
            self._unmatched.timed_out(MatchKey(request_id=request_id, age=timeout))
            if isinstance(exc, BusTimeout):
                raise
            raise BusTimeout(f"no reply on {topic} within {timeout:.1f}s") from None
        except MqttError as exc:
            raise BusUnavailable(f"publish failed: {exc}") from None
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)

    def serve(self, topic: str, handler: Handler, *, shared_group: str | None = None) -> None:
        self._services[topic] = (shared_group, handler)
        connection = self._connection
        if connection is not None and self._connected.is_set():
            task = asyncio.create_task(self._subscribe(connection, topic))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)

    def listen(self, topic: str, listener: Listener) -> None:
        """Hand every message on ``topic`` (a filter) to ``listener(topic, payload)``
        unparsed while the bus is open; nothing is answered. For a reader of events that
        must see, and count, what it cannot read (``serve`` drops it unseen)."""
        self._listeners[topic] = listener
        connection = self._connection
        if connection is not None and self._connected.is_set():
            task = asyncio.create_task(self._subscribe_filter(connection, topic))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)

    @property
    def dropped_oversize(self) -> int:
        """Messages over ``MAX_PACKET`` the client read past and dropped, since the bus
        opened (every connection's)."""
        current = getattr(self._connection, "dropped_oversize", 0)
        return self._dropped_before + (current if isinstance(current, int) else 0)

    def _filter_for(self, topic: str) -> str:
        group = self._services[topic][0]
        wanted = self.endpoint.shared_subscriptions
        shared = self.shared_subscriptions if wanted is None else wanted
        return f"$share/{group}/{topic}" if group and shared else topic

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        connection = self._connection
        if connection is None or not self._connected.is_set():
            return False
        try:
            await connection.publish_acked(topic, orjson.dumps(payload))
            return True
        except MqttError:
            return False

    def publish_soon(self, topic: str, payload: dict[str, Any], qos: int = 1) -> bool:
        connection = self._connection
        if connection is None or not self._connected.is_set():
            return False
        try:
            return connection.publish_soon(topic, orjson.dumps(payload), qos=qos)
        except MqttError:
            return False

    # -- connection ownership -------------------------------------------------------

    async def _run(self) -> None:
        delay = self._reconnect_delay
        announced_down = False
        while not self._closing:
            protocols = ["5", "3.1.1"] if self._protocol == "auto" else [self._protocol]
            for index, protocol in enumerate(protocols):
                try:
                    connection = await self._connect(
                        self.endpoint.host, self.endpoint.port, client_id=self.client_id,
                        protocol=protocol, on_message=self._dispatch, keepalive=10,
                        # amqtt never answers an MQTT 5 CONNECT: do not wait long for it
                        # when 3.1.1 is the next thing to try.
                        timeout=2 if index < len(protocols) - 1 else 4,
                        username=self.endpoint.username, password=self.endpoint.password,
                        ssl_context=self.endpoint.ssl_context())
                except MqttUnreachable as exc:
                    self.last_error = str(exc)
                    if not self._attempted.is_set() and self._caller_reports_first_failure:
                        log.debug("MQTT broker %s unavailable: %s", self.endpoint.url, exc)
                    elif not announced_down:
                        log.warning("MQTT broker %s unavailable: %s", self.endpoint.url, exc)
                        announced_down = True
                    break
                except MqttError as exc:
                    self.last_error = str(exc)
                    # A v3.1.1-only broker refuses an MQTT 5 CONNECT (or just hangs up on
                    # it): try the next protocol.
                    quiet = not self._attempted.is_set() and self._caller_reports_first_failure
                    refused = isinstance(exc, MqttRefused) and not exc.wrong_protocol
                    log.debug("MQTT %s refused by %s: %s", protocol, self.endpoint.url, exc)
                    if refused and not quiet:
                        log.warning("MQTT broker %s refused us: %s", self.endpoint.url, exc)
                    elif index == len(protocols) - 1 and not quiet:
                        log.warning("MQTT broker %s: %s", self.endpoint.url, exc)
                    if isinstance(exc, MqttRefused) and exc.not_authorized:
                        break  # the other protocol would be refused the same way
                    continue
                self._protocol = protocol
                self.shared_subscriptions = connection.shared_subscriptions
                try:
                    await self._session(connection)
                except MqttError as exc:
                    if not announced_down:
                        log.warning("MQTT broker %s unavailable: %s", self.endpoint.url, exc)
                        announced_down = True
                finally:
                    self._dropped_before += getattr(connection, "dropped_oversize", 0)
                    await connection.close()
                    self._connection = None
                    if self._connected.is_set():
                        self._connected.clear()
                        self._fail_pending(BusUnavailable("connection to the broker lost"))
                announced_down = False
                delay = self._reconnect_delay
                break
            self._attempted.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @property
    def _connect(self) -> Callable[..., Awaitable[MqttConnection]]:
        if self.endpoint.client == "aiomqtt":
            from atmsim.kernel.mqtt_aiomqtt import connect_aiomqtt

            return connect_aiomqtt  # type: ignore[return-value]
        if self.endpoint.client == "gmqtt":
            from atmsim.kernel.mqtt_gmqtt import connect_gmqtt

            return connect_gmqtt  # type: ignore[return-value]
        return connect

    async def _session(self, connection: MqttConnection) -> None:
        await connection.subscribe(self.reply_topic, qos=1)
        for topic in self._services:
            await self._subscribe(connection, topic)
        for topic in self._listeners:
            await self._subscribe_filter(connection, topic)
        self._connection = connection
        self._connected.set()
        log.info("connected to MQTT broker %s (MQTT %s) as %s", self.endpoint.url,
                 self._protocol, self.client_id)
        await connection.wait_closed()

    async def _subscribe(self, connection: MqttConnection, topic: str) -> None:
        subscription = self._filter_for(topic)
        self._subscribed[topic] = subscription
        try:
            await connection.subscribe(subscription, qos=1)
        except MqttError as exc:
            log.warning("subscribe %s failed: %s", subscription, exc)

    async def _subscribe_filter(self, connection: MqttConnection, topic: str) -> None:
        try:
            await connection.subscribe(topic, qos=1)
        except MqttError as exc:
            log.warning("subscribe %s failed: %s", topic, exc)

    def _dispatch(self, message: IncomingMessage) -> None:
        for pattern, listener in self._listeners.items():
            if topic_matches(pattern, message.topic):
                listener(message.topic, message.payload)
                return
        try:
            body = orjson.loads(message.payload)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, TypeError):
            self._warn_dropped("dropped a message on %s that is not a JSON object",
                               message.topic[:80])
            return
        if message.topic == self.reply_topic:
            request_id = body.get("id")
            future = self._pending.get(request_id) if isinstance(request_id, str) else None
            if future is None:  # late, or not a request of ours
                self._unmatched.unmatched(MatchKey(request_id=str(request_id)[:64]),
                                          [MatchKey(request_id=key) for key in self._pending])
                return
            if future.done():
                return  # answered already (a QoS 1 redelivery)
            if (message.correlation_data is not None
                    and message.correlation_data != request_id.encode()):  # type: ignore[union-attr]
                self._warn_dropped("ignored a reply on %s whose correlation data does not "
                                   "match its id", self.reply_topic)
                return
            future.set_result(body)
            return
        for topic, (_, handler) in self._services.items():
            if topic_matches(topic, message.topic):
                reply_to = body.get("reply_to")
                if not (isinstance(reply_to, str) and reply_to) and message.response_topic:
                    reply_to = message.response_topic  # an MQTT 5 requester: the property
                problem = None if reply_to is None else check_reply_topic(reply_to)
                if problem is not None:
                    # Publishing it could make the broker drop us (a wildcard, a NUL) or
                    # hand an answer to someone it was not meant for: not answered.
                    self._warn_reply_to("dropped a request on %s: reply_to %s", message.topic,
                                        problem)
                    return
                if reply_to is not None:
                    body["reply_to"] = reply_to
                # (No reply_to at all: the handler still sees it, e.g. to refuse a post
                # nobody could acknowledge; nothing is published.)
                task = asyncio.create_task(self._handle(handler, body, message))
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)
                return

    async def _handle(self, handler: Handler, body: dict[str, Any],
                      request: IncomingMessage) -> None:
        async with self._handler_slots:
            if request.user_properties:  # this task's own: no other handler sees them
                request_headers.set(dict(request.user_properties))
            try:
                reply = await handler(body)
            except Exception:
                log.exception("handler failed for request %s", body.get("id"))
                reply = {"id": body.get("id"), "result": "ERROR", "reason": "internal error"}
            reply_to = body.get("reply_to")  # checked by _dispatch
            connection = self._connection
            if reply is None or not isinstance(reply_to, str) or not reply_to or connection is None:
                return
            try:
                if request.qos:
                    await connection.publish_acked(reply_to, orjson.dumps(reply),
                                                   correlation_data=request.correlation_data)
                else:  # at most once, as the request came: no PUBACK to wait for
                    connection.publish_soon(reply_to, orjson.dumps(reply),
                                            correlation_data=request.correlation_data, qos=0)
            except MqttError as exc:
                log.warning("reply to %s not sent: %s", body.get("id"), exc)

    def _fail_pending(self, error: BusError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
