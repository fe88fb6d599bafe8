"""The end of a session: take your card (or it is kept), thank you, back to idle."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.screens.base import AtmScreen, SideKeys

__all__ = ["TakeCardScreen", "CardRetainedScreen", "ThankYouScreen"]


class TakeCardScreen(AtmScreen):
    """The card sticks out of the slot; not taken in time, the ATM pulls it back in."""

    waits_for_customer = False
    hint_key = "hint_take_card"

    def __init__(self, notice: str = "") -> None:
        super().__init__()
        self.notice = notice

    def side_keys(self) -> SideKeys:
        return {"I": ("⏏", self.atm.card_taken)}

    def body(self) -> Iterable[Widget]:
        if self.notice:
            yield Static(self.notice, classes="warning")
        yield Static(f"[b]{self.tr('take_card')}[/b]", id="take-card", classes="big")
        yield Static(self.tr("take_card_key"), classes="note")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(self.atm.config.take_card_timeout, self.atm.card_not_taken)

    def customer_key(self, key: str, character: str | None) -> bool:
        if key in ("enter", "space"):
            self.atm.card_taken()
            return True
        return False


class CardRetainedScreen(AtmScreen):
    waits_for_customer = False
    hint_key = "hint_enter_continue"

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason

    def body(self) -> Iterable[Widget]:
        if self.reason:
            yield Static(self.reason, classes="warning")
        yield Static(f"[b]{self.tr('card_retained')}[/b]", id="card-retained", classes="big")
        yield Static(self.tr("card_retained_help"), classes="note")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(self.atm.config.message_time, self.atm.to_idle)

    def customer_key(self, key: str, character: str | None) -> bool:
        if key == "enter":
            self.atm.to_idle()
            return True
        return False


class ThankYouScreen(AtmScreen):
    waits_for_customer = False

    def body(self) -> Iterable[Widget]:
        yield Static(f"[b]{self.tr('thank_you')}[/b]", classes="big")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(self.atm.config.message_time, self.atm.to_idle)

    def customer_key(self, key: str, character: str | None) -> bool:
        self.atm.to_idle()
        return True
