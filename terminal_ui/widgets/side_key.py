"""A function key beside the ATM display (A-D on the left, F-I on the right).

It shows its letter, so a keyboard user knows which key presses it; a mouse user clicks it.
A key with no label is inactive, as on a real ATM where unused keys do nothing.

One convention on every screen that asks yes or no (more time?, KPJ correct?, receipt?,
another transaction?, and BENAR/BATAL of PIN and KPJ entry): the affirmative is the
bottom right key (``YES_KEY``, I) and the negative the bottom left key (``NO_KEY``, D);
Enter means yes and Escape no.
"""

from __future__ import annotations

from textual.widgets import Button

__all__ = ["SideKey", "LEFT_KEYS", "RIGHT_KEYS", "YES_KEY", "NO_KEY"]

LEFT_KEYS = ("A", "B", "C", "D")
RIGHT_KEYS = ("F", "G", "H", "I")
YES_KEY = "I"  # bottom right: YA / BENAR / CETAK STRUK
NO_KEY = "D"  # bottom left: TIDAK / SALAH / BATAL


class SideKey(Button):
    def __init__(self, letter: str, label: str) -> None:
        self.letter = letter
        text = ""
        if label:
            text = f"{letter} ▸ {label}" if letter in LEFT_KEYS else f"{label} ◂ {letter}"
        super().__init__(text, id=f"key-{letter.lower()}", classes="side-key",
                         disabled=not label)
        self.can_focus = False
