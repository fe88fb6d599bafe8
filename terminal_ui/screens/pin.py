"""Language choice and PIN entry: the first two things a cardholder does."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.i18n import t
from terminal_ui.screens.base import AtmScreen, SideKeys

__all__ = ["LanguageScreen", "PinScreen", "PIN_LENGTH"]

PIN_LENGTH = 6  # BNI PINs have six digits


class LanguageScreen(AtmScreen):
    hint = "A Indonesia · F English · Esc cancel"

    def side_keys(self) -> SideKeys:
        return {"A": (t("lang_id", "id"), lambda: self.atm.choose_language("id")),
                "F": (t("lang_en", "en"), lambda: self.atm.choose_language("en"))}

    def body(self) -> Iterable[Widget]:
        yield Static(f"{t('choose_language', 'id')}\n[i]{t('choose_language', 'en')}[/i]",
                     classes="title")

    def customer_key(self, key: str, character: str | None) -> bool:
        if key == "escape":
            self.atm.end_session()
            return True
        return False


class PinScreen(AtmScreen):
    """Up to six digits shown as dots; the digits go to the PIN pad, never anywhere else."""

    def __init__(self, *, after_wrong_pin: bool = False) -> None:
        super().__init__()
        self.after_wrong_pin = after_wrong_pin
        self._digits: list[str] = []

    @property
    def hint(self) -> str:  # type: ignore[override]
        return "0-9 PIN · Backspace clear · Enter correct · Esc cancel"

    def side_keys(self) -> SideKeys:
        return {"D": (self.tr("clear"), self._clear),
                "H": (self.tr("cancel"), self.atm.end_session),
                "I": (self.tr("correct"), self._submit)}

    def body(self) -> Iterable[Widget]:
        if self.after_wrong_pin and self.atm.session:
            yield Static(f"[b]{self.tr('pin_wrong')}[/b]  "
                         f"{self.tr('tries_left', n=self.atm.session.tries_left)}",
                         id="pin-warning", classes="warning")
        yield Static(self.tr("enter_pin"), classes="title")
        yield Static(self._dots(), id="pin-dots", classes="big")
        yield Static(self.tr("pin_help"), classes="note")
        yield Static(t("security_tip", self.language), classes="note")

    def _dots(self) -> str:
        return " ".join(["●"] * len(self._digits) + ["_"] * (PIN_LENGTH - len(self._digits)))

    def _show(self) -> None:
        self.query_one("#pin-dots", Static).update(self._dots())

    def _clear(self) -> None:
        self._digits.clear()
        self._show()

    def _submit(self) -> None:
        if len(self._digits) < 4:
            return
        pin = "".join(self._digits)
        self._digits.clear()
        self.atm.pin_entered(pin)

    def customer_key(self, key: str, character: str | None) -> bool:
        if character and character.isdigit() and len(character) == 1:
            if len(self._digits) < PIN_LENGTH:
                self._digits.append(character)
                self._show()
            return True
        if key == "backspace":
            if self._digits:
                self._digits.pop()
                self._show()
            return True
        if key == "enter":
            self._submit()
            return True
        if key == "escape":
            self.atm.end_session()
            return True
        return False
