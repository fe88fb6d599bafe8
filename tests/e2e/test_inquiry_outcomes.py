"""The demo cards give the outcomes docs/demo-data.md lists, over real sockets, broker and
databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

from atmsim.kernel.bus import MqttBus
from atmsim.kernel.demo_data import DEMO_CARDS, DemoCard
from atmsim.kernel.wire.additional_data import decode_balance_amount, decode_tlv
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack
from tests.conftest import stack_settings
from tests.e2e.atm import card, inquire, link_to


async def test_each_demo_card_gets_its_design_outcome(stack: Stack) -> None:
    async with link_to(stack) as link:
        assert (await link.sign_on())["39"] == "00"
        _, budi = await inquire(link, card("Budi"))
        _, siti = await inquire(link, card("Siti"))
        _, dewi = await inquire(link, card("Dewi"))
        _, wayan = await inquire(link, card("Wayan"))
        _, andi_own = await inquire(link, card("Andi"), kpj="13055500011")
        _, andi_budi = await inquire(link, card("Andi"), kpj="10012345678")
        _, rudi = await inquire(link, card("Rudi"))
        unknown = DemoCard(pan="5264229999999999", pin="123456", holder="Nobody Known",
                           nik="3171010101900001", kpj=None, situation="not a BNI card")
        _, unknown_result = await inquire(link, unknown)

    for approved in (budi, siti, dewi, wayan, andi_own):
        assert approved.response_code == "00", approved
        assert isinstance(approved.balance_sen, int) and approved.balance_sen > 0
        assert approved.as_of is not None
    assert (budi.kpj, budi.status, budi.masked_name) == ("10012345678", "AKTIF", "B**i S*****o")
    assert dewi.status == "NONAKTIF" and dewi.kpj == "14099900022"
    assert andi_own.kpj == "13055500011"
    assert wayan.balance_sen == max(r.balance_sen or 0 for r in (budi, siti, dewi, wayan, andi_own))
    assert andi_budi.response_code == "57" and andi_budi.balance_sen is None
    assert rudi.response_code == "25"
    assert unknown_result.response_code == "14"


async def test_approved_0210_carries_the_design_fields(stack: Stack) -> None:
    async with link_to(stack) as link:
        response, _ = await inquire(link, card("Siti"))
    assert response["t"] == "0210"
    assert {"2", "3", "4", "7", "11", "32", "37", "38", "39", "41", "48", "49", "54"} <= set(response)
    assert response["54"][:8] == "0001360C" and len(response["54"]) == 20
    details = decode_tlv(response["48"])
    assert details["KP"] == "12087654321" and details["ST"] == "AKTIF"
    assert details["NM"] == "S**i R****u"


async def test_field_54_equals_the_ledger_answer_to_the_sen(stack: Stack) -> None:
    assert stack.endpoint is not None
    async with MqttBus(stack.endpoint, "test-client") as bus:
        assert await bus.wait_connected(10)
        async with link_to(stack) as link:
            for demo in DEMO_CARDS:
                if demo.kpj is None:
                    continue
                response, _ = await inquire(link, demo)
                ledger = await bus.request("bpjs/jht/v1/balance/req",
                                           {"nik": demo.nik, "kpj": demo.kpj, "channel": "ATM",
                                            "terminal_id": "BNI00001",
                                            "requested_at": "2026-11-21T06:00:00Z"}, 5)
                assert ledger["result"] == "OK"
                assert decode_balance_amount(response["54"]) == ledger["balance_sen"]
                assert decode_tlv(response["48"])["DT"] == ledger["as_of"].replace("-", "")


async def test_many_requests_in_flight_on_one_connection_get_their_own_replies(
        amqtt_stack: Stack) -> None:
    async with link_to(amqtt_stack) as link:
        cards = [card("Budi"), card("Rudi"), card("Siti"), card("Dewi")] * 10
        results = await asyncio.gather(*(inquire(link, c) for c in cards))
    expected = {"Budi": "00", "Rudi": "25", "Siti": "00", "Dewi": "00"}
    for demo, (response, result) in zip(cards, results):
        assert response["2"] == demo.pan
        assert result.response_code == expected[demo.holder.split()[0]]


async def test_network_management_sign_on_echo_sign_off(amqtt_stack: Stack) -> None:
    async with link_to(amqtt_stack) as link:
        for code in ("001", "301", "002"):
            reply = await link.network_management(code)
            assert (reply["t"], reply["39"], reply["70"]) == ("0810", "00", code)
        assert (await link.network_management("999"))["39"] == "12"
    async with link_to(amqtt_stack, terminal_id="XYZ00001") as stranger:
        assert (await stranger.sign_on())["39"] == "58"


async def test_the_stack_on_the_aiomqtt_client(mosquitto_broker: EmbeddedBroker,
                                               data_dir: Path) -> None:
    settings = stack_settings(data_dir, mosquitto_broker.endpoint.secret_url)
    settings.mqtt.client = "aiomqtt"
    async with Stack(settings) as running, link_to(running) as link:
        _, budi = await inquire(link, card("Budi"))
        _, andi_budi = await inquire(link, card("Andi"), kpj="10012345678")
    assert budi.response_code == "00" and budi.balance_sen
    assert andi_budi.response_code == "57"
