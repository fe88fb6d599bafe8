"""What a running switch knows of its terminals (policies, keys) follows every change at
once, whoever makes it: the switch itself (a key change), another process (``atmsim cards
terminal``), another connection to its card file (a second switch), over real sockets; and
a retired key stops verifying when its grace window ends. (The switch keeps these reads in
memory between inquiries, docs/scaling.md.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from atm_switch.card_store import TPK
from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.shell.cli import main
from atmsim.shell.provisioning import load_lmk, open_card_store
from atmsim.shell.stack import Stack
from hsm_mock.keys import kcv
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import CardData, balance_inquiry_request
from tests.e2e.atm import card, inquire, link_to

DEMO_TPK, DEMO_TAK, DEMO_TMK = (DEMO_KEYS[k].clear_hex for k in ("TPK", "TAK", "TMK"))
ATMSIM = [sys.executable, "-m", "atmsim.shell.cli"]


def _response_code(answer: tuple[dict[str, str], object]) -> str:
    return answer[0]["39"]


async def test_a_policy_set_by_another_process_applies_to_the_next_inquiry(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    siti, data_dir = card("Siti"), str(amqtt_stack.data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    async with link_to(amqtt_stack, "BNI00003") as link:  # sends no MAC
        assert _response_code(await inquire(link, siti)) == "00"  # MAC optional
        run = await asyncio.to_thread(
            subprocess.run, [*ATMSIM, "cards", "terminal", "BNI00003", "--mac", "required",
                             "--data-dir", data_dir], env=env, capture_output=True, text=True,
            timeout=60)
        assert run.returncode == 0, run.stderr
        assert _response_code(await inquire(link, siti)) == "63"  # a MAC is required now
        # This process, another connection to the file: back to optional.
        assert main(["cards", "terminal", "BNI00003", "--mac", "optional",
                     "--data-dir", data_dir]) == 0
        assert "MAC optional" in capsys.readouterr().out
        assert _response_code(await inquire(link, siti)) == "00"


async def test_a_key_installed_through_another_connection_verifies_the_next_pin(
        amqtt_stack: Stack) -> None:
    lmk = load_lmk("")
    budi, siti = card("Budi"), card("Siti")
    new_tpk = bytes.fromhex(DEMO_TMK)  # any other valid key will do as the new TPK
    new_pinpad = PinPad(new_tpk.hex().upper())
    async with link_to(amqtt_stack) as link:
        assert _response_code(await inquire(link, budi)) == "00"  # the demo TPK
        other = open_card_store(amqtt_stack.data_dir, lmk)  # as a second switch would
        try:
            # Retired an hour ago: past the 300 s grace window at once.
            other.change_keys("BNI00001", {TPK: (lmk.encrypt_key(new_tpk, DEMO_KEYS["TPK"].key_type),
                                                 kcv(new_tpk))}, now=time.time() - 3600)
        finally:
            other.close()
        assert _response_code(await inquire(link, siti)) == "55"  # under the old TPK
        data = CardData(budi.pan, budi.expiry, budi.track2)
        request = balance_inquiry_request(data, new_pinpad.encrypt_pin(budi.pin, budi.pan),
                                          terminal_id=link.terminal_id, stan=link.next_stan())
        assert (await link.exchange(request))["39"] == "00"


def _atm(stack: Stack, pinpad: PinPad) -> AtmHostLink:
    assert stack.switch is not None
    return AtmHostLink(stack.switch.host, stack.switch.port, terminal_id="BNI00001",
                       timeout=10, pinpad=pinpad, send_mac=True)


async def _inquire_with(link: AtmHostLink, pinpad: PinPad, holder: str) -> str:
    demo = card(holder)
    request = balance_inquiry_request(CardData(demo.pan, demo.expiry, demo.track2),
                                      pinpad.encrypt_pin(demo.pin, demo.pan),
                                      terminal_id=link.terminal_id, stan=link.next_stan())
    return (await link.exchange(request))["39"]


async def test_the_switch_s_own_key_change_applies_to_the_next_inquiry(
        amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    amqtt_stack.switch.deps.key_grace = 0.0  # a retired key stops verifying at once
    pinpad = PinPad(DEMO_TPK, DEMO_TAK, DEMO_TMK)
    old = PinPad(DEMO_TPK, DEMO_TAK)
    async with _atm(amqtt_stack, pinpad) as link:
        assert await _inquire_with(link, pinpad, "Budi") == "00"  # generation 1, MAC both ways
        assert await link.change_keys() == 2
        assert await _inquire_with(link, pinpad, "Budi") == "00"  # generation 2 at once
    async with _atm(amqtt_stack, old) as link:
        assert await _inquire_with(link, old, "Siti") == "63"  # its MAC: the retired TAK


async def test_a_retired_key_stops_verifying_when_its_grace_window_ends(
        amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    pinpad = PinPad(DEMO_TPK, DEMO_TAK, DEMO_TMK)
    old = PinPad(DEMO_TPK, DEMO_TAK)
    async with _atm(amqtt_stack, pinpad) as link:
        assert await link.change_keys() == 2
    async with _atm(amqtt_stack, old) as link:
        assert await _inquire_with(link, old, "Siti") == "00"  # within the 300 s grace
        # Nothing is written now: the window closes (a grace of 0 s is the same as the
        # clock passing the retirement plus 300 s) and the same kept keys are asked again.
        amqtt_stack.switch.deps.key_grace = 0.0
        assert await _inquire_with(link, old, "Siti") == "63"
    old_pin_only = PinPad(DEMO_TPK)  # no MAC: the retired TPK alone is checked
    async with _atm(amqtt_stack, old_pin_only) as link:
        assert await _inquire_with(link, old_pin_only, "Siti") == "55"
