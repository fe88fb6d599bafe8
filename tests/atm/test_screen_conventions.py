"""What holds on every screen: the 80x24 notice, footers in the session language, and
yes/no on the same keys (YA bottom right I / Enter, TIDAK bottom left D / Escape)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from textual.widgets import Static

from terminal_ui.app import AtmApp
from terminal_ui.device.config import AtmConfig
from terminal_ui.device.session import AtmSession, ReceiptData
from terminal_ui.device.transactions import CardData, InquiryResult
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.card_return import CardRetainedScreen, TakeCardScreen, ThankYouScreen
from terminal_ui.screens.idle import CardEntryScreen, IdleScreen, OfflineScreen
from terminal_ui.screens.kpj import KpjConfirmScreen, KpjEntryScreen, KpjSourceScreen
from terminal_ui.screens.menus import (
    BpjsMenuScreen,
    MainMenuScreen,
    NotAvailableScreen,
    OtherMenuScreen,
)
from terminal_ui.screens.messages import KpjTyped, PinEntered
from terminal_ui.screens.more_time import MoreTimeScreen
from terminal_ui.screens.outcome import (
    AnotherTransactionScreen,
    DeclineScreen,
    ProcessingScreen,
    ReceiptScreen,
    ResultScreen,
)
from terminal_ui.screens.pin import LanguageScreen, PinScreen
from tests.atm.pilot import on_screen, press

RESULT = InquiryResult("00", "approved", kpj="10012345678", masked_name="B**i S*****o",
                       status="AKTIF", balance_sen=12_220_953_025, as_of=date(2026, 10, 31))
CARD = CardData("5264220000100010", "3012", "5264220000100010=3012101")
NOON_WIB = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def _app() -> AtmApp:
    return AtmApp(AtmConfig(idle_timeout=0, message_time=60, take_card_timeout=60,
                            clock=lambda: NOON_WIB), connect=False)


def _in_session(app: AtmApp, language: str) -> None:
    app.session = AtmSession(CARD, language=language, result=RESULT)
    app.session.receipt = ReceiptData("BNI00001", "000123", "633512000123", NOON_WIB,
                                      "526422******0010", RESULT)


# -- smaller than 80x24 -------------------------------------------------------------------

def _notice(app: AtmApp) -> Static:
    return app.screen.query_one("#too-small", Static)


async def test_a_small_window_shows_the_enlarge_notice_instead_of_a_clipped_atm() -> None:
    app = _app()
    async with app.run_test(size=(60, 20)) as pilot:
        await on_screen(pilot, IdleScreen)
        notice = _notice(app)
        text = str(notice.render())
        assert notice.display and notice.region.width == 60 and notice.region.height == 20
        assert "Perbesar jendela ke 80×24" in text  # noqa: RUF001
        assert "Please enlarge the window to 80×24" in text  # noqa: RUF001
        assert "(60×20)" in text  # noqa: RUF001
        assert not app.screen.query_one("#frame").display
        await press(pilot, "1")  # the customer cannot see the screen: keys do nothing
        assert isinstance(app.screen, IdleScreen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not _notice(app).display and app.screen.query_one("#frame").display
        await press(pilot, "1")
        await on_screen(pilot, LanguageScreen)
        await pilot.resize_terminal(80, 23)  # one line short is too small as well
        await pilot.pause()
        assert _notice(app).display and "(80×23)" in str(_notice(app).render())  # noqa: RUF001


async def test_the_more_time_question_also_gives_way_to_the_notice() -> None:
    app = _app()
    async with app.run_test(size=(79, 24)) as pilot:
        _in_session(app, "id")
        await app.switch_screen(PinScreen())
        app.push_screen(MoreTimeScreen(30, "id"))
        await pilot.pause()
        assert isinstance(app.screen, MoreTimeScreen)
        assert _notice(app).display
        assert not app.screen.query_one("#more-time").display
        await press(pilot, "i")  # not visible: not answered
        assert isinstance(app.screen, MoreTimeScreen)


# -- footers ------------------------------------------------------------------------------

SESSION_SCREENS: dict[str, Callable[[], AtmScreen]] = {
    "pin": PinScreen, "main_menu": MainMenuScreen, "other_menu": OtherMenuScreen,
    "bpjs_menu": BpjsMenuScreen, "kpj_source": KpjSourceScreen, "kpj_entry": KpjEntryScreen,
    "kpj_confirm": lambda: KpjConfirmScreen("13055500011"),
    "result": lambda: ResultScreen(RESULT), "receipt": ReceiptScreen,
    "decline": lambda: DeclineScreen("91"),
    "another": AnotherTransactionScreen, "take_card": TakeCardScreen,
    "retained": CardRetainedScreen, "thank_you": ThankYouScreen, "processing": ProcessingScreen,
    "not_available": lambda: NotAvailableScreen(MainMenuScreen),
}
# Words that give a footer's language away.
INDONESIAN = re.compile(r"\b(batal|kembali|lanjut|hapus|tombol|keluar|cetak|struk|ambil|"
                        r"ketik|terhubung|YA|TIDAK|BENAR|SALAH|BATAL)\b", re.IGNORECASE)
ENGLISH = re.compile(r"\b(cancel|back|continue|erase|side keys|quit|print|receipt|take|type|"
                     r"linked|YES|NO|CORRECT|WRONG)\b", re.IGNORECASE)


def _footer(app: AtmApp) -> str:
    return str(app.screen.query_one("#hints", Static).render())


async def test_footers_follow_the_session_language() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        for name, factory in SESSION_SCREENS.items():
            footers = {}
            for language in ("id", "en"):
                _in_session(app, language)
                await app.switch_screen(factory())
                await pilot.pause()
                footers[language] = _footer(app)
            if name != "processing":  # no keys to explain while the host is asked
                assert footers["id"] != footers["en"], name
            assert not ENGLISH.search(footers["id"]), (name, footers["id"])
            assert not INDONESIAN.search(footers["en"]), (name, footers["en"])


@pytest.mark.parametrize("screen", [IdleScreen, CardEntryScreen, OfflineScreen, LanguageScreen])
async def test_footers_before_a_language_is_chosen_are_bilingual(
        screen: Callable[[], AtmScreen]) -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        if screen is LanguageScreen:
            app.session = AtmSession(CARD)
        app.connected = screen is not OfflineScreen  # else it goes where it belongs
        await app.switch_screen(screen())
        await pilot.pause()
        footer = _footer(app)
        assert INDONESIAN.search(footer) and ENGLISH.search(footer), footer
        assert len(footer) <= 78  # fits the 80-column footer line


# -- yes and no ----------------------------------------------------------------------------

def _key_label(app: AtmApp, letter: str) -> str:
    return str(app.screen.query_one(f"#key-{letter}").label)  # type: ignore[attr-defined]


# how the app asks the question, its yes and no labels in id/en, the screen after yes,
# the screen after no
YES_NO: dict[str, tuple[Callable[[AtmApp], object], tuple[str, str], tuple[str, str],
                        tuple[type, ...], type]] = {
    "kpj_confirm": (lambda app: app.post_message(KpjTyped("13055500011")), ("BENAR", "CORRECT"),
                    ("SALAH", "WRONG"), (ProcessingScreen, DeclineScreen), KpjEntryScreen),
    "receipt?": (lambda app: app.show_result(RESULT, {}, NOON_WIB),
                 ("CETAK STRUK", "PRINT RECEIPT"), ("TIDAK", "NO"), (ReceiptScreen,),
                 AnotherTransactionScreen),
    "another?": (lambda app: app.ask_another_transaction(), ("YA", "YES"), ("TIDAK", "NO"),
                 (MainMenuScreen,), TakeCardScreen),
}


@pytest.mark.parametrize("name", list(YES_NO))
async def test_yes_is_bottom_right_and_no_bottom_left_on_every_question(name: str) -> None:
    ask, yes, no, after_yes, after_no = YES_NO[name]
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        for lang, language in enumerate(("id", "en")):
            for answer in ("i", "enter", "d", "escape"):
                _in_session(app, language)
                ask(app)
                await pilot.pause()
                assert _key_label(app, "i").startswith(yes[lang] + " ◂")
                assert _key_label(app, "d").endswith("▸ " + no[lang])
                await press(pilot, answer)
                await pilot.pause()
                expected = after_yes if answer in ("i", "enter") else (after_no,)
                assert isinstance(app.screen, expected), (language, answer, app.screen)


@pytest.mark.parametrize("answer", ["i", "enter", "d", "escape"])
async def test_more_time_uses_the_same_keys(answer: str) -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        _in_session(app, "en")
        await app.switch_screen(PinScreen())
        await pilot.pause()
        app.ask_for_more_time(app.screen)  # type: ignore[arg-type]
        await pilot.pause()
        keys = str(app.screen.query_one("#more-time-keys", Static).render())
        assert re.fullmatch(r"D ▸ NO +YES ◂ I", keys), keys
        await press(pilot, answer)
        await pilot.pause()
        expected = PinScreen if answer in ("i", "enter") else TakeCardScreen
        assert isinstance(app.screen, expected), app.screen


@pytest.mark.parametrize("factory", [PinScreen, KpjEntryScreen])
async def test_entry_screens_confirm_bottom_right_and_cancel_bottom_left(
        factory: Callable[[], AtmScreen]) -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        _in_session(app, "id")
        await app.switch_screen(factory())
        await pilot.pause()
        assert _key_label(app, "i").startswith("BENAR ◂")
        assert _key_label(app, "d").endswith("▸ BATAL")


# -- footers and side keys come from the screen's bindings ---------------------------------

MENU_FOOTER = ("A-D F-I tombol samping · Esc batal · F2 wire",
               "A-D F-I side keys · Esc cancel · F2 wire")
MENU_BACK_FOOTER = ("A-D F-I tombol samping · Esc kembali · F2 wire",
                    "A-D F-I side keys · Esc back · F2 wire")
# The footers as they read before they were rendered from bindings: (Indonesian, English).
FOOTERS: dict[str, tuple[str, str]] = {
    "pin": ("0-9 PIN · Backspace hapus · Enter BENAR · Esc BATAL",
            "0-9 PIN · Backspace erase · Enter CORRECT · Esc CANCEL"),
    "main_menu": MENU_FOOTER, "other_menu": MENU_BACK_FOOTER, "bpjs_menu": MENU_BACK_FOOTER,
    "kpj_source": ("A KPJ terhubung · B ketik KPJ · I kembali",
                   "A linked KPJ · B type a KPJ · I back"),
    "kpj_entry": ("0-9 KPJ · Backspace hapus · Enter BENAR · Esc BATAL",
                  "0-9 KPJ · Backspace erase · Enter CORRECT · Esc CANCEL"),
    "kpj_confirm": ("I/Enter BENAR · D/Esc SALAH", "I/Enter CORRECT · D/Esc WRONG"),
    "result": ("I/Enter cetak struk · D/Esc tanpa struk · F2 wire",
               "I/Enter print receipt · D/Esc no receipt · F2 wire"),
    "receipt": ("A simpan struk · I/Enter lanjut", "A save receipt · I/Enter continue"),
    "decline": ("I/Enter lanjut", "I/Enter continue"),
    "another": ("I/Enter YA · D/Esc TIDAK", "I/Enter YES · D/Esc NO"),
    "take_card": ("Enter ambil kartu", "Enter take card"),
    "retained": ("Enter lanjut", "Enter continue"),
    "thank_you": ("F2 wire · Ctrl+Q keluar", "F2 wire · Ctrl+Q quit"),
    "processing": (" ", " "),
    "not_available": ("I/Enter kembali", "I/Enter back"),
}
BEFORE_A_LANGUAGE: dict[type[AtmScreen], str] = {
    IdleScreen: "1-9 kartu/card · 0 kartu lain/other card · F2 wire · Ctrl+Q keluar/quit",
    CardEntryScreen: "Enter masukkan kartu/insert card · Esc kembali/back",
    OfflineScreen: "F2 wire · Ctrl+Q keluar/quit",
    LanguageScreen: "A Indonesia · F English · Esc batal/cancel",
}


async def test_every_footer_reads_as_it_always_did() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        for name, factory in SESSION_SCREENS.items():
            for language, expected in zip(("id", "en"), FOOTERS[name], strict=True):
                _in_session(app, language)
                await app.switch_screen(factory())
                await pilot.pause()
                assert _footer(app) == expected, (name, language)
        for screen, expected in BEFORE_A_LANGUAGE.items():
            app.session = AtmSession(CARD, language="en") if screen is LanguageScreen else None
            app.connected = screen is not OfflineScreen
            await app.switch_screen(screen())
            await pilot.pause()
            assert _footer(app) == expected, screen


def _side_letters(keys: str) -> set[str]:
    return {key.upper() for key in keys.split(",") if key in "abcdfghi" and len(key) == 1}


async def test_a_side_key_is_labelled_exactly_when_the_screen_binds_its_letter() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        screens: list[Callable[[], AtmScreen]] = [*SESSION_SCREENS.values(), LanguageScreen]
        for factory in screens:
            _in_session(app, "id")
            screen = factory()
            await app.switch_screen(screen)
            await pilot.pause()
            bound = set().union(*(_side_letters(b.key) for b in type(screen).BINDINGS
                                  if not isinstance(b, tuple)))
            labelled = {letter for letter in "ABCDFGHI" if _key_label(app, letter.lower())}
            assert bound == labelled, (type(screen).__name__, bound, labelled)


async def test_clicking_a_side_key_does_what_its_letter_does() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, IdleScreen)
        await press(pilot, "1")
        await on_screen(pilot, LanguageScreen)
        await pilot.click("#key-f")  # ENGLISH
        await on_screen(pilot, PinScreen)
        assert app.session is not None and app.session.language == "en"
        await pilot.click("#key-d")  # CANCEL
        await on_screen(pilot, TakeCardScreen)


async def test_the_pin_leaves_the_pin_screen_in_a_message_that_never_shows_it() -> None:
    seen: list[tuple[object, str]] = []  # each message as it arrives, and its repr then
    app = _app()
    async with app.run_test(size=(80, 24),
                            message_hook=lambda m: seen.append((m, repr(m)))) as pilot:
        await press(pilot, "1", "a")
        await on_screen(pilot, PinScreen)
        await press(pilot, *"135790", "enter")
        await on_screen(pilot, MainMenuScreen)
        assert app.session is not None and app.session.pin_block is not None
    entered = {id(m): m for m, _ in seen if isinstance(m, PinEntered)}
    assert len(entered) == 1  # seen by the screen it came from and by the app
    assert not any("135790" in shown for _, shown in seen)
    assert next(iter(entered.values())).take_pin() == ""  # the app took the digits
