"""Full ATM flows for the demo cards against the real back end started by the test."""

from __future__ import annotations

import re
from pathlib import Path

from atmsim.kernel.wire.additional_data import decode_balance_amount
from atmsim.shell.stack import Stack
from terminal_ui.app import AtmApp
from terminal_ui.device.formatting import format_rupiah
from terminal_ui.screens.card_return import CardRetainedScreen, TakeCardScreen, ThankYouScreen
from terminal_ui.screens.idle import IdleScreen, OfflineScreen
from terminal_ui.screens.kpj import KpjConfirmScreen, KpjEntryScreen
from terminal_ui.screens.menus import MainMenuScreen
from terminal_ui.screens.more_time import MoreTimeScreen
from terminal_ui.screens.outcome import (
    AnotherTransactionScreen,
    DeclineScreen,
    ReceiptScreen,
    ResultScreen,
)
from terminal_ui.screens.pin import LanguageScreen, PinScreen
from tests.atm.pilot import atm_config, on_screen, press, screen_text, text_of, to_kpj_source, until
from tests.conftest import free_port
from tests.e2e.conftest import stack_settings

CARD_NUMBER = {"Budi": "1", "Siti": "2", "Andi": "3", "Dewi": "4", "Wayan": "6"}


async def _to_bpjs_menu(pilot, card: str, pin: str, language: str = "a") -> None:  # type: ignore[no-untyped-def]
    await on_screen(pilot, IdleScreen)
    await press(pilot, CARD_NUMBER[card])
    await on_screen(pilot, LanguageScreen)
    await press(pilot, language)
    await on_screen(pilot, PinScreen)
    await press(pilot, *pin, "enter")
    await to_kpj_source(pilot)


async def test_approval_shows_the_ledger_balance_and_saves_a_receipt(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    # The thank-you screen shows for message_time: 0.3 s (the other tests) was once missed
    # between two looks on a fresh CI machine, this suite's first Textual test.
    app = AtmApp(atm_config(amqtt_stack, tmp_path, message_time=1.5))
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_bpjs_menu(pilot, "Budi", "123456")
        await press(pilot, "a")  # the KPJ linked to the card
        await on_screen(pilot, ResultScreen)
        assert app.last_exchange is not None and app.last_exchange.response is not None
        sen = decode_balance_amount(app.last_exchange.response["54"])
        balance = text_of(app, "#result-balance")
        assert format_rupiah(sen) in balance
        assert re.search(r"Rp\d{1,3}(\.\d{3})+,\d{2}", balance)
        details = text_of(app, "#result-details")
        assert "10012345678" in details and "B**i S*****o" in details and "AKTIF" in details
        await press(pilot, "i")  # yes, a receipt
        await on_screen(pilot, ReceiptScreen)
        await press(pilot, "a")
        await until(pilot, lambda: app.last_receipt_path is not None)
        assert app.last_receipt_path is not None
        receipt = app.last_receipt_path.read_text()
        assert format_rupiah(sen) in receipt and "526422******0010" in receipt
        assert "5264220000100010" not in receipt
        await press(pilot, "i")
        await on_screen(pilot, AnotherTransactionScreen)
        await press(pilot, "d")  # no other transaction
        await on_screen(pilot, TakeCardScreen)
        await press(pilot, "enter")
        await on_screen(pilot, ThankYouScreen)
        await on_screen(pilot, IdleScreen)


async def test_wrong_pin_then_right_pin_in_english(amqtt_stack: Stack, tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_bpjs_menu(pilot, "Siti", "111111", language="f")
        await press(pilot, "a")
        await on_screen(pilot, DeclineScreen)
        assert "The PIN you entered is wrong" in text_of(app, "#decline-headline")
        assert "Tries left: 2" in text_of(app, "#decline-help")
        await press(pilot, "enter")
        await on_screen(pilot, PinScreen)
        assert "Tries left: 2" in text_of(app, "#pin-warning")
        await press(pilot, *"246810", "enter")
        await on_screen(pilot, ResultScreen)  # the same inquiry, sent again with the new PIN
        assert "IDR " in text_of(app, "#result-balance")
        assert "12087654321" in text_of(app, "#result-details")


async def test_three_wrong_pins_block_and_keep_the_card(amqtt_stack: Stack,
                                                        tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path, message_time=30))
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_bpjs_menu(pilot, "Dewi", "111111")
        await press(pilot, "a")
        for wrong in ("222222", "333333"):
            await on_screen(pilot, DeclineScreen)
            await press(pilot, "enter")
            await on_screen(pilot, PinScreen)
            await press(pilot, *wrong, "enter")
        await on_screen(pilot, DeclineScreen)
        assert "diblokir" in text_of(app, "#decline-headline")
        await press(pilot, "enter")
        await on_screen(pilot, CardRetainedScreen)
        assert "Kartu Anda tertahan" in text_of(app, "#card-retained")


async def test_typed_kpj_and_someone_elses_kpj(amqtt_stack: Stack, tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_bpjs_menu(pilot, "Andi", "112233")
        await press(pilot, "b")
        await on_screen(pilot, KpjEntryScreen)
        await press(pilot, *"1305550001", "enter")  # ten digits: not accepted yet
        assert isinstance(app.screen, KpjEntryScreen)
        await press(pilot, "1", "enter")
        await on_screen(pilot, KpjConfirmScreen)
        assert "130 5550 0011" in text_of(app, "#kpj-confirm")
        await press(pilot, "i")  # BENAR
        await on_screen(pilot, ResultScreen)
        assert "13055500011" in text_of(app, "#result-details")
        # Another transaction: Budi's KPJ with Andi's card is refused (privacy).
        await press(pilot, "d")  # no receipt
        await on_screen(pilot, AnotherTransactionScreen)
        await press(pilot, "i")  # yes, another one
        await on_screen(pilot, MainMenuScreen)
        await press(pilot, "i", "g", "a", "b")
        await on_screen(pilot, KpjEntryScreen)
        await press(pilot, *"10012345678", "enter", "i")
        await on_screen(pilot, DeclineScreen)
        assert "bukan milik Anda" in text_of(app, "#decline-headline")
        assert app.last_exchange is not None and app.last_exchange.response is not None
        assert app.last_exchange.response["39"] == "57"
        assert "54" not in app.last_exchange.response


async def test_switch_down_shows_out_of_service_then_reconnects(data_dir: Path,
                                                                 tmp_path: Path) -> None:
    port = free_port()
    app = AtmApp(atm_config(port, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, OfflineScreen)
        assert "tidak dapat digunakan" in screen_text(app)
        settings = stack_settings(data_dir, broker_kind="amqtt")
        settings.switch.port = port
        async with Stack(settings):
            await on_screen(pilot, IdleScreen, within=15)
            await _to_bpjs_menu(pilot, "Wayan", "999111")
        # The switch is gone mid-session: the inquiry is refused with a clear screen.
        await press(pilot, "a")
        await on_screen(pilot, DeclineScreen)
        assert "Koneksi ke host terputus" in text_of(app, "#decline-headline")
        await press(pilot, "enter")
        await on_screen(pilot, TakeCardScreen)
        await press(pilot, "enter")
        await on_screen(pilot, OfflineScreen, within=15)


async def test_inactivity_asks_for_more_time_then_ends_the_session(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    # Timers long enough that a loaded machine still sees each screen before the next.
    app = AtmApp(atm_config(amqtt_stack, tmp_path, idle_timeout=1.5, more_time_timeout=2,
                            take_card_timeout=1.5, message_time=30))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, IdleScreen)
        await press(pilot, "1", "a")
        await on_screen(pilot, PinScreen)
        await on_screen(pilot, MoreTimeScreen, within=8)
        await press(pilot, "i")  # yes, more time
        await on_screen(pilot, PinScreen)
        await on_screen(pilot, MoreTimeScreen, within=8)  # asked again after another wait
        await on_screen(pilot, TakeCardScreen, within=8)  # no answer: session over
        assert "Transaksi dibatalkan" in screen_text(app)
        await on_screen(pilot, CardRetainedScreen, within=8)  # card not taken: kept


async def test_wire_panel_shows_masked_fields(amqtt_stack: Stack, tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_bpjs_menu(pilot, "Budi", "123456")
        await press(pilot, "a")
        await on_screen(pilot, ResultScreen)
        await press(pilot, "f2")
        panel = text_of(app, "#wire-text")
        assert "0200" in panel and "0210" in panel and "ms" in panel
        assert "526422******0010" in panel and "5264220000100010" not in panel
        assert "[8 bytes, not shown]" in panel
        assert app.last_exchange is not None
        assert app.last_exchange.request["52"] not in panel
        assert "hops:" not in panel and "63" not in app.last_exchange.request  # not asked


async def test_wire_panel_shows_the_hop_timings_the_atm_asked_for(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    app = AtmApp(atm_config(amqtt_stack, tmp_path, hop_timings=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_bpjs_menu(pilot, "Budi", "123456")
        await press(pilot, "a")
        await on_screen(pilot, ResultScreen)
        await press(pilot, "f2")
        panel = text_of(app, "#wire-text")
        assert re.search(r"hops: HSM \d+\.\d{3} ms · ledger \d+\.\d{3} ms · "
                         r"switch \d+\.\d{3} ms", panel), panel
        assert app.last_exchange is not None and app.last_exchange.response is not None
        assert app.last_exchange.request["63"] == "HQ011"
        assert app.last_exchange.response["63"].startswith("HS")
