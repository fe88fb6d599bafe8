"""What each inquiry of a load run asks: which card, the right or a wrong PIN, which KPJ.

The mix has a share of wrong PINs and a share of unknown KPJs; the rest are ordinary
inquiries with the right PIN. Wrong PINs are dangerous for the run itself: the switch
blocks a card at its third wrong PIN in a row (75), and every later inquiry with that card
would then fail. ``PinTryGuard`` keeps an exact account of each card's counter at the
switch and sends a wrong PIN only when it cannot reach the limit:

- a wrong PIN goes only to a card with nothing else in flight, so the order in which the
  switch sees that card's inquiries is the order of their answers;
- a right PIN resets the count when its answer proves the PIN was verified (00, 25, 57),
  unless a wrong PIN was in flight when it was sent (the switch may have seen them in
  either order);
- a card's count starts as unknown (one below the limit) until a verified right PIN
  resets it, so cards that earlier traffic left with wrong PINs are not pushed over.

When no card may take a wrong PIN at that moment, the wrong PIN is owed and sent with a
later inquiry; what is still owed at the end is reported, not hidden. A 75 that happens
anyway (a card blocked by someone else) is reported as it is.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from atmsim.shell.load.cards import UNKNOWN_KPJ, LoadCard, wrong_pin_for
from terminal_ui.device.pinpad import PinPad

__all__ = ["InquiryKind", "MixSettings", "PlannedInquiry", "PinTryGuard", "InquiryPlanner"]

# Answers that prove the PIN was verified (the switch then resets the card's counter).
_PIN_VERIFIED = frozenset({"00", "25", "57"})
# Declines given before the PIN is looked at: a wrong PIN with these was not counted.
_DECLINED_BEFORE_PIN = frozenset({"12", "14", "30", "54", "58", "62", "91", "94"})
_WRONG_PIN, _TRIES_EXCEEDED = "55", "75"
_SCAN_LIMIT = 32  # cards looked at to place an owed wrong PIN: bounded work per inquiry


class InquiryKind(StrEnum):
    RIGHT_PIN = "right PIN"
    WRONG_PIN = "wrong PIN"
    UNKNOWN_KPJ = "unknown KPJ"


@dataclass(frozen=True)
class MixSettings:
    wrong_pin_share: float = 0.0  # of all inquiries, 0..1
    unknown_kpj_share: float = 0.0
    pin_tries: int = 3  # the switch's limit (switch.pin_tries)

    def __post_init__(self) -> None:
        for name in ("wrong_pin_share", "unknown_kpj_share"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name.replace('_', ' ')} must be between 0 and 1")
        if self.wrong_pin_share + self.unknown_kpj_share > 1.0:
            raise ValueError("wrong PIN and unknown KPJ shares add up to more than 1")
        if self.pin_tries < 1:
            raise ValueError("pin tries must be at least 1")


@dataclass(frozen=True, slots=True)
class PlannedInquiry:
    card_index: int
    kind: InquiryKind
    pin_block: str  # encrypted under the TPK; never printed
    kpj: str | None  # field 103
    proves_reset: bool  # its verified answer proves the card's counter is 0


class PinTryGuard:
    """Each card's consecutive wrong PINs as the switch counts them (see module doc)."""

    def __init__(self, card_count: int, limit: int,
                 wrong_pin_cards: Callable[[int], bool] | None = None) -> None:
        self.limit = limit
        # The cards this run may give wrong PINs (None: all); another load segment keeps
        # the count of the others (``atmsim.shell.load.segment``).
        self._may_wrong = [wrong_pin_cards is None or wrong_pin_cards(i)
                           for i in range(card_count)]
        self._streak = [limit - 1] * card_count  # unknown until a verified right PIN
        self._in_flight = [0] * card_count
        self._wrong_in_flight = [False] * card_count
        self._blocked = [False] * card_count
        self._wronged = [False] * card_count  # this run sent it a wrong PIN

    def may_take_wrong_pin(self, card: int) -> bool:
        return (self._may_wrong[card] and self._in_flight[card] == 0 and not self._blocked[card]
                and self._streak[card] + 1 < self.limit)

    def sent(self, card: int, wrong_pin: bool) -> bool:
        """Record a send; returns whether a verified answer to it proves a reset."""
        self._in_flight[card] += 1
        if wrong_pin:
            self._wrong_in_flight[card] = True
            self._wronged[card] = True
            return False
        return not self._wrong_in_flight[card]

    def answered(self, card: int, wrong_pin: bool, proves_reset: bool, code: str | None) -> None:
        """Record an answer (``code`` None: none came, so assume the worst)."""
        self._in_flight[card] -= 1
        if code == _TRIES_EXCEEDED:
            self._blocked[card] = True
            self._streak[card] = self.limit
        if wrong_pin:
            self._wrong_in_flight[card] = False
            if code not in _DECLINED_BEFORE_PIN and code != _TRIES_EXCEEDED:
                self._streak[card] += 1
        elif proves_reset and code in _PIN_VERIFIED:
            self._streak[card] = 0

    def owes_right_pin(self, card: int) -> bool:
        """True when wrong PINs this run sent may still count against the card."""
        return self._wronged[card] and not self._blocked[card] and self._streak[card] > 0

    def blocked(self) -> list[int]:
        """Cards answered 75 during the run."""
        return [i for i, b in enumerate(self._blocked) if b]


class InquiryPlanner:
    """Chooses each inquiry of the run, reproducibly for a given seed."""

    def __init__(self, cards: Sequence[LoadCard], mix: MixSettings, pinpad: PinPad,
                 seed: int | None = None, *,
                 wrong_pin_cards: Callable[[int], bool] | None = None) -> None:
        if not cards:
            raise ValueError("no cards to send")
        self.cards = list(cards)
        self.mix = mix
        self.guard = PinTryGuard(len(self.cards), mix.pin_tries, wrong_pin_cards)
        # PIN blocks depend only on PIN and PAN (ISO 9564 format 0): encrypt each once.
        self._right = [pinpad.encrypt_pin(c.pin, c.pan) for c in self.cards]
        self._wrong = [pinpad.encrypt_pin(wrong_pin_for(c.pin), c.pan) for c in self.cards]
        self._rng = random.Random(seed)
        self._owed_wrong = 0
        self.planned = dict.fromkeys(InquiryKind, 0)

    @property
    def owed_wrong_pins(self) -> int:
        """Wrong PINs the mix asked for that no card could safely take yet."""
        return self._owed_wrong

    def next(self) -> PlannedInquiry:
        rng, mix = self._rng, self.mix
        index = rng.randrange(len(self.cards))
        draw = rng.random()
        kind = InquiryKind.RIGHT_PIN
        if draw < mix.wrong_pin_share:
            self._owed_wrong += 1
        elif draw < mix.wrong_pin_share + mix.unknown_kpj_share:
            kind = InquiryKind.UNKNOWN_KPJ
        if kind is InquiryKind.RIGHT_PIN and self._owed_wrong:
            target = self._card_for_wrong_pin(index)
            if target is not None:
                index, kind = target, InquiryKind.WRONG_PIN
                self._owed_wrong -= 1
        return self._plan(index, kind)

    def right_pin(self, index: int) -> PlannedInquiry:
        """An ordinary inquiry with card ``index`` (used to leave cards as found)."""
        return self._plan(index, InquiryKind.RIGHT_PIN)

    def answered(self, plan: PlannedInquiry, code: str | None) -> None:
        self.guard.answered(plan.card_index, plan.kind is InquiryKind.WRONG_PIN,
                            plan.proves_reset, code)

    def cards_to_settle(self) -> list[int]:
        """Cards this run gave wrong PINs that are not yet cancelled by a right one."""
        return [i for i in range(len(self.cards)) if self.guard.owes_right_pin(i)]

    def _card_for_wrong_pin(self, start: int) -> int | None:
        count = len(self.cards)
        for step in range(min(count, _SCAN_LIMIT)):
            candidate = (start + step) % count
            if self.guard.may_take_wrong_pin(candidate):
                return candidate
        return None

    def _plan(self, index: int, kind: InquiryKind) -> PlannedInquiry:
        card = self.cards[index]
        wrong = kind is InquiryKind.WRONG_PIN
        proves_reset = self.guard.sent(index, wrong)
        self.planned[kind] += 1
        kpj = UNKNOWN_KPJ if kind is InquiryKind.UNKNOWN_KPJ else card.typed_kpj
        return PlannedInquiry(index, kind, self._wrong[index] if wrong else self._right[index],
                              kpj, proves_reset)
