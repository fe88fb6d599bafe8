"""Language choice and PIN entry: the first two things a cardholder does."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.device.i18n import t
from terminal_ui.digit_entry import DigitEntry
from terminal_ui.screens.base import AtmScreen, SideKeys
from terminal_ui.widgets.side_key import NO_KEY, YES_KEY

__all__ = ["LanguageScreen", "PinScreen", "PIN_LENGTH"]

PIN_LENGTH = 6  # BNI PINs have six digits


class LanguageScreen(AtmScreen):
    hint_key = "hint_language"

    def side_keys(self) -> SideKeys:
        return {"A": (t("lang_id", "id"), lambda: self.atm.choose_language("id")),
                "F": (t("lang_en", "en"), lambda: self.atm.choose_language("en"))}

    def body(self) -> Iterable[Widget]:
        yield Static(f"{t('choose_language', 'id')}\n[i]{t('choose_language', 'en')}[/i]",
                     classes="title")

    def escape(self) -> None:
        self.atm.end_session()


class PinScreen(AtmScreen):
    """Six digits shown as dots; the digits go to the PIN pad, never anywhere else.

    BENAR before the sixth digit is refused with a hint and nothing is sent: a short PIN
    would only cost the cardholder one of the three tries.
    """

    hint_key = "hint_pin"

    def __init__(self, *, after_wrong_pin: bool = False) -> None:
        super().__init__()
        self.after_wrong_pin = after_wrong_pin
        self._entry = DigitEntry(PIN_LENGTH)

    def side_keys(self) -> SideKeys:
        return {NO_KEY: (self.tr("cancel"), self.atm.end_session),
                "H": (self.tr("clear"), self._clear),
                YES_KEY: (self.tr("correct"), self._submit)}

    def body(self) -> Iterable[Widget]:
        if self.after_wrong_pin and self.atm.session:
            yield Static(f"[b]{self.tr('pin_wrong')}[/b]  "
                         f"{self.tr('tries_left', n=self.atm.session.tries_left)}",
                         id="pin-warning", classes="warning")
        yield Static(self.tr("enter_pin"), classes="title")
        yield Static(self._dots(), id="pin-dots", classes="big")
        yield Static(self.tr("pin_help"), id="pin-help", classes="note")
        yield Static(t("security_tip", self.language), classes="note")

    def _dots(self) -> str:
        return " ".join(self._entry.shown(mask="●"))

    def _clear(self) -> None:
        self._entry.clear()
        self._show_digits()

    def _show_digits(self) -> None:
        self.query_one("#pin-dots", Static).update(self._dots())
        help_line = self.query_one("#pin-help", Static)
        help_line.update(self.tr("pin_help"))
        help_line.set_class(False, "warning")

    def _submit(self) -> None:
        if not self._entry.full:
            help_line = self.query_one("#pin-help", Static)
            help_line.update(self.tr("pin_six_digits"))
            help_line.set_class(True, "warning")
            return
        self.atm.pin_entered(self._entry.take())

    def escape(self) -> None:
        self.atm.end_session()

    enter = _submit

    def customer_key(self, key: str, character: str | None) -> bool:
        if self._entry.edit(key, character):
            self._show_digits()
            return True
        return super().customer_key(key, character)
