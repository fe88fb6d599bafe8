"""Which KPJ to check: the one linked to the card, or eleven digits typed and confirmed."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.digit_entry import DigitEntry
from terminal_ui.screens.base import AtmScreen, SideKeys
from terminal_ui.widgets.side_key import NO_KEY, YES_KEY

__all__ = ["KpjSourceScreen", "KpjEntryScreen", "KpjConfirmScreen", "KPJ_LENGTH"]

KPJ_LENGTH = 11


def _grouped(kpj: str) -> str:
    """KPJ digits grouped for reading: ``130 5550 0011``."""
    return f"{kpj[:3]} {kpj[3:7]} {kpj[7:]}".strip()


class KpjSourceScreen(AtmScreen):
    hint_key = "hint_kpj_source"

    def side_keys(self) -> SideKeys:
        from terminal_ui.screens.menus import BpjsMenuScreen

        return {"A": (self.tr("kpj_linked"), lambda: self.atm.start_inquiry(kpj=None)),
                "B": (self.tr("kpj_type"), lambda: self.atm.switch_screen(KpjEntryScreen())),
                "I": (self.tr("back"), lambda: self.atm.switch_screen(BpjsMenuScreen()))}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("check_jht"), classes="title")
        yield Static(self.tr("kpj_source"), classes="big")


class KpjEntryScreen(AtmScreen):
    hint_key = "hint_kpj_entry"

    def __init__(self, typed: str = "") -> None:
        super().__init__()
        self._entry = DigitEntry(KPJ_LENGTH, typed)

    def side_keys(self) -> SideKeys:
        return {NO_KEY: (self.tr("cancel"), lambda: self.atm.switch_screen(KpjSourceScreen())),
                "H": (self.tr("clear"), self._clear),
                YES_KEY: (self.tr("correct"), self._submit)}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("enter_kpj"), classes="title")
        yield Static(self._shown(), id="kpj-digits", classes="big")
        yield Static(self.tr("kpj_help"), classes="note")

    def _shown(self) -> str:
        return _grouped("".join(self._entry.shown()))

    def _clear(self) -> None:
        self._entry.clear()
        self.query_one("#kpj-digits", Static).update(self._shown())

    def _submit(self) -> None:
        if self._entry.full:
            self.atm.switch_screen(KpjConfirmScreen(self._entry.take()))

    def escape(self) -> None:
        self.atm.switch_screen(KpjSourceScreen())

    enter = _submit

    def customer_key(self, key: str, character: str | None) -> bool:
        if self._entry.edit(key, character):
            self.query_one("#kpj-digits", Static).update(self._shown())
            return True
        return super().customer_key(key, character)


class KpjConfirmScreen(AtmScreen):
    hint_key = "hint_kpj_confirm"

    def __init__(self, kpj: str) -> None:
        super().__init__()
        self.kpj = kpj

    def side_keys(self) -> SideKeys:
        return {YES_KEY: (self.tr("yes_correct"), lambda: self.atm.start_inquiry(kpj=self.kpj)),
                NO_KEY: (self.tr("no_wrong"),
                         lambda: self.atm.switch_screen(KpjEntryScreen()))}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("confirm_kpj"), classes="title")
        yield Static(f"{self.tr('kpj_no')}: [b]{_grouped(self.kpj)}[/b]", id="kpj-confirm",
                     classes="big")

    def enter(self) -> None:
        self.atm.start_inquiry(kpj=self.kpj)

    def escape(self) -> None:
        self.atm.switch_screen(KpjEntryScreen())
