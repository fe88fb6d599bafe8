"""The cards a load run uses: the demo cards of docs/demo-data.md and seeded cards from a file.

A ``LoadCard`` is what a virtual ATM needs to play one cardholder: PAN, PIN, expiry and,
for a card that is not linked to a KPJ, the KPJ its holder types. Card sources are plain
functions returning a list of them, so a new source (the ledger's seeded participants)
plugs in without touching the generator: ``read_card_file`` reads the CSV layout that
``atmsim ledger seed`` is expected to write::

    pan,pin,expiry,kpj
    5264220000100010,123456,3012,
    5264220000100036,112233,3012,13055500011

The PINs are test data. They live only in memory here and are never printed or logged:
``LoadCard.__repr__`` hides them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_CARDS

__all__ = ["LoadCard", "CardFileError", "demo_cards", "read_card_file", "parse_card_rows",
           "distinct", "wrong_pin_for", "UNKNOWN_KPJ"]

# An 11-digit KPJ that no participant holds (the ledger answers NOT_FOUND, the ATM 25).
# Demo KPJs start 09..14; the seeder is expected to keep to real-looking prefixes.
UNKNOWN_KPJ = "99999999990"

# The demo card whose holder must type a KPJ (it is not linked), and the KPJ he types.
_DEMO_TYPED_KPJ = {"5264220000100036": "13055500011"}


class CardFileError(ValueError):
    """A card file that cannot be used; the message names the file, line and column."""


@dataclass(frozen=True)
class LoadCard:
    pan: str
    pin: str
    expiry: str = "3012"
    typed_kpj: str | None = None  # field 103 on every inquiry with this card, if set

    @property
    def track2(self) -> str:
        """Track 2 as the card reader gives it: PAN, ``=``, expiry, service code 101."""
        return f"{self.pan}={self.expiry}101"

    def __repr__(self) -> str:  # the PIN stays out of logs and tracebacks
        return f"<LoadCard {self.pan[:6]}******{self.pan[-4:]}>"


def demo_cards() -> list[LoadCard]:
    """The six demo cards of docs/demo-data.md; Andi types his own KPJ as the demo script does."""
    return [LoadCard(c.pan, c.pin, c.expiry, _DEMO_TYPED_KPJ.get(c.pan)) for c in DEMO_CARDS]


def wrong_pin_for(pin: str) -> str:
    """A PIN of the same length that is certainly not ``pin``: every digit plus one.

    >>> wrong_pin_for("123456")
    '234567'
    >>> wrong_pin_for("999111")
    '000222'
    """
    return "".join(str((int(d) + 1) % 10) for d in pin)


def read_card_file(path: Path) -> list[LoadCard]:
    """Cards from a CSV file with a header: ``pan,pin`` and optionally ``expiry``, ``kpj``."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return parse_card_rows(csv.DictReader(fh), str(path))
    except OSError as exc:
        raise CardFileError(f"cannot read card file {path}: {exc.strerror}") from None
    except csv.Error as exc:
        raise CardFileError(f"card file {path}: {exc}") from None


def parse_card_rows(rows: Iterable[dict[str, str | None]], origin: str) -> list[LoadCard]:
    """Check and convert CSV rows; the first bad value stops with a located error."""
    cards: list[LoadCard] = []
    for line, row in enumerate(rows, start=2):
        def value(column: str, row: dict[str, str | None] = row) -> str:
            return (row.get(column) or "").strip()

        pan, pin = value("pan"), value("pin")
        expiry, kpj = value("expiry") or "3012", value("kpj")
        where = f"{origin} line {line}"
        if not (pan.isdigit() and 12 <= len(pan) <= 19):
            raise CardFileError(f"{where}: pan must be 12 to 19 digits")
        if not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise CardFileError(f"{where}: pin must be 4 to 12 digits")
        if not (expiry.isdigit() and len(expiry) == 4):
            raise CardFileError(f"{where}: expiry must be YYMM")
        if kpj and not (kpj.isdigit() and len(kpj) == 11):
            raise CardFileError(f"{where}: kpj must be 11 digits or empty")
        cards.append(LoadCard(pan, pin, expiry, kpj or None))
    if not cards:
        raise CardFileError(f"{origin}: no cards (expected a header pan,pin[,expiry][,kpj])")
    return cards


def distinct(cards: Sequence[LoadCard]) -> list[LoadCard]:
    """The cards with repeated PANs dropped (the first one wins)."""
    seen: set[str] = set()
    kept = []
    for card in cards:
        if card.pan not in seen:
            seen.add(card.pan)
            kept.append(card)
    return kept
