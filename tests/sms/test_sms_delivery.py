"""Delivery across a gateway restart, the sar_* TLV way of concatenating, and the ledger's
SMS topic spoken to directly: bad requests answered, the sms account kept to its topics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from atmsim.kernel.bus import BusTimeout, MqttBus
from atmsim.kernel.smpp.text import ESM_UDHI
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC
from sms_gateway.esme import Esme, EsmeConfig
from sms_gateway.gateway import SMS_REQUEST_TOPIC, GatewayConfig, SmsGateway
from smsc_sim.accounts import ensure_accounts
from tests.sms.conftest import BUDI, Channel, exchange, sms_channel

pytestmark = pytest.mark.mosquitto


@pytest.fixture
async def channel(mosquitto: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Channel]:
    async with sms_channel(mosquitto, tmp_path / "ledger.db", tmp_path,
                           concatenation="sar") as running:
        yield running


async def test_a_message_sent_while_the_gateway_is_down_is_answered_after(
        channel: Channel) -> None:
    await channel.esme.close()
    async with channel.phone("081300000001") as phone:
        await phone.send("INFO")  # accepted by the SMSC, kept for 2757
        with pytest.raises(TimeoutError):
            await phone.receive(0.5)
        password = ensure_accounts(channel.data_dir)["bpjs2757"].password
        config = EsmeConfig(port=channel.smsc.port, password=password)
        async with Esme(config, channel.gateway.answer) as esme:
            assert await esme.wait_bound(10)
            assert "Layanan SMS 2757" in (await phone.receive(10)).text


async def test_long_replies_with_sar_tlvs_are_put_back_together(channel: Channel) -> None:
    seen: list[tuple[int, dict[int, bytes]]] = []
    async with channel.phone("081300000002") as phone:
        handle = phone._handle

        async def spy(session, pdu):  # type: ignore[no-untyped-def]
            seen.append((pdu.get("esm_class"), dict(pdu.tlvs)))
            return await handle(session, pdu)

        assert phone.session is not None
        phone.session.handler = spy
        reply = await exchange(phone, "INFO")
    assert reply.endswith("/ Register once, then ask your JHT balance by KPJ.")
    assert len(seen) == 2
    assert all(not esm & ESM_UDHI and tlvs[0x020E] == b"\x02" for esm, tlvs in seen)
    assert [tlvs[0x020F] for _, tlvs in seen] == [b"\x01", b"\x02"]


async def test_the_ledger_answers_bad_sms_requests_with_a_reason(channel: Channel) -> None:
    async with MqttBus(channel.broker.endpoint_for("sms"), "sms-direct") as bus:
        assert await bus.wait_connected(10)
        base = {"channel": "SMS", "requested_at": datetime.now(UTC).isoformat()}
        for request, reason in (
                ({"type": "balance", "msisdn": "0812", "kpj": BUDI["kpj"]}, "msisdn"),
                ({"type": "steal", "msisdn": "6281300000003"}, "type"),
                ({"type": "register", "msisdn": "6281300000003", "nik": BUDI["nik"],
                  "kpj": BUDI["kpj"], "name": None, "email": None,
                  "birth_date": "1985-5-15"}, "birth_date"),
                ({"type": "kpj", "msisdn": "6281300000003", "nik": "1234"}, "NIK")):
            reply = await bus.request(SMS_REQUEST_TOPIC, {**base, **request}, timeout=5)
            assert reply["result"] == "ERROR"
            assert reply["reason"].startswith("bad request: ") and reason in reply["reason"]
            assert reply["kpj"] is None and reply["balance_sen"] is None
        # The sms account may not ask balance requests: the broker drops them.
        with pytest.raises(BusTimeout):
            await bus.request(BALANCE_REQUEST_TOPIC, {
                **base, "nik": BUDI["nik"], "kpj": BUDI["kpj"], "terminal_id": "SMS"},
                timeout=1.0)


async def test_without_a_ledger_the_phone_is_told_to_try_later(mosquitto: EmbeddedBroker
                                                                ) -> None:
    async with MqttBus(mosquitto.endpoint_for("sms"), "sms-no-ledger") as bus:
        assert await bus.wait_connected(10)
        gateway = SmsGateway(bus, GatewayConfig(ledger_deadline=0.5, failures_per_day=1))
        for _ in range(2):  # not counted as a failed attempt: the second is answered too
            reply = await gateway.answer("6281300000009", f"SALDO {BUDI['kpj']}")
            assert reply is not None and "layanan sedang tidak tersedia" in reply
