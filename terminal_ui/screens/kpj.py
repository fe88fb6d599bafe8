"""Which KPJ to check: the one linked to the card, or eleven digits typed and confirmed."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.digit_entry import DigitEntry
from terminal_ui.flow import MenuItem, State
from terminal_ui.screens.base import AtmScreen, KeypadScreen, keypad_bindings
from terminal_ui.screens.messages import KpjChosen, KpjTyped, MenuChosen
from terminal_ui.widgets.side_key import NO_KEY, YES_KEY

__all__ = ["KpjSourceScreen", "KpjEntryScreen", "KpjConfirmScreen", "KPJ_LENGTH"]

KPJ_LENGTH = 11


def _grouped(kpj: str) -> str:
    """KPJ digits grouped for reading: ``130 5550 0011``."""
    return f"{kpj[:3]} {kpj[3:7]} {kpj[7:]}".strip()


class KpjSourceScreen(AtmScreen[None]):
    state = State.KPJ_SOURCE
    BINDINGS = [
        Binding("a", "linked", "key_kpj_linked", key_display="A"),
        Binding("b", "menu('type_kpj')", "key_kpj_type", key_display="B"),
        Binding("i", "menu('back')", "key_back", key_display="I"),
    ]

    def side_labels(self) -> dict[str, str]:
        return {"A": self.tr("kpj_linked"), "B": self.tr("kpj_type"), "I": self.tr("back")}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("check_jht"), classes="title")
        yield Static(self.tr("kpj_source"), classes="big")

    def action_linked(self) -> None:
        self.post_message(KpjChosen(None))

    def action_menu(self, item: str) -> None:
        self.post_message(MenuChosen(self.state, MenuItem(item)))


class KpjEntryScreen(KeypadScreen):
    state = State.KPJ_ENTRY
    BINDINGS = keypad_bindings("key_kpj")

    def __init__(self, typed: str = "") -> None:
        super().__init__(DigitEntry(KPJ_LENGTH, typed))

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("enter_kpj"), classes="title")
        yield Static(self._shown(), id="kpj-digits", classes="big")
        yield Static(self.tr("kpj_help"), classes="note")

    def _shown(self) -> str:
        return _grouped("".join(self._entry.shown()))

    def show_digits(self) -> None:
        self.query_one("#kpj-digits", Static).update(self._shown())

    def action_submit(self) -> None:
        if self._entry.full:
            self.post_message(KpjTyped(self._entry.take()))

    def action_cancel(self) -> None:
        self.post_message(MenuChosen(self.state, MenuItem.BACK))


class KpjConfirmScreen(AtmScreen[bool]):
    """"Is this KPJ number correct?": dismissed with True (BENAR) or False (SALAH)."""

    state = State.KPJ_CONFIRM
    BINDINGS = [
        Binding(f"{YES_KEY.lower()},enter", "answer(True)", "yes_correct",
                key_display="I/Enter"),
        Binding(f"{NO_KEY.lower()},escape", "answer(False)", "no_wrong", key_display="D/Esc"),
    ]

    def __init__(self, kpj: str) -> None:
        super().__init__()
        self.kpj = kpj

    def side_labels(self) -> dict[str, str]:
        return {YES_KEY: self.tr("yes_correct"), NO_KEY: self.tr("no_wrong")}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("confirm_kpj"), classes="title")
        yield Static(f"{self.tr('kpj_no')}: [b]{_grouped(self.kpj)}[/b]", id="kpj-confirm",
                     classes="big")

