"""One cardholder's session at the ATM: from card in to card out.

Holds the card read, the language, the encrypted PIN block (the clear PIN never outlives
the PIN pad), the wrong-PIN count shown as tries left, and the last result. The session is
dropped when the card leaves the ATM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from terminal_ui.device.transactions import CardData, InquiryResult

__all__ = ["AtmSession", "PIN_TRIES", "ReceiptData"]

PIN_TRIES = 3  # BNI blocks a card at the third wrong PIN in a row


@dataclass
class ReceiptData:
    terminal_id: str
    stan: str
    rrn: str
    at: datetime
    masked_pan: str
    result: InquiryResult


@dataclass
class AtmSession:
    card: CardData
    language: str = "id"
    pin_block: str | None = field(default=None, repr=False)
    wrong_pins: int = 0
    kpj: str | None = None  # typed by the user; None: the KPJ linked to the card
    kpj_pending: bool = False  # an inquiry waits for a (re-entered) PIN
    result: InquiryResult | None = None
    receipt: ReceiptData | None = None

    @property
    def tries_left(self) -> int:
        return max(PIN_TRIES - self.wrong_pins, 0)

    def forget_pin(self) -> None:
        self.pin_block = None
