"""Main menu → Menu Lainnya → BPJS Ketenagakerjaan, and the services the simulator lacks."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.screens.base import AtmScreen, SideKeys

__all__ = ["MainMenuScreen", "OtherMenuScreen", "BpjsMenuScreen", "NotAvailableScreen"]

_FAST_CASH = ("Rp100.000", "Rp300.000", "Rp500.000", "Rp1.000.000", "Rp1.500.000", "Rp2.500.000")


class MainMenuScreen(AtmScreen):
    """Penarikan Cepat style: cash amounts (not offered by the simulator) and Menu Lainnya."""

    hint_key = "hint_menu"

    def side_keys(self) -> SideKeys:
        na = lambda: self.atm.switch_screen(NotAvailableScreen(MainMenuScreen))  # noqa: E731
        keys: SideKeys = {letter: (amount, na) for letter, amount in zip("ABCDFG", _FAST_CASH,
                                                                          strict=True)}
        keys["H"] = (self.tr("other_amount"), na)
        keys["I"] = (self.tr("other_menu"), lambda: self.atm.switch_screen(OtherMenuScreen()))
        return keys

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("main_menu"), classes="title")
        yield Static(self.tr("fast_cash"), classes="big")
        yield Static(self.tr("choose_transaction"), classes="note")

    def escape(self) -> None:
        self.atm.end_session()


class OtherMenuScreen(AtmScreen):
    hint_key = "hint_menu_back"

    def side_keys(self) -> SideKeys:
        na = lambda: self.atm.switch_screen(NotAvailableScreen(OtherMenuScreen))  # noqa: E731
        return {
            "A": (self.tr("balance_info"), na),
            "B": (self.tr("transfer"), na),
            "C": (self.tr("payment"), na),
            "D": (self.tr("purchase"), na),
            "F": (self.tr("change_pin"), na),
            "G": (self.tr("bpjs_tk"), lambda: self.atm.switch_screen(BpjsMenuScreen())),
            "I": (self.tr("back"), lambda: self.atm.switch_screen(MainMenuScreen())),
        }

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("other_menu"), classes="title")
        yield Static(self.tr("choose_transaction"), classes="note")

    def escape(self) -> None:
        self.atm.switch_screen(MainMenuScreen())


class BpjsMenuScreen(AtmScreen):
    hint_key = "hint_menu_back"

    def side_keys(self) -> SideKeys:
        from terminal_ui.screens.kpj import KpjSourceScreen

        return {
            "A": (self.tr("check_jht"), lambda: self.atm.switch_screen(KpjSourceScreen())),
            "B": (self.tr("membership_info"),
                  lambda: self.atm.switch_screen(NotAvailableScreen(BpjsMenuScreen))),
            "I": (self.tr("back"), lambda: self.atm.switch_screen(OtherMenuScreen())),
        }

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("bpjs_tk"), classes="title")
        yield Static(self.tr("choose_transaction"), classes="note")

    def escape(self) -> None:
        self.atm.switch_screen(OtherMenuScreen())


class NotAvailableScreen(AtmScreen):
    """A menu item the simulator does not offer (cash, transfers…): say so, go back."""

    hint_key = "hint_back"

    def __init__(self, back_to: type[AtmScreen]) -> None:
        super().__init__()
        self.back_to = back_to

    def side_keys(self) -> SideKeys:
        return {"I": (self.tr("back"), self._back)}

    def _back(self) -> None:
        self.atm.switch_screen(self.back_to())

    escape = enter = _back

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("not_available"), classes="big")

