"""MACs on the 0200/0210 (docs/wire.md "MAC") and the sign-on policy, over real sockets:
the ATM's PIN pad MACs its 0200 under the TAK, the switch verifies it through the HSM (M8)
per the terminal's MAC policy and MACs its 0210 (M6), which the ATM's link verifies."""

from __future__ import annotations

import asyncio

import psec.mac
import pytest

from atm_switch.card_store import MacPolicy, SignOnPolicy
from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.kernel.wire import default_profile
from atmsim.kernel.wire.message_mac import mac_input, message_mac, with_mac
from atmsim.shell.cli import main
from atmsim.shell.provisioning import load_lmk, open_card_store
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink, HostUnavailable
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import CardData, balance_inquiry_request
from tests.e2e.atm import card, inquire

TPK, TAK = DEMO_KEYS["TPK"].clear_hex, DEMO_KEYS["TAK"].clear_hex
WRONG_TAK = DEMO_KEYS["PVK"].clear_hex  # a valid key, not this terminal's TAK


def set_policy(stack: Stack, *, mac: str | None = None, sign_on: str | None = None,
               terminal_id: str = "BNI00001") -> None:
    store = open_card_store(stack.data_dir, load_lmk(""))
    try:
        assert store.set_terminal_policy(terminal_id, mac=mac, sign_on=sign_on)
    finally:
        store.close()


def link(stack: Stack, tak: str | None, *, send_mac: bool = True) -> AtmHostLink:
    assert stack.switch is not None
    return AtmHostLink(stack.switch.host, stack.switch.port, terminal_id="BNI00001",
                       timeout=10, pinpad=PinPad(TPK, tak), send_mac=send_mac)


def test_the_mac_is_iso9797_algorithm_3_as_psec_computes_it() -> None:
    message = {"t": "0200", "2": "5264220000100010", "3": "310000", "11": "000123",
               "41": "BNI00001", "52": "0123456789ABCDEF"}
    data = mac_input(default_profile(), message)
    key = bytes.fromhex(TAK)
    expected = psec.mac.generate_retail_mac(key[:8], key[8:], data, padding=1)
    assert message_mac(key, data) == expected[:4].hex().upper()
    sealed = with_mac(default_profile(), message, lambda d: message_mac(key, d))
    assert sealed["64"] == expected[:4].hex().upper() + "00000000"
    # The input is the message as encoded, up to (not including) the MAC field.
    assert default_profile().encode(sealed) == data + sealed["64"].encode()


async def test_a_good_mac_is_approved_and_the_0210_carries_one(amqtt_stack: Stack) -> None:
    set_policy(amqtt_stack, mac=MacPolicy.REQUIRED)
    async with link(amqtt_stack, TAK) as atm:
        response, result = await inquire(atm, card("Budi"))
    assert result.response_code == "00", result
    # The link refuses a reply whose MAC is wrong: reaching here means it verified.
    assert len(response["64"]) == 16 and response["64"].endswith("00000000")


async def test_a_wrong_mac_gets_63_under_optional_and_required(amqtt_stack: Stack) -> None:
    for policy in (MacPolicy.OPTIONAL, MacPolicy.REQUIRED):
        set_policy(amqtt_stack, mac=policy)
        async with link(amqtt_stack, WRONG_TAK) as atm:
            response, result = await inquire(atm, card("Budi"))
        assert result.response_code == "63", policy
        assert "64" not in response  # nothing to trust: the switch does not MAC a 63


async def test_a_missing_mac_gets_63_only_when_required(amqtt_stack: Stack) -> None:
    set_policy(amqtt_stack, mac=MacPolicy.REQUIRED)
    async with link(amqtt_stack, None) as atm:
        assert (await inquire(atm, card("Siti")))[1].response_code == "63"
    set_policy(amqtt_stack, mac=MacPolicy.OPTIONAL)
    async with link(amqtt_stack, None) as atm:
        response, result = await inquire(atm, card("Siti"))
    assert result.response_code == "00" and "64" not in response


async def test_policy_off_ignores_the_mac(amqtt_stack: Stack) -> None:
    set_policy(amqtt_stack, mac=MacPolicy.OFF)
    dewi = card("Dewi")
    request = balance_inquiry_request(CardData(dewi.pan, dewi.expiry, dewi.track2),
                                      PinPad(TPK).encrypt_pin(dewi.pin, dewi.pan),
                                      terminal_id="BNI00001", stan="000777")
    wrong = PinPad(TPK, WRONG_TAK)
    async with link(amqtt_stack, None, send_mac=False) as atm:  # sends what it is given
        response = await atm.exchange(with_mac(default_profile(), request, wrong.mac))
    assert response["39"] == "00" and "64" not in response
    # An ATM that MACs its requests refuses the unMACed approval it gets back.
    async with link(amqtt_stack, TAK) as atm:
        with pytest.raises(HostUnavailable, match="MAC"):
            await inquire(atm, dewi)


async def test_sign_on_required_before_financial_messages(amqtt_stack: Stack) -> None:
    set_policy(amqtt_stack, sign_on=SignOnPolicy.REQUIRED)
    async with link(amqtt_stack, None) as atm:
        assert (await inquire(atm, card("Budi")))[1].response_code == "91"
        assert (await atm.sign_on())["39"] == "00"
        assert (await inquire(atm, card("Budi")))[1].response_code == "00"
        assert (await atm.network_management("002"))["39"] == "00"  # sign-off
        assert (await inquire(atm, card("Budi")))[1].response_code == "91"
        assert (await atm.sign_on())["39"] == "00"
    async with link(amqtt_stack, None) as atm:  # sign-on state is per connection
        assert (await inquire(atm, card("Budi")))[1].response_code == "91"
    set_policy(amqtt_stack, sign_on=SignOnPolicy.NOT_REQUIRED)
    async with link(amqtt_stack, None) as atm:
        assert (await inquire(atm, card("Budi")))[1].response_code == "00"


async def test_atmsim_inquire_mac_passes_a_mac_required_terminal(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert amqtt_stack.switch is not None
    set_policy(amqtt_stack, mac=MacPolicy.REQUIRED)
    budi = card("Budi")
    argv = ["inquire", "--switch", f"{amqtt_stack.switch.host}:{amqtt_stack.switch.port}",
            "--pan", budi.pan, "--pin", budi.pin, "--data-dir", str(amqtt_stack.data_dir)]
    assert await asyncio.to_thread(main, [*argv, "--mac"]) == 0
    assert "approved" in capsys.readouterr().out
    await asyncio.to_thread(main, argv)  # without --mac: refused
    assert "63" in capsys.readouterr().out
