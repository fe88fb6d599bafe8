"""Key change (0800/161, docs/wire.md "Key change") over real sockets: the ATM asks, or the
switch pushes; the HSM makes the keys (A0 under the TMK); the ATM installs them after
checking their KCVs and its next PIN block is verified under the new TPK; the old key keeps
verifying for the grace window only; a wrong KCV is refused and the ATM keeps its keys."""

from __future__ import annotations

import asyncio

import pytest

from atm_switch.card_store import TAK, TPK
from atm_switch.key_change import KeyChangeError
from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.shell.cli import main
from atmsim.shell.provisioning import load_lmk, open_card_store
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import KeyInstallError, PinPad
from terminal_ui.device.transactions import CardData, balance_inquiry_request
from tests.e2e.atm import card

DEMO_TPK, DEMO_TAK, DEMO_TMK = (DEMO_KEYS[k].clear_hex for k in ("TPK", "TAK", "TMK"))


def atm(stack: Stack, pinpad: PinPad) -> AtmHostLink:
    assert stack.switch is not None
    return AtmHostLink(stack.switch.host, stack.switch.port, terminal_id="BNI00001", timeout=10,
                       pinpad=pinpad, send_mac=True)


async def inquire_with(link: AtmHostLink, pinpad: PinPad, holder: str = "Budi") -> str:
    demo = card(holder)
    request = balance_inquiry_request(CardData(demo.pan, demo.expiry, demo.track2),
                                      pinpad.encrypt_pin(demo.pin, demo.pan),
                                      terminal_id=link.terminal_id, stan=link.next_stan())
    return (await link.exchange(request))["39"]


def generations(stack: Stack, kind: str) -> list[tuple[int, bool]]:
    store = open_card_store(stack.data_dir, load_lmk(""))
    try:
        return [(g.generation, g.retired is None)
                for g in store.key_generations("BNI00001", kind)]
    finally:
        store.close()


async def test_atm_initiated_key_change_then_a_pin_under_the_new_key(amqtt_stack: Stack) -> None:
    pinpad = PinPad(DEMO_TPK, DEMO_TAK, DEMO_TMK)
    old = PinPad(DEMO_TPK, DEMO_TAK)  # an ATM still holding generation 1
    async with atm(amqtt_stack, pinpad) as link:
        assert await link.change_keys() == 2
        assert await inquire_with(link, pinpad) == "00"  # new TPK and TAK (MACs both ways)
    assert generations(amqtt_stack, TPK) == [(2, True), (1, False)]
    assert generations(amqtt_stack, TAK) == [(2, True), (1, False)]
    async with atm(amqtt_stack, old) as link:  # within the grace window (300 s)
        assert await inquire_with(link, old, "Siti") == "00"


async def test_after_the_grace_window_the_old_key_fails(amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    amqtt_stack.switch.deps.key_grace = 0.0
    pinpad = PinPad(DEMO_TPK, DEMO_TAK, DEMO_TMK)
    async with atm(amqtt_stack, pinpad) as link:
        await link.change_keys()
    old = PinPad(DEMO_TPK, DEMO_TAK)
    async with atm(amqtt_stack, old) as link:
        assert await inquire_with(link, old, "Siti") == "63"  # its MAC: the old TAK
    old_pin_only = PinPad(DEMO_TPK)
    async with atm(amqtt_stack, old_pin_only) as link:
        assert await inquire_with(link, old_pin_only, "Siti") == "55"  # the old TPK


async def test_switch_initiated_key_change(amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    pinpad = PinPad(DEMO_TPK, DEMO_TAK, DEMO_TMK)
    async with atm(amqtt_stack, pinpad) as link:
        assert (await link.sign_on())["39"] == "00"
        assert await amqtt_stack.switch.rotate_keys("BNI00001") == 2
        assert pinpad.key_generation == 2
        assert await inquire_with(link, pinpad) == "00"
    with pytest.raises(KeyChangeError, match="not connected"):
        await amqtt_stack.switch.rotate_keys("BNI00001")


async def test_a_wrong_kcv_is_refused_and_the_atm_keeps_its_keys(amqtt_stack: Stack,
                                                                 caplog: pytest.LogCaptureFixture
                                                                 ) -> None:
    assert amqtt_stack.switch is not None
    # A PIN pad with the wrong TMK decrypts other keys than the ones whose KCVs came along.
    wrong_tmk = PinPad(DEMO_TPK, DEMO_TAK, DEMO_KEYS["PVK"].clear_hex)
    async with atm(amqtt_stack, wrong_tmk) as link:
        with pytest.raises(KeyInstallError, match="check value"):
            await link.change_keys()
        assert wrong_tmk.key_generation == 0
        assert await inquire_with(link, wrong_tmk) == "00"  # old keys, within grace
        with pytest.raises(KeyChangeError, match="refused"):
            await amqtt_stack.switch.rotate_keys("BNI00001")  # the ATM answers 63
    assert "refused new keys" in caplog.text
    assert generations(amqtt_stack, TPK)[0] == (2, True)  # the switch-pushed one not kept


async def test_atmsim_keys_rotate_reaches_the_running_switch(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    pinpad = PinPad(DEMO_TPK, DEMO_TAK, DEMO_TMK)
    argv = ["keys", "rotate", "--terminal", "BNI00001", "--data-dir", str(amqtt_stack.data_dir)]
    async with atm(amqtt_stack, pinpad) as link:
        assert (await link.sign_on())["39"] == "00"
        assert await asyncio.to_thread(main, argv) == 0
        assert "key generation 2" in capsys.readouterr().out
        assert pinpad.key_generation == 2
        assert await inquire_with(link, pinpad) == "00"
    # No ATM connected: one line, exit status 2, nothing changed.
    assert await asyncio.to_thread(main, argv) == 2
    assert "not connected" in capsys.readouterr().err
    assert generations(amqtt_stack, TPK)[0] == (2, True)
