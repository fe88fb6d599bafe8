"""A keypad buffer: digits typed up to a length, Backspace takes one back.

Shared by PIN and KPJ entry. For the PIN it lives only while the PIN screen is shown and is
emptied as soon as the PIN pad has the digits.
"""

from __future__ import annotations

__all__ = ["DigitEntry"]


class DigitEntry:
    def __init__(self, length: int, typed: str = "") -> None:
        self.length = length
        self._digits = list(typed[:length])

    def __repr__(self) -> str:  # never shows what was typed
        return f"<DigitEntry {len(self._digits)}/{self.length}>"

    def __len__(self) -> int:
        return len(self._digits)

    @property
    def full(self) -> bool:
        return len(self._digits) == self.length

    def add(self, digit: str) -> None:
        """One digit more; ignored once the entry is full (as a keypad does).

        >>> entry = DigitEntry(3)
        >>> for digit in "1234":
        ...     entry.add(digit)
        >>> entry.take()
        '123'
        """
        if len(digit) == 1 and digit.isdigit() and len(self._digits) < self.length:
            self._digits.append(digit)

    def erase(self) -> None:
        """Backspace: the last digit goes (nothing happens on an empty entry)."""
        if self._digits:
            self._digits.pop()

    def clear(self) -> None:
        self._digits.clear()

    def take(self) -> str:
        """The digits typed, and the buffer emptied."""
        value = "".join(self._digits)
        self._digits.clear()
        return value

    def shown(self, mask: str | None = None, blank: str = "_") -> list[str]:
        """One character per position: the digit (or ``mask``), then ``blank``s."""
        typed = [mask or d for d in self._digits]
        return typed + [blank] * (self.length - len(typed))
