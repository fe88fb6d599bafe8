"""PIN entry takes six digits, and an approval without a valid balance is an error.

Against a small fake switch over a real socket (tests/atm/fake_switch.py) that answers
39 = 00 with field 54 missing, malformed or valid: the ATM, ``atmsim inquire`` and
``atmsim load`` must never turn a missing balance into Rp0,00 or a 00.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atmsim.shell.stack import Stack
from terminal_ui.app import AtmApp
from terminal_ui.device.transactions import CardData, balance_inquiry_request, read_inquiry_response
from terminal_ui.screens.idle import IdleScreen
from terminal_ui.screens.outcome import AnotherTransactionScreen, DeclineScreen, ResultScreen
from terminal_ui.screens.pin import PinScreen
from tests.atm.fake_switch import NO_54, VALID_54, FakeSwitch, fake_switch
from tests.atm.pilot import atm_config, on_screen, press, screen_text, text_of, to_kpj_source
from tests.load.helpers import atmsim_load

# Field 54 values that break docs/wire.md's layout (00 01 360 C + 12 digits).
MALFORMED_54 = {
    "short": "0001360C00123456780",  # 19 characters
    "sign": "0001360X001234567800",
    "letters": "0001360C00123456780A",
    "padded": "0001360C00123456    ",  # spaces as right padding: no 12-digit amount
    "currency": "0001840C001234567800",  # US dollars
    "no_balance_block": "0002360C001234567800",  # amount type 02, no ledger balance
    "trailing": "0001360C001234567800000",
}
ATMSIM = [sys.executable, "-m", "atmsim.shell.cli"]


async def _pin_screen(pilot, language: str = "a") -> None:  # type: ignore[no-untyped-def]
    await on_screen(pilot, IdleScreen)
    await press(pilot, "1", language)
    await on_screen(pilot, PinScreen)


async def _linked_inquiry(pilot) -> None:  # type: ignore[no-untyped-def]
    await to_kpj_source(pilot)
    await press(pilot, "a")


async def test_correct_before_six_digits_is_refused_with_a_hint_and_sends_nothing(
        tmp_path: Path) -> None:
    async with fake_switch(VALID_54) as switch:
        app = AtmApp(atm_config(switch.port, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _pin_screen(pilot)
            await press(pilot, *"12345", "enter")
            assert isinstance(app.screen, PinScreen)
            assert "PIN terdiri dari 6 digit" in text_of(app, "#pin-help")
            await press(pilot, "i")  # the BENAR side key: refused the same way
            assert isinstance(app.screen, PinScreen)
            assert text_of(app, "#pin-dots").count("●") == 5  # nothing lost either
            await press(pilot, "6")
            assert "PIN terdiri dari 6 digit" not in text_of(app, "#pin-help")
            assert switch.requests == []
            assert app.session is not None and app.session.wrong_pins == 0
            await press(pilot, "enter")
            await _linked_inquiry(pilot)
            await on_screen(pilot, ResultScreen)
            assert "Rp12.345.678,00" in text_of(app, "#result-balance")
            assert len(switch.requests) == 1  # one inquiry, with the six-digit PIN


async def test_a_short_pin_in_english_gets_the_hint_in_english(tmp_path: Path) -> None:
    async with fake_switch(VALID_54) as switch:
        app = AtmApp(atm_config(switch.port, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _pin_screen(pilot, language="f")
            await press(pilot, *"1234", "enter")
            assert isinstance(app.screen, PinScreen)
            assert "Your PIN has 6 digits" in text_of(app, "#pin-help")
            assert switch.requests == []


@pytest.mark.parametrize("field54", list(MALFORMED_54.values()), ids=list(MALFORMED_54))
def test_every_malformed_field_54_is_a_protocol_error_not_a_balance(field54: str) -> None:
    response = FakeSwitch(field54).answer(balance_inquiry_request(
        CardData("5264220000100010", "3012", "5264220000100010=3012101"), "0" * 16,
        terminal_id="BNI00001", stan="000001"))
    result = read_inquiry_response(response)
    assert result.response_code == "00" and not result.approved
    assert result.balance_sen is None and result.protocol_error
    assert result.protocol_error.startswith("field 54")


async def test_approval_without_a_valid_field_54_shows_balance_unavailable(
        tmp_path: Path) -> None:
    async with fake_switch(NO_54) as switch:
        app = AtmApp(atm_config(switch.port, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _pin_screen(pilot)
            await press(pilot, *"123456", "enter")
            for field54 in (NO_54, MALFORMED_54["short"], MALFORMED_54["currency"]):
                switch.field54 = field54
                await _linked_inquiry(pilot)
                await on_screen(pilot, DeclineScreen)
                assert "Saldo tidak tersedia" in text_of(app, "#decline-headline"), field54
                shown = screen_text(app)
                assert "Rp0,00" not in shown and "Rp12" not in shown
                assert app.session is not None and app.session.receipt is None
                await press(pilot, "enter")
                await on_screen(pilot, AnotherTransactionScreen)
                await press(pilot, "i")  # another transaction
            assert len(switch.requests) == 3


async def test_balance_unavailable_in_english(tmp_path: Path) -> None:
    async with fake_switch(NO_54) as switch:
        app = AtmApp(atm_config(switch.port, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _pin_screen(pilot, language="f")
            await press(pilot, *"123456", "enter")
            await _linked_inquiry(pilot)
            await on_screen(pilot, DeclineScreen)
            assert "Balance unavailable" in text_of(app, "#decline-headline")
            assert "IDR 0.00" not in screen_text(app)


async def test_rc_25_for_the_linked_kpj_says_no_participant_typed_kpj_says_check_it(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, IdleScreen)
        await press(pilot, "5", "a")  # Rudi Hartono: a BNI card, no BPJS participation
        await on_screen(pilot, PinScreen)
        await press(pilot, *"135790", "enter")
        await _linked_inquiry(pilot)
        await on_screen(pilot, DeclineScreen)
        assert app.last_exchange is not None and app.last_exchange.response is not None
        assert app.last_exchange.response["39"] == "25"
        headline = text_of(app, "#decline-headline")
        assert "belum terdaftar sebagai peserta BPJS Ketenagakerjaan" in headline
        assert "Periksa kembali nomor KPJ" not in screen_text(app)
        # The same code for a KPJ the customer typed: that number is the one to check.
        await press(pilot, "enter")
        await on_screen(pilot, AnotherTransactionScreen)
        await press(pilot, "i", "i", "g", "a", "b")
        await press(pilot, *"19999999999", "enter", "i")
        await on_screen(pilot, DeclineScreen)
        assert app.last_exchange.response["39"] == "25"
        assert "Periksa kembali nomor KPJ Anda" in text_of(app, "#decline-help")
        assert "belum terdaftar" not in screen_text(app)


# -- atmsim inquire ----------------------------------------------------------------------

def _inquire(port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    env["ATMSIM_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(ATMSIM + ["inquire", "--pan", "5264220000100010", "--pin", "123456",
                                    "--switch", f"127.0.0.1:{port}", "--timeout", "5"],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("field54", [NO_54, MALFORMED_54["short"], MALFORMED_54["currency"]],
                         ids=["missing", "short", "currency"])
async def test_inquire_says_balance_unavailable_and_exits_1(tmp_path: Path,
                                                            field54: str | None) -> None:
    async with fake_switch(field54) as switch:
        run = await asyncio.to_thread(_inquire, switch.port, tmp_path)
    assert run.returncode == 1, run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("526422******0010  balance unavailable: the switch answered 00 but "
                            "field 54"), first
    assert "protocol error" in first
    assert "Rp0,00" not in run.stdout and "Saldo JHT" not in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


async def test_inquire_with_a_valid_field_54_still_shows_the_balance(tmp_path: Path) -> None:
    async with fake_switch(VALID_54) as switch:
        run = await asyncio.to_thread(_inquire, switch.port, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Saldo JHT Rp12.345.678,00" in run.stdout


# -- atmsim load -------------------------------------------------------------------------

async def test_load_counts_approvals_without_54_as_protocol_errors(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    async with fake_switch(NO_54) as switch:
        run = await atmsim_load("--switch", f"127.0.0.1:{switch.port}", "--concurrency", "2",
                                "--count", "20", "--wrong-pin", "0", "--unknown-kpj", "0",
                                "--json", str(report), "--no-progress")
    assert run.code == 1, run.stderr
    assert "protocol    20 errors" in run.stdout
    assert "answered    0" in run.stdout
    doc = json.loads(report.read_text())
    assert doc["protocol_errors"] == 20 and doc["sent"] == 20
    assert "00" not in doc["response_codes"]
    assert any("field 54 (balance) is missing" in note for note in doc["notes"])


async def test_load_counts_malformed_54_as_protocol_errors(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    async with fake_switch(MALFORMED_54["letters"]) as switch:
        run = await atmsim_load("--switch", f"127.0.0.1:{switch.port}", "--concurrency", "2",
                                "--count", "10", "--wrong-pin", "0", "--unknown-kpj", "0",
                                "--json", str(report), "--no-progress")
    assert run.code == 1, run.stderr
    doc = json.loads(report.read_text())
    assert doc["protocol_errors"] == 10 and "00" not in doc["response_codes"]


async def test_the_headless_demo_fails_when_approvals_carry_no_balance() -> None:
    from atmsim.shell.cli import run_headless_demo

    async with fake_switch(NO_54) as switch:
        broken = await run_headless_demo("127.0.0.1", switch.port)
    async with fake_switch(VALID_54) as switch:
        sound = await run_headless_demo("127.0.0.1", switch.port)

    assert (broken, sound) == (1, 0)
