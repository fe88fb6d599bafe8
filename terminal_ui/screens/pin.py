"""Language choice and PIN entry: the first two things a cardholder does."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.device.i18n import t
from terminal_ui.digit_entry import DigitEntry
from terminal_ui.flow import State
from terminal_ui.screens.base import AtmScreen, KeypadScreen, keypad_bindings
from terminal_ui.screens.messages import LanguageChosen, PinEntered, SessionCancelled

__all__ = ["LanguageScreen", "PinScreen", "PIN_LENGTH"]

PIN_LENGTH = 6  # BNI PINs have six digits


class LanguageScreen(AtmScreen[None]):
    state = State.LANGUAGE
    bilingual = True
    BINDINGS = [
        Binding("a", "choose('id')", "key_lang_id", key_display="A"),
        Binding("f", "choose('en')", "key_lang_en", key_display="F"),
        Binding("escape", "cancel", "key_cancel", key_display="Esc"),
    ]

    def side_labels(self) -> dict[str, str]:
        return {"A": t("lang_id", "id"), "F": t("lang_en", "en")}

    def body(self) -> Iterable[Widget]:
        yield Static(f"{t('choose_language', 'id')}\n[i]{t('choose_language', 'en')}[/i]",
                     classes="title")

    def action_choose(self, language: str) -> None:
        self.post_message(LanguageChosen(language))

    def action_cancel(self) -> None:
        self.post_message(SessionCancelled())


class PinScreen(KeypadScreen):
    """Six digits shown as dots; the digits go to the PIN pad, never anywhere else.

    BENAR before the sixth digit is refused with a hint and nothing is sent: a short PIN
    would only cost the cardholder one of the three tries.
    """

    state = State.PIN
    BINDINGS = keypad_bindings("key_pin")

    def __init__(self, *, after_wrong_pin: bool = False) -> None:
        super().__init__(DigitEntry(PIN_LENGTH))
        self.after_wrong_pin = after_wrong_pin

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

    def show_digits(self) -> None:
        self.query_one("#pin-dots", Static).update(self._dots())
        help_line = self.query_one("#pin-help", Static)
        help_line.update(self.tr("pin_help"))
        help_line.set_class(False, "warning")

    def action_submit(self) -> None:
        if not self._entry.full:
            help_line = self.query_one("#pin-help", Static)
            help_line.update(self.tr("pin_six_digits"))
            help_line.set_class(True, "warning")
            return
        self.post_message(PinEntered(self._entry.take()))

    def action_cancel(self) -> None:
        self.post_message(SessionCancelled())
