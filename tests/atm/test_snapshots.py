"""SVG snapshots of the key screens, in both languages, at 80x24.

The screens are shown with fixed session data (no host), so the pictures only change when
the screens do. After an intended change: ``pytest tests/atm --snapshot-update`` and look
at the new SVGs before committing them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from textual.pilot import Pilot

from terminal_ui.app import AtmApp
from terminal_ui.device.config import AtmConfig
from terminal_ui.device.session import AtmSession, ReceiptData
from terminal_ui.device.transactions import CardData, InquiryResult
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.card_return import TakeCardScreen
from terminal_ui.screens.kpj import KpjConfirmScreen
from terminal_ui.screens.menus import BpjsMenuScreen, MainMenuScreen
from terminal_ui.screens.outcome import DeclineScreen, ReceiptScreen, ResultScreen
from terminal_ui.screens.pin import LanguageScreen, PinScreen

RESULT = InquiryResult("00", "approved", kpj="10012345678", masked_name="B**i S*****o",
                       status="AKTIF", balance_sen=12_220_953_025, as_of=date(2026, 10, 31),
                       segment="PU")
CARD = CardData("5264220000100010", "3012", "5264220000100010=3012101")
# The screen clock is pinned: 09:30 WIB on 21 November 2026.
AT = datetime(2026, 11, 21, 2, 30, 0, tzinfo=UTC)


def _app() -> AtmApp:
    return AtmApp(AtmConfig(idle_timeout=0, clock=lambda: AT), connect=False)


def _show(screen_factory, language: str, *, wrong_pins: int = 0):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, AtmApp)
        app.session = AtmSession(CARD, language=language, wrong_pins=wrong_pins, result=RESULT)
        app.session.receipt = ReceiptData("BNI00001", "000123", "632509000123",
                                          AT.astimezone(app.zone), "526422******0010",
                                          RESULT)
        screen: AtmScreen = screen_factory()
        await app.switch_screen(screen)
        await pilot.pause()
    return run_before


SCREENS = {
    "language": LanguageScreen,
    "pin": PinScreen,
    "main_menu": MainMenuScreen,
    "bpjs_menu": BpjsMenuScreen,
    "kpj_confirm": lambda: KpjConfirmScreen("13055500011"),
    "result": lambda: ResultScreen(RESULT),
    "receipt": ReceiptScreen,
    "wrong_pin": lambda: DeclineScreen("55"),
    "not_your_kpj": lambda: DeclineScreen("57"),
    "unavailable": lambda: DeclineScreen("91"),
    "no_balance": lambda: DeclineScreen("no_balance"),
    "cancelled": lambda: DeclineScreen("timeout"),  # no 0210 in time: reversed
    "not_a_participant": lambda: DeclineScreen("25"),  # the card's linked KPJ
    "take_card": TakeCardScreen,
}


def test_idle_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(), terminal_size=(80, 24))


def test_too_small_window(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(), terminal_size=(60, 20))


@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare, name: str, language: str) -> None:  # type: ignore[no-untyped-def]
    wrong = 1 if name == "wrong_pin" else 0
    assert snap_compare(_app(), terminal_size=(80, 24),
                        run_before=_show(SCREENS[name], language, wrong_pins=wrong))
