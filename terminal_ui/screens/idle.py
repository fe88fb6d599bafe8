"""Before a card is in: the attract screen, another card typed in, out of service.

These screens follow the app's ``connected``: without a link to the switch the ATM is
out of service, and back in service when the link is up again (``flow`` decides).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from atmsim.kernel.masking import mask_pan
from terminal_ui.device.i18n import t
from terminal_ui.device.transactions import CardData
from terminal_ui.flow import MenuItem, State
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.messages import CardInserted, MenuChosen

__all__ = ["IdleScreen", "CardEntryScreen", "OfflineScreen"]


class IdleScreen(AtmScreen[None]):
    """The attract screen; a digit inserts one of the demo cards, 0 another card."""

    state = State.IDLE
    waits_for_customer = False
    bilingual = True
    follows_connection = True
    footer_app_keys = ("toggle_wire", "quit")
    BINDINGS = [
        *(Binding(str(n), f"insert_card({n})", "key_cards", key_display="1-9", show=n == 1)
          for n in range(1, 10)),
        Binding("0", "other_card", "key_other_card", key_display="0"),
    ]

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

    def action_insert_card(self, number: int) -> None:
        cards = self.atm.config.cards
        if number <= len(cards):  # the keys past the last demo card do nothing
            card = cards[number - 1]
            self.post_message(CardInserted(CardData(card.pan, card.expiry, card.track2)))

    def action_other_card(self) -> None:
        self.post_message(MenuChosen(self.state, MenuItem.OTHER_CARD))


class CardEntryScreen(AtmScreen[None]):
    """Another card: PAN and expiry typed in, for switches other than ours."""

    state = State.CARD_ENTRY
    bilingual = True
    follows_connection = True
    # Enter while a field has the focus reaches the field (Input.Submitted), not this.
    BINDINGS = [
        Binding("enter", "insert_card", "key_insert_card", key_display="Enter"),
        Binding("escape", "back", "key_back", key_display="Esc"),
    ]

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
        if event.input.id == "pan" and not self.query_one("#expiry", Input).value:
            self.query_one("#expiry", Input).focus()
            return
        self.action_insert_card()

    def action_insert_card(self) -> None:
        pan = self.query_one("#pan", Input).value
        expiry = self.query_one("#expiry", Input).value
        if not (12 <= len(pan) <= 19) or len(expiry) != 4:
            self.query_one("#card-error", Static).update(t("bad_card", "id"))
            return
        self.post_message(CardInserted(CardData(pan, expiry, f"{pan}={expiry}101")))

    def action_back(self) -> None:
        self.post_message(MenuChosen(self.state, MenuItem.BACK))


class OfflineScreen(AtmScreen[None]):
    """Out of service while the ATM has no connection to its host; it keeps trying."""

    state = State.OFFLINE
    waits_for_customer = False
    bilingual = True
    follows_connection = True
    footer_app_keys = ("toggle_wire", "quit")

    def body(self) -> Iterable[Widget]:
        host = f"{self.atm.config.host}:{self.atm.config.port}"
        yield Static(f"[b]{t('offline', 'id')}[/b]\n[i]{t('offline', 'en')}[/i]",
                     classes="big")
        yield Static(t("reconnecting", "id", host=host), id="offline-detail", classes="note")
