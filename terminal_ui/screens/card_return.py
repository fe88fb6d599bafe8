"""The end of a session: take your card (or it is kept), thank you, back to idle."""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.flow import State
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.messages import CardTaken, TimedOut
from terminal_ui.widgets.side_key import YES_KEY

__all__ = ["TakeCardScreen", "CardRetainedScreen", "ThankYouScreen"]


class TakeCardScreen(AtmScreen[None]):
    """The card sticks out of the slot; not taken in time, the ATM pulls it back in."""

    state = State.TAKE_CARD
    waits_for_customer = False
    BINDINGS = [Binding(f"enter,space,{YES_KEY.lower()}", "take_card", "key_take_card",
                        key_display="Enter")]

    def __init__(self, notice: str = "") -> None:
        super().__init__()
        self.notice = notice

    def side_labels(self) -> dict[str, str]:
        return {YES_KEY: "⏏"}

    def body(self) -> Iterable[Widget]:
        if self.notice:
            yield Static(self.notice, classes="warning")
        yield Static(f"[b]{self.tr('take_card')}[/b]", id="take-card", classes="big")
        yield Static(self.tr("take_card_key"), classes="note")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(self.atm.config.take_card_timeout,
                       lambda: self.post_message(TimedOut(self.state)))

    def action_take_card(self) -> None:
        self.post_message(CardTaken())


class CardRetainedScreen(AtmScreen[None]):
    """Dismissed after the message time, or on Enter."""

    state = State.CARD_RETAINED
    waits_for_customer = False
    BINDINGS = [Binding("enter", "answer(None)", "key_continue", key_display="Enter")]

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
        self.set_timer(self.atm.config.message_time, lambda: self.answer(None))



class ThankYouScreen(AtmScreen[None]):
    """Dismissed after the message time, or on any key (as a touch would)."""

    state = State.THANK_YOU
    waits_for_customer = False
    footer_app_keys = ("toggle_wire", "quit")

    def body(self) -> Iterable[Widget]:
        yield Static(f"[b]{self.tr('thank_you')}[/b]", classes="big")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(self.atm.config.message_time, lambda: self.answer(None))

    def on_key(self, event: events.Key) -> None:
        super().on_key(event)
        if not self.atm.too_small:
            event.stop()
            self.answer(None)
