"""The ATM when its 0210 does not come in time: "transaction cancelled" on the screen, and
the 0420 it owes sent from its store-and-forward queue until the switch answers it."""

from __future__ import annotations

from pathlib import Path

from atm_switch.journal import TransactionJournal, journal_path
from atmsim.shell.stack import Stack
from terminal_ui.app import AtmApp
from terminal_ui.screens.card_return import TakeCardScreen
from terminal_ui.screens.idle import IdleScreen
from terminal_ui.screens.outcome import DeclineScreen
from terminal_ui.screens.pin import LanguageScreen, PinScreen
from tests.atm.pilot import atm_config, on_screen, press, text_of, to_kpj_source, until


async def _inquire_while_the_ledger_is_held(pilot, stack: Stack, language: str) -> None:  # type: ignore[no-untyped-def]
    """Budi's card, his PIN, the linked KPJ, with the ledger stopped: no 0210 in time."""
    await on_screen(pilot, IdleScreen)
    await stack.stop_ledger()
    await press(pilot, "1")
    await on_screen(pilot, LanguageScreen)
    await press(pilot, language)
    await on_screen(pilot, PinScreen)
    await press(pilot, *"123456", "enter")
    await to_kpj_source(pilot)
    await press(pilot, "a")
    await on_screen(pilot, DeclineScreen)


async def test_timeout_cancels_the_transaction_and_reverses_it(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path, host_timeout=0.5))
    async with app.run_test(size=(80, 24)) as pilot:
        await _inquire_while_the_ledger_is_held(pilot, amqtt_stack, "f")
        assert "Transaction cancelled" in text_of(app, "#decline-headline")
        assert app.saf is not None
        await until(pilot, lambda: app.saf is not None and app.saf.pending() == 0, within=15)
        await press(pilot, "enter")
        await on_screen(pilot, TakeCardScreen)
    assert app.config.saf_file.parent == tmp_path / "saf" and app.config.saf_file.exists()
    journal = TransactionJournal(journal_path(amqtt_stack.data_dir))
    try:
        entries = list(journal.entries())
    finally:
        journal.close()
    reversal = next(e for e in entries if e.kind in ("0420", "0421"))
    assert reversal.response_code == "00" and reversal.note.startswith("reversed")
    assert reversal.terminal_id == "BNI00001"


async def test_a_reversal_still_owed_when_the_atm_stops_is_sent_after_its_restart(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    config = atm_config(amqtt_stack, tmp_path, host_timeout=0.3)
    first = AtmApp(config)
    async with first.run_test(size=(80, 24)) as pilot:
        await _inquire_while_the_ledger_is_held(pilot, amqtt_stack, "a")
        assert "Transaksi dibatalkan" in text_of(app=first, selector="#decline-headline")
        # The switch holds the 0420 until the held 0200 is answered, longer than this ATM
        # waits: the first attempt goes unanswered, and the ATM is switched off.
        assert first.saf is not None
        saf = first.saf
        await until(pilot, lambda: (item := saf.head("BNI00001")) is not None
                    and item.attempts == 1)
    await amqtt_stack.start_ledger()
    again = AtmApp(config)
    async with again.run_test(size=(80, 24)) as pilot:
        assert again.saf is not None and again.saf.pending() == 1
        await until(pilot, lambda: again.saf is not None and again.saf.pending() == 0,
                    within=15)
    journal = TransactionJournal(journal_path(amqtt_stack.data_dir))
    try:
        repeats = [e for e in journal.entries() if e.kind == "0421"]
    finally:
        journal.close()
    assert repeats and all(e.response_code == "00" for e in repeats)
