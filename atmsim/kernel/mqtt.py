"""A lean MQTT 3.1.1 / 5 client connection on asyncio, for ``atmsim.kernel.bus`` only.

Just what the bus needs: CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and 1 (with PUBACK), the
MQTT 5 response-topic, correlation-data and user properties (a W3C ``traceparent`` rides
in one), keep-alive, DISCONNECT. It exists
for speed: the switch sends and receives several MQTT packets per balance inquiry, and
paho-mqtt (under aiomqtt) spends most of a core on them at a few hundred inquiries per
second: several ``recv`` calls per incoming packet, a ``send`` plus two ``epoll_ctl`` per
outgoing one, and a scan of every pending call on every publish. Here one ``recv`` brings
whatever has arrived, all packets in it are parsed from one buffer, and everything queued
while the event loop runs one round (publishes, PUBACKs) goes out in a single write.

A packet over ``max_packet`` bytes (1 MiB by default; announced to an MQTT 5 broker as the
CONNECT Maximum Packet Size, so that a conforming broker never sends one) is read past
and dropped, acknowledged if it was a QoS 1 PUBLISH, without holding it in memory and
without giving up the connection: a hostile message costs its receiver nothing but the
bytes on the wire. User name, password and TLS (an ``ssl.SSLContext``) are supported.

Packets follow OASIS MQTT 3.1.1 and 5.0 (tests/kernel/test_mqtt_packets.py holds them to
the bytes of both). Whatever a broker sends that the specifications call malformed or a
protocol error (a length past its packet, reserved flags or packet types, a QoS this
client never asked for, an unknown MQTT 5 property) ends the connection with
``MqttError``, as they require; nothing else is raised. An MQTT 5 broker's Server Keep
Alive replaces the client's own. QoS 1 messages are not stored for redelivery
across reconnections (clean session / clean start): a request lost with its connection is
answered 91 by the switch's deadline, which is the contract.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["MAX_PACKET", "MqttError", "MqttUnreachable", "MqttRefused", "MqttConnection",
           "IncomingMessage", "connect", "encode_length", "topic_matches"]

log = logging.getLogger("atmsim.bus")

_CONNECT, _CONNACK, _PUBLISH, _PUBACK = 0x10, 0x20, 0x30, 0x40
_SUBSCRIBE, _SUBACK, _PINGREQ, _PINGRESP, _DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
_PROP_RESPONSE_TOPIC, _PROP_CORRELATION, _PROP_RECEIVE_MAXIMUM = 0x08, 0x09, 0x21
_PROP_SERVER_KEEP_ALIVE, _PROP_MAXIMUM_PACKET_SIZE, _PROP_SHARED_SUBSCRIPTIONS = 0x13, 0x27, 0x2A
_PROP_USER = 0x26
# MQTT 5 property identifier -> how its value is encoded (to skip the ones we ignore).
_PROPERTY_KINDS = {
    0x01: "byte", 0x17: "byte", 0x19: "byte", 0x24: "byte", 0x25: "byte", 0x28: "byte",
    0x29: "byte", 0x2A: "byte", 0x02: "int4", 0x11: "int4", 0x18: "int4", 0x27: "int4",
    0x13: "int2", 0x21: "int2", 0x22: "int2", 0x23: "int2", 0x0B: "varint",
    0x03: "string", 0x08: "string", 0x12: "string", 0x15: "string", 0x1A: "string",
    0x1C: "string", 0x1F: "string", 0x09: "binary", 0x16: "binary", 0x26: "pair",
}
# A bus message is a small JSON document (a statement reply is a few KiB); anything over
# this is dropped. Whole packet, fixed header included, as MQTT 5 counts it.
MAX_PACKET = 1 << 20


class MqttError(ConnectionError):
    """The connection to the broker failed or was lost."""


class MqttUnreachable(MqttError):
    """No TCP connection to the broker could be opened."""


class MqttRefused(MqttError):
    """The broker answered CONNECT with a refusal (``code``); 1 / 0x84: wrong protocol."""

    def __init__(self, code: int) -> None:
        reason = " (bad user name or password / not authorised)" if code in _AUTH_CODES else ""
        super().__init__(f"broker refused the connection (code {code:#04x}){reason}")
        self.code = code

    @property
    def wrong_protocol(self) -> bool:
        return self.code in (0x01, 0x84)

    @property
    def not_authorized(self) -> bool:
        return self.code in _AUTH_CODES


# 3.1.1: 4 bad user name or password, 5 not authorised; 5.0: 0x86, 0x87, 0x8C.
_AUTH_CODES = (0x04, 0x05, 0x86, 0x87, 0x8C)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    topic: str
    payload: bytes
    response_topic: str | None = None  # MQTT 5 properties, when the sender set them
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()  # MQTT 5 name/value pairs, in order
    # The QoS it was delivered at (the lower of the sender's and the subscription's): a
    # request is answered at the QoS it came with. Not part of a message's equality.
    qos: int = field(default=1, compare=False)


def encode_length(length: int) -> bytes:
    """MQTT's variable byte integer.

    >>> encode_length(321)
    b'\\xc1\\x02'
    """
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_length(len(body)) + body


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest), shared names removed.

    >>> topic_matches("$share/g/bpjs/+/req", "bpjs/jht/req"), topic_matches("a/#", "a/b/c")
    (True, True)
    """
    if pattern.startswith("$share/"):
        pattern = pattern.split("/", 2)[2]
    wanted, levels = pattern.split("/"), topic.split("/")
    for index, part in enumerate(wanted):
        if part == "#":
            return True
        if index >= len(levels) or (part != "+" and part != levels[index]):
            return False
    return len(wanted) == len(levels)


def _read_length(data: bytes | bytearray, at: int) -> tuple[int, int] | None:
    """A variable byte integer at ``at``: (value, next position), or None if incomplete."""
    value, shift = 0, 0
    for index in range(at, min(at + 4, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    if len(data) - at >= 4:
        raise MqttError("malformed remaining length from the broker")
    return None


_FIXED_SIZES = {"byte": 1, "int2": 2, "int4": 4}


def _parse_properties(data: bytes, at: int) -> tuple[dict[int, object], int]:
    """The MQTT 5 property block at ``at``: (identifier -> value, where the block ends).

    Raises ``MqttError`` for a block that does not fit in its packet, a value that does
    not fit in its block, or an identifier MQTT 5 does not define. Strings and binary
    data come back as bytes; user properties (the one property that may repeat) as a
    list of (name, value) text pairs.
    """
    header = _read_length(data, at)
    if header is None:
        raise MqttError("MQTT 5 properties cut short by the broker")
    length, at = header
    end = at + length
    if end > len(data):
        raise MqttError("MQTT 5 properties longer than their packet from the broker")
    found: dict[int, object] = {}
    while at < end:
        ident, kind = data[at], _PROPERTY_KINDS.get(data[at])
        at += 1
        value: object
        if kind in _FIXED_SIZES:
            size = _FIXED_SIZES[kind]
            value, at = int.from_bytes(data[at:at + size], "big"), at + size
        elif kind == "varint":
            value, at = _read_length(data, at) or (0, end + 1)
        elif kind in ("string", "binary"):
            size = int.from_bytes(data[at:at + 2], "big")
            value, at = bytes(data[at + 2:at + 2 + size]), at + 2 + size
        elif kind == "pair":
            first = int.from_bytes(data[at:at + 2], "big")
            name = bytes(data[at + 2:at + 2 + first])
            at += 2 + first
            second = int.from_bytes(data[at:at + 2], "big")
            pair = (name.decode("utf-8", "replace"),
                    bytes(data[at + 2:at + 2 + second]).decode("utf-8", "replace"))
            at += 2 + second
            pairs = found.setdefault(ident, [])
            assert isinstance(pairs, list)
            pairs.append(pair)
            continue
        else:
            raise MqttError(f"unknown MQTT 5 property {ident:#04x} from the broker")
        found[ident] = value
    if at != end:  # a value ran past its block (slices never raise: this is the check)
        raise MqttError(f"MQTT 5 property {ident:#04x} longer than its block from the broker")
    return found, end


class MqttConnection(asyncio.Protocol):
    """One connected session. Create it with :func:`connect`."""

    def __init__(self, protocol: str, on_message: Callable[[IncomingMessage], None],
                 max_packet: int = MAX_PACKET) -> None:
        self.v5 = protocol == "5"
        self._on_message = on_message
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._max_packet = max_packet
        self._skip = 0  # bytes still to come of an oversize packet being dropped
        self.dropped_oversize = 0
        self._dropped_reported = 0.0
        # MQTT 5 CONNACK "Shared Subscription Available" (absent means yes); on 3.1.1 a
        # broker cannot say, so None.
        self.shared_subscriptions: bool | None = None
        # MQTT 5 CONNACK "Server Keep Alive": the broker's keep-alive, which the client
        # MUST use instead of its own (5.0 3.2.2.3.14).
        self.server_keep_alive: int | None = None
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()
        self._connack: asyncio.Future[int] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._acks: dict[int, asyncio.Future[int]] = {}  # packet id -> PUBACK / SUBACK
        self._next_id = 0
        self._receive_maximum = 65535  # QoS 1 messages the broker takes unacknowledged
        self._room_waiters: list[asyncio.Future[None]] = []
        self._last_in = self._loop.time()
        self._keepalive_task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Nagle holds a small packet until the last one is acknowledged: a QoS 1
            # round trip then takes 40-90 ms on loopback instead of well under 1 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._last_in = self._loop.time()
        if self._skip:
            # The rest of an oversize packet: counted off, never stored.
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data, self._skip = data[self._skip:], 0
        buffer = self._buffer
        buffer += data
        at = 0
        try:
            while len(buffer) - at >= 2:
                header = _read_length(buffer, at + 1)
                if header is None:
                    break
                length, start = header
                end = start + length
                if end - at > self._max_packet:
                    if not self._drop_oversize(buffer, at, start, length):
                        break  # its topic and packet id are not all here yet
                    if end <= len(buffer):
                        at = end
                        continue
                    self._skip = end - len(buffer)
                    at = len(buffer)
                    break
                if end > len(buffer):
                    break
                self._handle(buffer[at], bytes(buffer[start:end]))
                at = end
        except MqttError as exc:
            self._fail(exc)
            return
        if at:
            del buffer[:at]

    def _drop_oversize(self, buffer: bytearray, at: int, start: int, length: int) -> bool:
        """Drop the oversize packet at ``at``: acknowledge it if it is a QoS 1 PUBLISH
        (the broker would otherwise hold it in flight for ever). False while the head
        that names its packet id has not arrived."""
        first_byte = buffer[at]
        if first_byte & 0xF0 != _PUBLISH:
            raise MqttError(f"a packet of {length} bytes (type {first_byte >> 4}) from the broker")
        qos = (first_byte >> 1) & 0x03
        if len(buffer) < start + 2:
            return False
        topic_end = start + 2 + int.from_bytes(buffer[start:start + 2], "big")
        if qos and len(buffer) < topic_end + 2:
            return False
        if qos:
            self._send(_packet(_PUBACK, bytes(buffer[topic_end:topic_end + 2])))
        self.dropped_oversize += 1
        now = time.monotonic()
        if now - self._dropped_reported >= 60:
            self._dropped_reported = now
            topic = bytes(buffer[start + 2:min(topic_end, start + 82)]).decode("utf-8",
                                                                                  "replace")
            log.warning("dropped a message of %d bytes on %s (over the %d-byte limit; "
                        "%d dropped so far)", length, topic, self._max_packet,
                        self.dropped_oversize)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(MqttError(f"connection to the broker lost: {exc}" if exc
                             else "the broker closed the connection"))

    # -- sending ----------------------------------------------------------------------

    def _send(self, packet: bytes) -> None:
        if self._transport is None or self._closed.done():
            raise MqttError("not connected to the broker")
        self._outgoing.append(packet)
        if not self._flush_scheduled:
            # Everything queued in this round of the event loop and the next leaves in one
            # write: the PUBACK of a message received goes out with what the task woken by
            # that message publishes (the ledger's reply, the switch's event), one write and
            # one wake-up of the broker instead of two (BENCHMARKS.md).
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_next_round)

    def _flush_next_round(self) -> None:
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        packets, self._outgoing = self._outgoing, []
        if self._transport is not None and not self._transport.is_closing() and packets:
            self._transport.write(b"".join(packets))

    def _packet_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._acks:
                return self._next_id
        raise MqttError("every packet identifier is in flight")

    def publish(self, topic: str, payload: bytes, qos: int = 1, *,
                response_topic: str | None = None, correlation_data: bytes | None = None,
                user_properties: Sequence[tuple[str, str]] = ()
                ) -> asyncio.Future[int] | None:
        """Queue a PUBLISH; for QoS 1 returns a future that completes with the PUBACK.
        The properties go only on MQTT 5 (3.1.1 has none)."""
        topic_bytes = _string(topic)
        ack: asyncio.Future[int] | None = None
        packet_id = b""
        if qos:
            ident = self._packet_id()
            ack = self._loop.create_future()
            self._acks[ident] = ack
            packet_id = ident.to_bytes(2, "big")
        properties = b""
        if self.v5:
            props = b""
            if response_topic is not None:
                props += bytes((_PROP_RESPONSE_TOPIC,)) + _string(response_topic)
            if correlation_data is not None:
                props += bytes((_PROP_CORRELATION,)) + len(correlation_data).to_bytes(
                    2, "big") + correlation_data
            for name, value in user_properties:
                props += bytes((_PROP_USER,)) + _string(name) + _string(value)
            properties = encode_length(len(props)) + props
        self._send(_packet(_PUBLISH | (qos << 1), topic_bytes + packet_id + properties
                           + payload))
        return ack

    def publish_soon(self, topic: str, payload: bytes, *, response_topic: str | None = None,
                     correlation_data: bytes | None = None,
                     user_properties: Sequence[tuple[str, str]] = (), qos: int = 1) -> bool:
        """PUBLISH at QoS 1 without waiting for the PUBACK; False if the broker's in-flight
        quota (its Receive Maximum) is used up: the message is then not sent. ``qos=0``:
        at most once, no PUBACK (and no quota)."""
        if qos and len(self._acks) >= self._receive_maximum:
            return False
        self.publish(topic, payload, qos, response_topic=response_topic,
                     correlation_data=correlation_data, user_properties=user_properties)
        return True

    async def publish_acked(self, topic: str, payload: bytes, *,
                            response_topic: str | None = None,
                            correlation_data: bytes | None = None,
                            user_properties: Sequence[tuple[str, str]] = ()) -> None:
        """PUBLISH at QoS 1 and wait for the broker's PUBACK (and first for room in its
        in-flight quota)."""
        while len(self._acks) >= self._receive_maximum:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._room_waiters.append(waiter)
            await waiter
        ack = self.publish(topic, payload, 1, response_topic=response_topic,
                           correlation_data=correlation_data, user_properties=user_properties)
        assert ack is not None
        await ack

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        ident = self._packet_id()
        ack: asyncio.Future[int] = self._loop.create_future()
        self._acks[ident] = ack
        body = ident.to_bytes(2, "big") + (b"\x00" if self.v5 else b"") + \
            _string(topic_filter) + bytes((qos,))
        self._send(_packet(_SUBSCRIBE, body))
        code = await ack
        if code >= 0x80:
            raise MqttError(f"subscription to {topic_filter} refused (code {code:#04x})")

    async def wait_closed(self) -> None:
        """Until the connection ends; raises the ``MqttError`` that ended it."""
        await asyncio.shield(self._closed)

    async def close(self) -> None:
        """DISCONNECT and close; pending acknowledgements fail."""
        if self._transport is not None and not self._closed.done():
            try:
                self._send(bytes((_DISCONNECT, 0)))
                self._flush()
            except MqttError:
                pass
            self._transport.close()
        self._fail(MqttError("connection closed"))

    # -- receiving --------------------------------------------------------------------

    def _handle(self, first_byte: int, body: bytes) -> None:
        kind = first_byte & 0xF0
        if kind == _PUBLISH:
            self._receive_publish(first_byte, body)
            return
        if first_byte & 0x0F:
            # Only PUBLISH has flags; elsewhere they are reserved and a receiver MUST
            # close the connection (MQTT 3.1.1 2.2.2, 5.0 2.1.3).
            raise MqttError(f"packet type {first_byte >> 4} with reserved flags "
                            f"{first_byte & 0x0F:#x} from the broker")
        if kind in (_PUBACK, _SUBACK):
            if len(body) < (3 if kind == _SUBACK else 2):
                raise MqttError(f"{'SUBACK' if kind == _SUBACK else 'PUBACK'} of "
                                f"{len(body)} bytes from the broker")
            ident = int.from_bytes(body[:2], "big")
            code = 0
            if kind == _SUBACK:
                at = 2
                if self.v5:
                    _, at = _parse_properties(body, at)
                if at >= len(body):
                    raise MqttError("SUBACK without a reason code from the broker")
                code = body[at]
            elif len(body) > 2:
                code = body[2]
            future = self._acks.pop(ident, None)
            if future is not None and not future.done():
                future.set_result(code)
            if self._room_waiters:
                waiter = self._room_waiters.pop(0)
                if not waiter.done():
                    waiter.set_result(None)
        elif kind == _CONNACK:
            if len(body) < 2 or (not self.v5 and len(body) != 2):
                raise MqttError(f"CONNACK of {len(body)} bytes from the broker")
            code = body[1]
            if self.v5 and code == 0:
                properties, _ = _parse_properties(body, 2) if len(body) > 2 else ({}, 0)
                quota = properties.get(_PROP_RECEIVE_MAXIMUM)
                if isinstance(quota, int) and quota > 0:
                    self._receive_maximum = quota
                self.shared_subscriptions = properties.get(_PROP_SHARED_SUBSCRIPTIONS, 1) != 0
                server_keep_alive = properties.get(_PROP_SERVER_KEEP_ALIVE)
                if isinstance(server_keep_alive, int):
                    self.server_keep_alive = server_keep_alive
            if not self._connack.done():
                self._connack.set_result(code)
        elif kind == _DISCONNECT:
            code = body[0] if body else 0
            raise MqttError(f"the broker disconnected us (code {code:#04x})")
        elif kind != _PINGRESP:
            # CONNECT, SUBSCRIBE, QoS 2 flows, AUTH, reserved types: nothing a broker
            # sends to this client; reading on would mean guessing.
            raise MqttError(f"unexpected packet type {first_byte >> 4} from the broker")
        # PINGRESP needs nothing: any packet in proves the broker is there.

    def _receive_publish(self, first_byte: int, body: bytes) -> None:
        qos = (first_byte >> 1) & 0x03
        if qos > 1:
            # QoS 3 does not exist; QoS 2 is never granted, every subscription asks for 1.
            raise MqttError(f"PUBLISH at QoS {qos} from the broker")
        size = int.from_bytes(body[:2], "big")
        at = 2 + size
        if len(body) < at + 2 * qos:
            raise MqttError("PUBLISH shorter than its topic from the broker")
        topic = body[2:at].decode("utf-8", "replace")
        if qos:
            ident = body[at:at + 2]
            at += 2
            self._send(_packet(_PUBACK, ident))
        response_topic = correlation = None
        user_properties: tuple[tuple[str, str], ...] = ()
        if self.v5:
            properties, at = _parse_properties(body, at)
            raw_topic = properties.get(_PROP_RESPONSE_TOPIC)
            if isinstance(raw_topic, bytes):
                response_topic = raw_topic.decode("utf-8", "replace")
            raw_correlation = properties.get(_PROP_CORRELATION)
            if isinstance(raw_correlation, bytes):
                correlation = raw_correlation
            pairs = properties.get(_PROP_USER)
            if isinstance(pairs, list):
                user_properties = tuple(pairs)
        self._on_message(IncomingMessage(topic, body[at:], response_topic, correlation,
                                         user_properties, qos))

    # -- lifetime ---------------------------------------------------------------------

    def _fail(self, error: MqttError) -> None:
        if not self._closed.done():
            self._closed.set_exception(error)
            self._closed.exception()  # retrieved here: nobody need wait on it
        if not self._connack.done():
            self._connack.set_exception(error)
            self._connack.exception()
        acks, self._acks = self._acks, {}
        for future in acks.values():
            if not future.done():
                future.set_exception(error)
                future.exception()
        for waiter in self._room_waiters:
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    async def _keep_alive(self, keepalive: float) -> None:
        while True:
            await asyncio.sleep(keepalive / 2)
            if self._loop.time() - self._last_in > keepalive * 1.5:
                self._fail(MqttError(f"no word from the broker for {keepalive * 1.5:.0f}s"))
                return
            try:
                self._send(bytes((_PINGREQ, 0)))
            except MqttError:
                return


async def connect(host: str, port: int, *, client_id: str, protocol: str,
                  on_message: Callable[[IncomingMessage], None], keepalive: int = 10,
                  timeout: float = 5.0, username: str | None = None,
                  password: str | None = None, ssl_context: ssl.SSLContext | None = None,
                  max_packet: int = MAX_PACKET) -> MqttConnection:
    """Open a TCP (or TLS) connection and an MQTT session (clean start); raises
    ``MqttError``. ``timeout`` bounds the connection and the CONNACK each."""
    loop = asyncio.get_running_loop()
    try:
        _, connection = await asyncio.wait_for(loop.create_connection(
            lambda: MqttConnection(protocol, on_message, max_packet), host, port,
            ssl=ssl_context, server_hostname=host if ssl_context else None,
            ssl_handshake_timeout=timeout if ssl_context else None), timeout)
    except ssl.SSLError as exc:
        raise MqttUnreachable(f"TLS with {host}:{port} failed: "
                              f"{exc.reason or exc.strerror or exc}") from None
    except TimeoutError:
        raise MqttUnreachable(f"cannot reach {host}:{port}: no answer within "
                              f"{timeout:g}s") from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise MqttUnreachable(f"cannot reach {host}:{port}: {reason}") from None
    level = 5 if protocol == "5" else 4
    flags = 0x02 | (0x80 if username is not None else 0) | (
        0x40 if username is not None and password is not None else 0)
    variable = _string("MQTT") + bytes((level, flags)) + struct.pack("!H", keepalive)
    if level == 5:
        props = bytes((_PROP_MAXIMUM_PACKET_SIZE,)) + max_packet.to_bytes(4, "big")
        variable += encode_length(len(props)) + props
    payload = _string(client_id)
    if username is not None:
        payload += _string(username)
        if password is not None:
            payload += _string(password)
    connection._send(_packet(_CONNECT, variable + payload))
    try:
        code = await asyncio.wait_for(asyncio.shield(connection._connack), timeout)
    except TimeoutError:
        await connection.close()
        raise MqttError(f"no CONNACK from {host}:{port} within {timeout:g}s") from None
    except MqttError:
        await connection.close()
        raise
    if code != 0:
        await connection.close()
        raise MqttRefused(code)
    if connection.server_keep_alive is not None:
        keepalive = connection.server_keep_alive
    if keepalive > 0:  # 0: keep-alive switched off (3.1.2.10)
        connection._keepalive_task = loop.create_task(connection._keep_alive(keepalive))
    return connection
