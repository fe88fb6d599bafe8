"""One segment of a load run split over N processes or hosts, with no coordinator.

``atmsim load --segment I/N`` runs the I-th of N equal parts of the run its other flags
describe: the same command line, with I from 1 to N, on N hosts. Each part is chosen from
I and N alone, so that no two parts overlap whatever order they start in:

- the ATMs: ``--atms`` in all, segment I gets its block of consecutive terminal IDs
  (the first ones get one more when the ATMs do not divide evenly);
- the rate (``--rate``), the concurrency (``--concurrency``) and the count (``--count``)
  are split the same way, so the N segments together send what one run would;
- the STANs: 000001-999999 cut into N ranges, segment I's ATMs number in range I;
- the wrong PINs: only segment I sends wrong PINs to the cards whose place in the card
  list is I, I+N, I+2N...: each card's wrong-PIN count is kept by one segment alone, so
  N segments together still never block a card (``atmsim.shell.load.mix``).

``atmsim load merge`` (``atmsim.shell.load.merge``) adds up what they measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from atmsim.shell.errors import UserError

__all__ = ["Segment", "parse_segment", "WHOLE"]

_LAST_STAN = 999_999


@dataclass(frozen=True)
class Segment:
    """Segment ``number`` (1-based) of ``count``."""

    number: int = 1
    count: int = 1

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"

    @property
    def whole(self) -> bool:
        return self.count == 1

    def share(self, total: int) -> int:
        """This segment's part of ``total`` (ATMs, inquiries, concurrency).

        >>> [Segment(i, 3).share(10) for i in (1, 2, 3)]
        [4, 3, 3]
        """
        base, extra = divmod(total, self.count)
        return base + (1 if self.number <= extra else 0)

    def offset(self, total: int) -> int:
        """How many of ``total`` the segments before this one take.

        >>> [Segment(i, 3).offset(10) for i in (1, 2, 3)]
        [0, 4, 7]
        """
        base, extra = divmod(total, self.count)
        return base * (self.number - 1) + min(self.number - 1, extra)

    def stan_range(self) -> tuple[int, int]:
        """The first and last STAN this segment's ATMs use.

        >>> Segment(1, 2).stan_range(), Segment(2, 2).stan_range()
        ((1, 500000), (500001, 999999))
        """
        first = self.offset(_LAST_STAN) + 1
        return first, first + self.share(_LAST_STAN) - 1

    def owns_card(self, index: int) -> bool:
        """Whether this segment keeps the wrong-PIN count of card ``index`` (0-based).

        >>> [i for i in range(7) if Segment(2, 3).owns_card(i)]
        [1, 4]
        """
        return index % self.count == self.number - 1


WHOLE = Segment()


def parse_segment(text: str) -> Segment:
    """``I/N`` as typed after ``--segment``; ``UserError`` (one line) if it is not one.

    >>> parse_segment("2/3")
    Segment(number=2, count=3)
    >>> parse_segment("4/3")
    Traceback (most recent call last):
    atmsim.shell.errors.UserError: --segment 4/3: I must be between 1 and N (3)
    """
    number, slash, count = text.strip().partition("/")
    if not (slash and number.isdigit() and count.isdigit()):
        raise UserError(f"--segment {text!r}: expected I/N, e.g. 1/4 (segment 1 of 4)")
    i, n = int(number), int(count)
    if n < 1:
        raise UserError(f"--segment {text}: N must be at least 1")
    if not 1 <= i <= n:
        raise UserError(f"--segment {text}: I must be between 1 and N ({n})")
    if n > _LAST_STAN:
        raise UserError(f"--segment {text}: at most {_LAST_STAN} segments (one STAN each)")
    return Segment(i, n)
