"""What the simulated SMSC and the gateway do with bad input, over real sockets: wrong
passwords, malformed and oversized PDUs, SQL-ish and hostile texts, rate limits. Every
one gets a clear answer, nothing is lost and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator

import aiomqtt
import pytest
import pytest_asyncio

from atmsim.kernel.smpp import Command, Pdu, Status, decode_pdu, encode_pdu
from atmsim.kernel.smpp.pdu import HEADER_LEN
from atmsim.shell.broker import EmbeddedBroker
from sms_gateway.esme import BindRefused, Esme, EsmeConfig
from smsc_sim.handset import Handset, HandsetError
from tests.sms.conftest import BUDI, SITI, Channel, exchange, sms_channel

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def channel(mosquitto: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Channel]:
    tmp = tmp_path_factory.mktemp("sms-bad")
    async with sms_channel(mosquitto, tmp / "ledger.db", tmp, per_minute=5,
                           failures_per_day=3) as running:
        yield running


async def _raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _read_pdu(reader: asyncio.StreamReader) -> Pdu:
    header = await asyncio.wait_for(reader.readexactly(HEADER_LEN), 5)
    length = struct.unpack(">I", header[:4])[0]
    return decode_pdu(header + await reader.readexactly(length - HEADER_LEN))


async def _still_serving(channel: Channel, msisdn: str = "081999000001") -> None:
    async with channel.phone(msisdn) as phone:
        assert "Layanan SMS 2757" in await exchange(phone, "INFO")


def _bind(system_id: str, password: str, sequence: int = 1) -> bytes:
    return encode_pdu(Pdu(Command.BIND_TRANSCEIVER, sequence, params={
        "system_id": system_id, "password": password, "interface_version": 0x34,
        "address_range": "081999000009"}))


async def test_wrong_password_and_unknown_system_id_are_refused(channel: Channel) -> None:
    reader, writer = await _raw(channel.smsc.port)
    writer.write(_bind("handset", "wrong"))
    assert (await _read_pdu(reader)).status == Status.ESME_RINVPASWD
    writer.write(_bind("nobody", "x", 2))
    answer = await _read_pdu(reader)
    assert (answer.command, answer.status, answer.sequence) == (
        Command.BIND_TRANSCEIVER_RESP, Status.ESME_RINVSYSID, 2)
    # Unbound, a submit_sm is refused with the bind status error.
    writer.write(encode_pdu(Pdu(Command.SUBMIT_SM, 3, params={"destination_addr": "2757"})))
    assert (await _read_pdu(reader)).status == Status.ESME_RINVBNDSTS
    writer.close()
    with pytest.raises(HandsetError, match="ESME_RINVPASWD"):
        async with Handset("127.0.0.1", channel.smsc.port, "081100000000", "nope"):
            pass
    # A gateway with the wrong password gives up at once, saying why.
    async with Esme(EsmeConfig(port=channel.smsc.port, password="wrong"), channel.gateway.answer
                    ) as wrong:
        with pytest.raises(BindRefused, match="ESME_RINVPASWD"):
            await wrong.wait_bound(5)
    await _still_serving(channel)


async def test_malformed_pdus_are_answered_and_the_connection_goes_on(channel: Channel) -> None:
    reader, writer = await _raw(channel.smsc.port)
    writer.write(_bind("handset", channel.handset_password))
    assert (await _read_pdu(reader)).status == Status.ESME_ROK
    # An unknown command id: generic_nack.
    writer.write(struct.pack(">IIII", 16, 0x00000099, 0, 7))
    answer = await _read_pdu(reader)
    assert (answer.command, answer.status, answer.sequence) == (
        Command.GENERIC_NACK, Status.ESME_RINVCMDID, 7)
    # A submit_sm whose C-string has no NUL, and one whose sm_length runs past the PDU.
    body = b"x" * 30
    writer.write(struct.pack(">IIII", 16 + len(body), Command.SUBMIT_SM, 0, 8) + body)
    answer = await _read_pdu(reader)
    assert (answer.command, answer.status) == (Command.SUBMIT_SM_RESP, Status.ESME_RINVMSGLEN)
    good = encode_pdu(Pdu(Command.SUBMIT_SM, 9, params={"destination_addr": "2757",
                                                         "short_message": b"INFO"}))
    broken = good[:-5] + bytes((200,)) + good[-4:]  # sm_length 200 for 4 octets
    writer.write(broken)
    assert (await _read_pdu(reader)).status == Status.ESME_RINVMSGLEN
    # An oversized PDU is refused and read past; the next PDU on the line is answered.
    writer.write(struct.pack(">IIII", 100_016, Command.SUBMIT_SM, 0, 10) + b"\0" * 100_000)
    writer.write(encode_pdu(Pdu(Command.ENQUIRE_LINK, 11)))
    nack = await _read_pdu(reader)
    assert (nack.command, nack.status, nack.sequence) == (
        Command.GENERIC_NACK, Status.ESME_RINVCMDLEN, 10)
    assert (await _read_pdu(reader)).command is Command.ENQUIRE_LINK_RESP
    # A command_length under 16 cannot be framed: nacked, then the connection closes.
    writer.write(struct.pack(">IIII", 8, Command.ENQUIRE_LINK, 0, 12))
    assert (await _read_pdu(reader)).status == Status.ESME_RINVCMDLEN
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await _still_serving(channel)


async def test_hostile_texts_get_format_answers_and_change_nothing(channel: Channel) -> None:
    for n, text in enumerate(("SALDO 1001234567' OR '1'='1", "SALDO 10012345678; DROP TABLE",
                     f"DAFTAR SALDO#{BUDI['nik']}#x'); DROP TABLE participants;--"
                     f"#{BUDI['born']}#{BUDI['kpj']}",
                     "CEK NOMOR KTP 3171011505850001 UNION SELECT *", "\x00\x1b\x1b",
                     "€" * 50,
                     "A" * 400)):
        async with channel.phone(f"08199900002{n}") as phone:  # 5 a minute per number
            reply = await exchange(phone, text)
        assert reply.startswith("BPJSTK: ")
        assert "Format salah" in reply or "Layanan SMS 2757" in reply
    async with channel.phone("081999000003") as phone:
        assert "berhasil" in await exchange(
            phone, f"DAFTAR SALDO#{SITI['nik']}#{SITI['name']}#{SITI['born']}#{SITI['kpj']}")
        assert "Rp" in await exchange(phone, f"SALDO {SITI['kpj']}")


async def test_long_replies_come_as_one_concatenated_sms(channel: Channel) -> None:
    async with channel.phone("081999000004") as phone:
        reply = await exchange(phone, "INFO")
        assert len(reply) > 160  # two segments, put back together by the phone
        assert reply.endswith("/ Register once, then ask your JHT balance by KPJ.")
        # A long message from the phone (sent in segments) is read whole by the gateway.
        long = f"DAFTAR SALDO#{BUDI['nik']}#{BUDI['name']}#{BUDI['born']}#{BUDI['kpj']}#" + (
            "budi.santoso@" + "mail" * 25 + ".example.co.id")
        assert len(long) > 160
        assert "berhasil" in await exchange(phone, long)


async def test_rate_limits_per_number(channel: Channel) -> None:
    async with channel.phone("081999000005") as phone:
        for _ in range(5):
            await exchange(phone, "INFO")
        reply = await exchange(phone, "INFO")
        assert "Terlalu banyak SMS" in reply
        await phone.send("INFO")  # limited, and already told so: no answer
        with pytest.raises(TimeoutError):
            await phone.receive(1.0)
    async with channel.phone("081999000006") as phone:  # another number is not limited
        for kpj in ("19999999991", "19999999992", "19999999993"):
            await exchange(phone, f"SALDO {kpj}")
        assert "Terlalu banyak percobaan gagal" in await exchange(phone, "INFO")


async def test_an_event_per_command_masked(channel: Channel) -> None:
    endpoint = channel.broker.endpoint_for("monitor")
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    async with aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                              password=endpoint.password, socket_options=nodelay,
                              protocol=aiomqtt.ProtocolVersion.V5) as monitor:
        await monitor.subscribe("atmsim/v1/events/sms", qos=1)
        async with channel.phone("081999000007") as phone:
            await exchange(phone, f"CEK NOMOR KTP {BUDI['nik']}")
        async with asyncio.timeout(5):
            async for message in monitor.messages:
                event = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                if event.get("channel") == "sms":
                    break
    assert event["command"] == "CEK" and event["result"] == "NOT_REGISTERED"
    assert event["msisdn"] == "62819*****007"
    assert BUDI["nik"] not in json.dumps(event)
