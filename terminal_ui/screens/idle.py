"""Before a card is in: the attract screen, another card typed in, out of service."""

from __future__ import annotations

from collections.abc import Iterable

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from atmsim.kernel.masking import mask_pan
from terminal_ui.device.i18n import t
from terminal_ui.device.transactions import CardData
from terminal_ui.screens.base import AtmScreen

__all__ = ["IdleScreen", "CardEntryScreen", "OfflineScreen"]


class IdleScreen(AtmScreen):
    """The attract screen; a digit inserts one of the demo cards, 0 another card."""

    waits_for_customer = False
    hint_key = "hint_idle"

    def body(self) -> Iterable[Widget]:
        yield Static(f"{t('welcome', 'id')}\n[i]{t('welcome', 'en')}[/i]", classes="title")
        yield Static(f"[b]{t('insert_card', 'id')}[/b]\n[i]{t('insert_card', 'en')}[/i]",
                     classes="big")
        cards = self.atm.config.cards
        lines = [f"[b]{n}[/b]  {mask_pan(card.pan)}  {card.holder}"
                 for n, card in enumerate(cards, start=1)]
        lines.append(f"[b]0[/b]  {t('other_card', 'id')} / {t('other_card', 'en')}")
        yield Static("\n".join(lines), id="card-list", classes="line")
        yield Static(t("security_tip", "id"), classes="note")

    def customer_key(self, key: str, character: str | None) -> bool:
        cards = self.atm.config.cards
        if character and character.isdigit():
            number = int(character)
            if number == 0:
                self.atm.switch_screen(CardEntryScreen())
            elif number <= len(cards):
                card = cards[number - 1]
                self.atm.insert_card(CardData(card.pan, card.expiry, card.track2))
            return True
        return False


class CardEntryScreen(AtmScreen):
    """Another card: PAN and expiry typed in, for switches other than ours."""

    hint_key = "hint_card_entry"

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("other_card"), classes="title")
        with Horizontal(classes="field-row"):
            yield Label(f"{t('pan', 'id')}: ", classes="field-label")
            yield Input(placeholder="5264220000100010", max_length=19, restrict=r"[0-9]*",
                        id="pan")
        with Horizontal(classes="field-row"):
            yield Label(f"{t('expiry', 'id')}: ", classes="field-label")
            yield Input(placeholder="3012", max_length=4, restrict=r"[0-9]*", id="expiry")
        yield Static("", id="card-error", classes="note")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#pan", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        pan = self.query_one("#pan", Input).value
        expiry = self.query_one("#expiry", Input).value
        if event.input.id == "pan" and not expiry:
            self.query_one("#expiry", Input).focus()
            return
        if not (12 <= len(pan) <= 19) or len(expiry) != 4:
            self.query_one("#card-error", Static).update(t("bad_card", "id"))
            return
        self.atm.insert_card(CardData(pan, expiry, f"{pan}={expiry}101"))

    def customer_key(self, key: str, character: str | None) -> bool:
        if key == "escape":
            self.atm.switch_screen(IdleScreen())
            return True
        return False


class OfflineScreen(AtmScreen):
    """Out of service while the ATM has no connection to its host; it keeps trying."""

    waits_for_customer = False
    hint_key = "hint_offline"

    def body(self) -> Iterable[Widget]:
        host = f"{self.atm.config.host}:{self.atm.config.port}"
        yield Static(f"[b]{t('offline', 'id')}[/b]\n[i]{t('offline', 'en')}[/i]",
                     classes="big")
        yield Static(t("reconnecting", "id", host=host), id="offline-detail", classes="note")
