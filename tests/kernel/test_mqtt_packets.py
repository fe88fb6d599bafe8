"""The lean MQTT client packet by packet, against a broker played by the test.

``FakeBroker`` is a real asyncio TCP server: it records every packet the client sends
and sends whatever bytes a test gives it. Expected bytes are written out from the OASIS
MQTT 3.1.1 and 5.0 specifications (section numbers in the comments); where it helps, paho
(under aiomqtt) is run against the same fake broker as an independent second opinion,
and paho's property encoder builds MQTT 5 property blocks.

Malformed input from the "broker" must end the connection with ``MqttError``, promptly
and without anything else escaping (asyncio would log an exception leaving
``data_received`` as an error: the ``no_stray_errors`` fixture fails the test on it).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterator

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from atmsim.kernel.mqtt import (
    MAX_PACKET,
    IncomingMessage,
    MqttConnection,
    MqttError,
    MqttRefused,
    connect,
    encode_length,
)

WITHIN = 3.0  # seconds: anything slower than this is a hang

CONNACK_311_OK = b"\x20\x02\x00\x00"  # 3.2: session present 0, return code 0
CONNACK_5_OK = b"\x20\x03\x00\x00\x00"  # 3.2 (5.0): flags, reason 0, no properties


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_length(len(body)) + body


def string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return len(raw).to_bytes(2, "big") + raw


def properties(packet_type: int, **values: object) -> bytes:
    """An MQTT 5 property block (length included), encoded by paho."""
    block = Properties(packet_type)
    for name, value in values.items():
        setattr(block, name, value)
    return bytes(block.pack())


class FakeBroker:
    """One client at a time over real TCP. ``auto`` answers CONNECT, SUBSCRIBE and QoS 1
    PUBLISH as a broker would (for running paho against it)."""

    def __init__(self, *, auto: bool = False, protocol: str = "5") -> None:
        self.auto = auto
        self.v5 = protocol == "5"
        self.packets: asyncio.Queue[bytes] = asyncio.Queue()
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FakeBroker:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.drop()
        assert self._server is not None
        self._server.close()
        # Each handler ends on the end of its stream: left running, it would be cancelled
        # at the end of the test's loop, which asyncio logs as an error.
        if self._handlers:
            await asyncio.wait_for(asyncio.gather(*self._handlers), WITHIN)
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                first = await reader.readexactly(1)
                header, length, shift = b"", 0, 0
                while True:
                    byte = (await reader.readexactly(1))[0]
                    header += bytes((byte,))
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                raw = first + header + await reader.readexactly(length)
                await self.packets.put(raw)
                if self.auto:
                    self._answer(raw)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def _answer(self, raw: bytes) -> None:
        kind, body = raw[0] & 0xF0, raw[len(raw) - _body_length(raw):]
        if kind == 0x10:
            self.send(CONNACK_5_OK if self.v5 else CONNACK_311_OK)
        elif kind == 0x80:
            self.send(packet(0x90, body[:2] + (b"\x00" if self.v5 else b"") + b"\x01"))
        elif raw[0] & 0xF6 == 0x32:
            topic_end = 2 + int.from_bytes(body[:2], "big")
            self.send(packet(0x40, body[topic_end:topic_end + 2]))

    async def packet(self) -> bytes:
        """The next whole packet the client sent (fixed header included)."""
        return await asyncio.wait_for(self.packets.get(), WITHIN)

    def send(self, data: bytes) -> None:
        assert self._writer is not None, "no client connected"
        self._writer.write(data)

    def drop(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _body_length(raw: bytes) -> int:
    length, shift = 0, 0
    for byte in raw[1:5]:
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return length


class Session:
    """A client connected to a ``FakeBroker``, and what it has delivered."""

    def __init__(self, broker: FakeBroker, connection: MqttConnection, connect_packet: bytes,
                 received: list[IncomingMessage]) -> None:
        self.broker = broker
        self.connection = connection
        self.connect_packet = connect_packet
        self.received = received

    async def closed_with(self) -> MqttError:
        """The error that ends the connection; fails the test if it does not end."""
        with pytest.raises(MqttError) as caught:
            await asyncio.wait_for(self.connection.wait_closed(), WITHIN)
        return caught.value


async def open_session(broker: FakeBroker, protocol: str = "5", connack: bytes | None = None,
                       **options: object) -> Session:
    received: list[IncomingMessage] = []
    options.setdefault("keepalive", 30)
    task = asyncio.create_task(connect(
        "127.0.0.1", broker.port, client_id="atm-1", protocol=protocol,
        on_message=received.append, timeout=2, **options))  # type: ignore[arg-type]
    try:
        connect_packet = await broker.packet()
        broker.send(connack if connack is not None else
                    CONNACK_5_OK if protocol == "5" else CONNACK_311_OK)
        connection = await asyncio.wait_for(task, WITHIN)
    finally:
        if not task.done():
            task.cancel()
    return Session(broker, connection, connect_packet, received)


@pytest.fixture(autouse=True)
def no_stray_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing but ``MqttError`` may come out of the client: an exception that escapes a
    protocol callback is logged by asyncio at ERROR."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    yield
    stray = [r.getMessage() for r in caplog.records if r.name == "asyncio"
             and r.levelno >= logging.ERROR]
    assert stray == []


@pytest.fixture
async def broker() -> AsyncIterator[FakeBroker]:
    async with FakeBroker() as fake:
        yield fake


async def settle() -> None:
    """Let the event loop deliver what is in flight on loopback."""
    for _ in range(5):
        await asyncio.sleep(0.01)


# -- what the client sends ------------------------------------------------------------


async def test_connect_3_1_1(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1", keepalive=10)
    # 3.1.2: protocol name "MQTT", level 4, flags: clean session (0x02), keep alive 10;
    # 3.1.3: the client identifier.
    assert session.connect_packet == packet(
        0x10, string("MQTT") + b"\x04\x02\x00\x0a" + string("atm-1"))
    await session.connection.close()


async def test_connect_5_announces_the_maximum_packet_size(broker: FakeBroker) -> None:
    session = await open_session(broker, "5", keepalive=10)
    # 3.1.2 (5.0): level 5, clean start, keep alive 10, then the properties: Maximum
    # Packet Size (0x27, four bytes) = 1 MiB.
    assert session.connect_packet == packet(
        0x10, string("MQTT") + b"\x05\x02\x00\x0a"
        + b"\x05\x27\x00\x10\x00\x00" + string("atm-1"))
    assert session.connect_packet[12:18] == properties(PacketTypes.CONNECT,
                                                       MaximumPacketSize=MAX_PACKET)
    await session.connection.close()


async def test_connect_5_with_a_smaller_maximum_packet_size(broker: FakeBroker) -> None:
    session = await open_session(broker, "5", max_packet=4096)
    assert properties(PacketTypes.CONNECT, MaximumPacketSize=4096) in session.connect_packet
    await session.connection.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_connect_with_user_name_and_password(broker: FakeBroker, protocol: str) -> None:
    session = await open_session(broker, protocol, username="switch", password="s3cret")
    raw = session.connect_packet
    flags = raw[2 + 6 + 1]  # after the fixed header, the protocol name and the level
    assert flags == 0xC2  # 3.1.2.8 / 3.1.2.9: user name and password flags, clean start
    assert raw.endswith(string("atm-1") + string("switch") + string("s3cret"))
    await session.connection.close()


async def test_connect_with_a_user_name_alone(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1", username="switch")
    assert session.connect_packet[9] == 0x82
    assert session.connect_packet.endswith(string("atm-1") + string("switch"))
    await session.connection.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_connect_is_what_paho_sends(protocol: str) -> None:
    paho_protocol = aiomqtt.ProtocolVersion.V5 if protocol == "5" else \
        aiomqtt.ProtocolVersion.V311
    connect_properties = None
    if protocol == "5":
        connect_properties = Properties(PacketTypes.CONNECT)
        connect_properties.MaximumPacketSize = MAX_PACKET
    async with FakeBroker(auto=True, protocol=protocol) as fake:
        async with aiomqtt.Client("127.0.0.1", fake.port, identifier="atm-1", keepalive=10,
                                  protocol=paho_protocol, username="u", password="p",
                                  properties=connect_properties,
                                  **({"clean_start": True} if protocol == "5"
                                     else {"clean_session": True})):  # type: ignore[arg-type]
            pass
        paho_connect = await fake.packet()
    async with FakeBroker() as fake:
        session = await open_session(fake, protocol, keepalive=10, username="u", password="p")
        assert session.connect_packet == paho_connect
        await session.connection.close()


async def test_publish_qos0_3_1_1(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1")
    assert session.connection.publish("bpjs/jht/req", b"{}", 0) is None
    # 3.3: no packet identifier at QoS 0.
    assert await broker.packet() == packet(0x30, string("bpjs/jht/req") + b"{}")
    await session.connection.close()


async def test_publish_qos1_3_1_1_completes_on_its_puback(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1")
    ack = session.connection.publish("bpjs/jht/req", b"{}", 1)
    assert ack is not None
    assert await broker.packet() == packet(0x32, string("bpjs/jht/req") + b"\x00\x01" + b"{}")
    assert not ack.done()
    broker.send(b"\x40\x02\x00\x01")  # 3.4: PUBACK for packet 1
    assert await asyncio.wait_for(ack, WITHIN) == 0
    await session.connection.close()


async def test_publish_5_without_properties_has_an_empty_property_block(
        broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    session.connection.publish("atm/events", b"x", 0)
    assert await broker.packet() == packet(0x30, string("atm/events") + b"\x00" + b"x")
    await session.connection.close()


async def test_publish_5_with_response_topic_and_correlation_data(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    session.connection.publish("bpjs/jht/req", b"{}", 1, response_topic="switch/r/1",
                               correlation_data=b"\x00\x07id")
    block = properties(PacketTypes.PUBLISH, ResponseTopic="switch/r/1",
                       CorrelationData=b"\x00\x07id")
    # 3.3.2.3.5 Response Topic (0x08), 3.3.2.3.6 Correlation Data (0x09).
    assert block == b"\x14\x08" + string("switch/r/1") + b"\x09" + string(b"\x00\x07id")
    assert await broker.packet() == packet(
        0x32, string("bpjs/jht/req") + b"\x00\x01" + block + b"{}")
    await session.connection.close()


async def test_publish_5_with_user_properties(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    session.connection.publish("t", b"", 0, correlation_data=b"c",
                               user_properties=[("traceparent", "00-ab"), ("k", "v")])
    block = properties(PacketTypes.PUBLISH, CorrelationData=b"c",
                       UserProperty=[("traceparent", "00-ab"), ("k", "v")])
    # 3.3.2.3.7 User Property (0x26): a UTF-8 string pair, as many as there are.
    assert block == (b"\x20\x09" + string(b"c") + b"\x26" + string("traceparent")
                     + string("00-ab") + b"\x26" + string("k") + string("v"))
    assert await broker.packet() == packet(0x30, string("t") + block)
    await session.connection.close()


async def test_publish_5_with_correlation_data_alone(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    session.connection.publish("t", b"", 0, correlation_data=b"c")
    assert await broker.packet() == packet(
        0x30, string("t") + properties(PacketTypes.PUBLISH, CorrelationData=b"c"))
    await session.connection.close()


async def test_publish_on_3_1_1_leaves_the_mqtt5_properties_out(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1")
    session.connection.publish("t", b"p", 0, response_topic="r", correlation_data=b"c",
                               user_properties=[("traceparent", "00-ab")])
    assert await broker.packet() == packet(0x30, string("t") + b"p")
    await session.connection.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_publish_and_subscribe_are_what_paho_sends(protocol: str) -> None:
    v5 = protocol == "5"
    paho_protocol = aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311
    publish_properties = None
    if v5:
        publish_properties = Properties(PacketTypes.PUBLISH)
        publish_properties.ResponseTopic = "switch/r/1"
        publish_properties.CorrelationData = b"42"
    async with FakeBroker(auto=True, protocol=protocol) as fake:
        async with aiomqtt.Client("127.0.0.1", fake.port, identifier="atm-1",
                                  protocol=paho_protocol) as client:
            await fake.packet()  # CONNECT
            await client.subscribe("$share/ledger/bpjs/+/req", qos=1)
            paho_subscribe = await fake.packet()
            await client.publish("bpjs/jht/req", b"{}", qos=1, properties=publish_properties)
            paho_publish = await fake.packet()
        paho_disconnect = await fake.packet()
    async with FakeBroker(auto=True, protocol=protocol) as fake:
        session = await open_session(fake, protocol)
        await asyncio.wait_for(session.connection.subscribe("$share/ledger/bpjs/+/req", 1),
                               WITHIN)
        assert await fake.packet() == paho_subscribe
        await asyncio.wait_for(session.connection.publish_acked(
            "bpjs/jht/req", b"{}", response_topic="switch/r/1" if v5 else None,
            correlation_data=b"42" if v5 else None), WITHIN)
        # paho numbered its SUBSCRIBE 1 as well, so the PUBLISH is packet 2 for both.
        assert await fake.packet() == paho_publish
        await session.connection.close()
        assert await fake.packet() == paho_disconnect


@pytest.mark.parametrize("protocol, body", [
    ("3.1.1", b"\x00\x01" + string("bpjs/+/req") + b"\x01"),  # 3.8: id, filter, QoS
    ("5", b"\x00\x01\x00" + string("bpjs/+/req") + b"\x01"),  # 3.8 (5.0): + properties
])
async def test_subscribe(broker: FakeBroker, protocol: str, body: bytes) -> None:
    session = await open_session(broker, protocol)
    subscribed = asyncio.create_task(session.connection.subscribe("bpjs/+/req", 1))
    assert await broker.packet() == packet(0x82, body)
    broker.send(b"\x90\x03\x00\x01\x01" if protocol == "3.1.1" else b"\x90\x04\x00\x01\x00\x01")
    await asyncio.wait_for(subscribed, WITHIN)
    await session.connection.close()


async def test_puback_for_a_qos1_message_from_the_broker(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1")
    broker.send(packet(0x32, string("atm/cmd") + b"\x12\x34" + b"hello"))
    # 3.4: PUBACK with the same packet identifier (in 5.0 reason 0 may be left out).
    assert await broker.packet() == b"\x40\x02\x12\x34"
    assert session.received == [IncomingMessage("atm/cmd", b"hello")]
    await session.connection.close()


async def test_pingreq_keeps_the_session_alive(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1", keepalive=1)
    for _ in range(3):
        assert await broker.packet() == b"\xc0\x00"  # 3.12 PINGREQ
        broker.send(b"\xd0\x00")  # 3.13 PINGRESP
    assert not session.connection._closed.done()
    await session.connection.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_disconnect_on_close(broker: FakeBroker, protocol: str) -> None:
    session = await open_session(broker, protocol)
    await session.connection.close()
    # 3.14: DISCONNECT; in 5.0 a remaining length of 0 means reason 0, no properties.
    assert await broker.packet() == b"\xe0\x00"
    assert (await session.closed_with()).args == ("connection closed",)


# -- what the client accepts ----------------------------------------------------------


@pytest.mark.parametrize("code, authorised", [(1, True), (2, True), (3, True), (4, False),
                                              (5, False)])
async def test_connack_3_1_1_refusals(broker: FakeBroker, code: int, authorised: bool) -> None:
    with pytest.raises(MqttRefused) as caught:
        await open_session(broker, "3.1.1", connack=bytes((0x20, 2, 0, code)))
    assert caught.value.code == code
    assert caught.value.not_authorized is not authorised
    assert caught.value.wrong_protocol is (code == 1)


@pytest.mark.parametrize("code", [0x80, 0x84, 0x86, 0x87, 0x88, 0x8C, 0x9F])
async def test_connack_5_refusals(broker: FakeBroker, code: int) -> None:
    refusal = packet(0x20, b"\x00" + bytes((code,))
                     + properties(PacketTypes.CONNACK, ReasonString="go away"))
    with pytest.raises(MqttRefused) as caught:
        await open_session(broker, "5", connack=refusal)
    assert caught.value.code == code
    assert caught.value.wrong_protocol is (code == 0x84)
    assert caught.value.not_authorized is (code in (0x86, 0x87, 0x8C))


async def test_connack_5_properties_are_read_and_the_unused_ones_skipped(
        broker: FakeBroker) -> None:
    block = properties(
        PacketTypes.CONNACK, SessionExpiryInterval=0, ReceiveMaximum=2, MaximumQoS=1,
        RetainAvailable=1, MaximumPacketSize=65536, AssignedClientIdentifier="auto-1",
        TopicAliasMaximum=10, ReasonString="welcome", UserProperty=[("k", "v")],
        WildcardSubscriptionAvailable=1, SubscriptionIdentifierAvailable=1,
        SharedSubscriptionAvailable=0, ResponseInformation="resp/",
        ServerReference="other:1883", AuthenticationMethod="none",
        AuthenticationData=b"\x00")
    session = await open_session(broker, "5", connack=packet(0x20, b"\x00\x00" + block))
    assert session.connection.shared_subscriptions is False
    # Receive Maximum 2: a third QoS 1 message waits for room.
    assert session.connection.publish_soon("t", b"1")
    assert session.connection.publish_soon("t", b"2")
    assert not session.connection.publish_soon("t", b"3")
    await session.connection.close()


@pytest.mark.parametrize("protocol, connack, shared", [
    ("5", CONNACK_5_OK, True), ("5", packet(0x20, b"\x00\x00\x02\x2a\x01"), True),
    ("3.1.1", CONNACK_311_OK, None)])
async def test_shared_subscription_availability(broker: FakeBroker, protocol: str,
                                                connack: bytes, shared: bool | None) -> None:
    session = await open_session(broker, protocol, connack=connack)
    assert session.connection.shared_subscriptions is shared
    await session.connection.close()


async def test_connack_5_server_keep_alive_is_obeyed(broker: FakeBroker) -> None:
    # 3.2.2.3.14: the client MUST use the Server Keep Alive instead of its own.
    connack = packet(0x20, b"\x00\x00" + properties(PacketTypes.CONNACK, ServerKeepAlive=1))
    session = await open_session(broker, "5", connack=connack, keepalive=60)
    assert await broker.packet() == b"\xc0\x00"
    await session.connection.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_publish_qos0_and_qos1_from_the_broker(broker: FakeBroker, protocol: str) -> None:
    session = await open_session(broker, protocol)
    none = b"\x00" if protocol == "5" else b""
    broker.send(packet(0x30, string("a/b") + none + b"zero")
                + packet(0x32, string("a/c") + b"\x00\x09" + none + b"one"))
    assert await broker.packet() == b"\x40\x02\x00\x09"
    assert session.received == [IncomingMessage("a/b", b"zero"), IncomingMessage("a/c", b"one")]
    await session.connection.close()


async def test_publish_5_from_the_broker_with_its_properties(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    block = properties(PacketTypes.PUBLISH, PayloadFormatIndicator=1, MessageExpiryInterval=9,
                       ResponseTopic="atm/r", CorrelationData=b"\x01\x02",
                       UserProperty=[("a", "b")], ContentType="application/json")
    broker.send(packet(0x30, string("bpjs/jht/req") + block + b"{}"))
    await settle()
    assert session.received == [IncomingMessage("bpjs/jht/req", b"{}", "atm/r", b"\x01\x02",
                                                (("a", "b"),))]
    await session.connection.close()


async def test_publish_5_from_the_broker_keeps_every_user_property_in_order(
        broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    # 3.3.2.3.7: User Property may appear more than once, even with the same name.
    block = properties(PacketTypes.PUBLISH, UserProperty=[
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("x", "1"), ("x", "2")])
    broker.send(packet(0x30, string("t") + block + b"{}"))
    await settle()
    [message] = session.received
    assert message.user_properties == (
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("x", "1"), ("x", "2"))
    await session.connection.close()


async def test_a_user_property_past_its_block_ends_the_connection(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    # The block says 5 bytes; the pair inside claims a 9-byte value.
    broker.send(packet(0x30, string("t") + b"\x05\x26" + string("a") + b"\x00\x09" + b"{}"))
    assert "longer than its block" in str(await session.closed_with())


async def test_many_packets_in_one_segment_and_one_packet_over_many(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1")
    stream = b"".join(packet(0x30, string("t") + bytes((n,))) for n in range(50))
    broker.send(stream[:3])
    await settle()
    broker.send(stream[3:])
    await settle()
    assert [m.payload for m in session.received] == [bytes((n,)) for n in range(50)]
    await session.connection.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_puback_completes_only_its_own_publish(broker: FakeBroker, protocol: str) -> None:
    session = await open_session(broker, protocol)
    first = session.connection.publish("t", b"1", 1)
    second = session.connection.publish("t", b"2", 1)
    assert first is not None and second is not None
    await broker.packet()
    await broker.packet()
    # 3.4.2 (5.0): a PUBACK may carry a reason code and properties.
    broker.send(b"\x40\x04\x00\x02\x00\x00" if protocol == "5" else b"\x40\x02\x00\x02")
    assert await asyncio.wait_for(second, WITHIN) == 0
    assert not first.done()
    await session.connection.close()


@pytest.mark.parametrize("protocol, suback", [
    ("3.1.1", b"\x90\x03\x00\x01\x80"),  # 3.9.3: 0x80 failure
    ("5", b"\x90\x04\x00\x01\x00\x87"),  # 3.9.3 (5.0): 0x87 not authorised
    ("5", packet(0x90, b"\x00\x01" + properties(PacketTypes.SUBACK, ReasonString="no")
                 + b"\x8f")),  # topic filter invalid, with a reason string
])
async def test_suback_failure_codes(broker: FakeBroker, protocol: str, suback: bytes) -> None:
    session = await open_session(broker, protocol)
    subscribed = asyncio.create_task(session.connection.subscribe("bpjs/#", 1))
    await broker.packet()
    broker.send(suback)
    with pytest.raises(MqttError, match=f"subscription to bpjs/# refused .code {suback[-1]:#04x}"):
        await asyncio.wait_for(subscribed, WITHIN)
    await session.connection.close()


async def test_suback_granted_qos_0_is_accepted(broker: FakeBroker) -> None:
    session = await open_session(broker, "3.1.1")
    subscribed = asyncio.create_task(session.connection.subscribe("bpjs/#", 1))
    await broker.packet()
    broker.send(b"\x90\x03\x00\x01\x00")
    await asyncio.wait_for(subscribed, WITHIN)
    await session.connection.close()


async def test_disconnect_5_from_the_broker_ends_the_session(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    pending = session.connection.publish("t", b"", 1)
    assert pending is not None
    broker.send(b"\xe0\x01\x8e")  # 3.14 (5.0): session taken over
    error = await session.closed_with()
    assert "0x8e" in str(error)
    with pytest.raises(MqttError):
        await asyncio.wait_for(pending, WITHIN)


# -- malformed packets from the broker -------------------------------------------------


async def test_no_connack_is_an_error_within_the_timeout(broker: FakeBroker) -> None:
    task = asyncio.create_task(connect("127.0.0.1", broker.port, client_id="c", protocol="5",
                                       on_message=lambda m: None, timeout=0.5))
    await broker.packet()
    with pytest.raises(MqttError, match="no CONNACK"):
        await asyncio.wait_for(task, WITHIN)


async def test_a_broker_that_hangs_up_at_once(broker: FakeBroker) -> None:
    task = asyncio.create_task(connect("127.0.0.1", broker.port, client_id="c", protocol="5",
                                       on_message=lambda m: None, timeout=2))
    await broker.packet()
    broker.drop()
    with pytest.raises(MqttError):
        await asyncio.wait_for(task, WITHIN)


@pytest.mark.parametrize("connack", [
    b"\x20\x05\x00\x00\x02\x7f\x00",  # property 0x7f does not exist
    b"\x20\x05\x00\x00\x09\x21\x00",  # property block longer than the packet
    b"\x20\x04\x00\x00\x02\x21",  # Receive Maximum cut short
    b"\x20\x06\x00\x00\x03\x12\x00\x05",  # a string property longer than its block
    b"\x21\x03\x00\x00\x00",  # reserved flag bits set
    b"\x20\x01\x00",  # too short for a reason code
], ids=["unknown-property", "long-block", "short-value", "long-string", "flags", "short"])
async def test_malformed_connack_5(broker: FakeBroker, connack: bytes) -> None:
    with pytest.raises(MqttError):
        await open_session(broker, "5", connack=connack)


@pytest.mark.parametrize("bad", [
    b"\x30\xff\xff\xff\xff\x7f",  # remaining length over four bytes
    b"\x30\x04\x00\x09ab",  # topic longer than the packet
    b"\x32\x04\x00\x01t\x00",  # QoS 1 without its whole packet identifier
    b"\x36\x05\x00\x01t\x00\x01",  # QoS 3 does not exist
    b"\x40\x00",  # PUBACK without a packet identifier
    b"\x42\x02\x00\x01",  # PUBACK with reserved flags set
    b"\x90\x02\x00\x01",  # SUBACK without a return code
    b"\x00\x00",  # packet type 0 is reserved
    b"\xf0\x00",  # packet type 15 is reserved (3.1.1)
    b"\x10\x00",  # a CONNECT, which only a client sends
    b"\x80\x00",  # a SUBSCRIBE, likewise
    b"\x50\x02\x00\x01",  # PUBREC: no QoS 2 here
    b"GET / HTTP/1.1\r\n\r\n" + b"x" * 80,
])
async def test_malformed_packets_3_1_1(broker: FakeBroker, bad: bytes) -> None:
    session = await open_session(broker, "3.1.1")
    broker.send(bad)
    await session.closed_with()
    assert session.received == []


@pytest.mark.parametrize("bad", [
    b"\x30\x06\x00\x01t\x09\x08\x00",  # property block longer than the packet
    b"\x30\x07\x00\x01t\x02\x08\x00x",  # Response Topic longer than its block
    b"\x30\x06\x00\x01t\x01\x7fx",  # unknown property
    b"\x30\x03\x00\x01t",  # no property length at all
    b"\x30\x08\x00\x01t\x80\x80\x80\x80\x01",  # property length over four bytes
    b"\xf0\x00",  # AUTH: no enhanced authentication was asked for
])
async def test_malformed_packets_5(broker: FakeBroker, bad: bytes) -> None:
    session = await open_session(broker, "5")
    broker.send(bad)
    await session.closed_with()
    assert session.received == []


async def test_a_packet_cut_short_by_the_broker(broker: FakeBroker) -> None:
    session = await open_session(broker, "5")
    broker.send(b"\x30\x0a\x00\x03ab")
    await settle()
    broker.drop()
    assert "closed" in str(await session.closed_with())


async def test_a_broker_that_stops_in_the_middle_of_a_packet(broker: FakeBroker) -> None:
    session = await open_session(broker, "5", keepalive=1)
    broker.send(b"\x30\x0a\x00\x03ab")
    assert "no word from the broker" in str(await session.closed_with())


async def test_an_oversize_packet_other_than_publish_ends_the_connection(
        broker: FakeBroker) -> None:
    session = await open_session(broker, "5", max_packet=64)
    broker.send(packet(0x90, b"\x00\x01\x00" + b"\x00" * 100))
    assert "a packet of" in str(await session.closed_with())


async def test_an_oversize_publish_is_acknowledged_and_dropped(broker: FakeBroker) -> None:
    session = await open_session(broker, "5", max_packet=64)
    big = packet(0x32, string("big") + b"\x00\x07" + b"\x00" + b"x" * 500)
    broker.send(big[:20])  # the rest comes later, and is never held
    assert await broker.packet() == b"\x40\x02\x00\x07"
    broker.send(big[20:] + packet(0x30, string("small") + b"\x00" + b"ok"))
    await settle()
    assert session.received == [IncomingMessage("small", b"ok")]
    assert session.connection.dropped_oversize == 1
    await session.connection.close()


@pytest.mark.parametrize("seed", range(40))
async def test_garbage_then_hang_up(broker: FakeBroker, seed: int) -> None:
    rng = random.Random(seed)
    protocol = rng.choice(["3.1.1", "5"])
    session = await open_session(broker, protocol)
    broker.send(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
    await settle()
    broker.drop()
    await session.closed_with()
