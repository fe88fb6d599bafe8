"""What a screen tells the app: the customer did something, or a screen's time ran out.

Screens only post these; the app asks ``terminal_ui.flow`` what follows and shows it. The
inquiry worker posts :class:`InquiryAnswered` the same way (the harlequin pattern: network
results reach the UI as messages).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from atmsim.kernel.wire import IsoMessage
from terminal_ui.device.transactions import CardData, InquiryResult
from terminal_ui.flow import InquiryNext, MenuItem, State

if TYPE_CHECKING:
    from terminal_ui.screens.base import AtmScreen

__all__ = ["CardInserted", "LanguageChosen", "PinEntered", "MenuChosen", "KpjChosen",
           "KpjTyped", "SessionCancelled", "ReceiptSaved", "CardTaken", "TimedOut",
           "CustomerIdle", "ConnectionChanged", "InquiryAnswered"]


class CardInserted(Message):
    def __init__(self, card: CardData) -> None:
        super().__init__()
        self.card = card


class LanguageChosen(Message):
    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language


class PinEntered(Message):
    """The six digits, on their way to the PIN pad; never shown in a repr or log."""

    def __init__(self, pin: str) -> None:
        super().__init__()
        self._pin = pin

    def take_pin(self) -> str:
        """The digits, once: the message forgets them."""
        pin, self._pin = self._pin, ""
        return pin


class MenuChosen(Message):
    def __init__(self, here: State, item: MenuItem) -> None:
        super().__init__()
        self.here = here
        self.item = item


class KpjChosen(Message):
    """Check this KPJ (None: the one linked to the card)."""

    def __init__(self, kpj: str | None) -> None:
        super().__init__()
        self.kpj = kpj


class KpjTyped(Message):
    """Eleven digits typed; the customer still has to confirm them."""

    def __init__(self, kpj: str) -> None:
        super().__init__()
        self.kpj = kpj


class SessionCancelled(Message):
    """BATAL / Escape where it ends the session: the card comes back."""


class ReceiptSaved(Message):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class CardTaken(Message):
    pass


class TimedOut(Message):
    """A screen waited as long as it waits: the card was not taken, or a message has
    been shown long enough."""

    def __init__(self, here: State) -> None:
        super().__init__()
        self.here = here


class CustomerIdle(Message):
    """No key for the idle timeout on ``screen``, which waits for the customer; its idle
    timer restarts if the customer wants more time."""

    def __init__(self, screen: AtmScreen[Any]) -> None:
        super().__init__()
        self.screen = screen


class ConnectionChanged(Message):
    """The app's ``connected`` changed while a screen that depends on it was shown."""

    def __init__(self, here: State, connected: bool) -> None:
        super().__init__()
        self.here = here
        self.connected = connected


class InquiryAnswered(Message):
    """The inquiry worker is done: what the flow says follows, and for an answer the
    result and the 0200 it answers (the receipt prints its fields 11, 37 and time)."""

    def __init__(self, next_: InquiryNext, result: InquiryResult | None = None,
                 request: IsoMessage | None = None, sent_at: datetime | None = None) -> None:
        super().__init__()
        self.next = next_
        self.result = result
        self.request = request
        self.sent_at = sent_at
