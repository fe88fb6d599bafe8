"""The footer line: the keys a screen offers, rendered from its ``BINDINGS``.

Each shown binding gives ``<key_display> <description>``, the description being an i18n
key (terminal_ui/device/i18n.py) so the footer follows the session's language. Before a
language is chosen the footer is bilingual: ``batal/cancel``, or one word where both
languages use it (``PIN``, ``wire``).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widgets import Static

from terminal_ui.device.i18n import t

__all__ = ["KeyFooter", "footer_text"]


def _words(key: str, language: str, bilingual: bool) -> str:
    if not bilingual:
        return t(key, language)
    indonesian, english = t(key, "id"), t(key, "en")
    return indonesian if indonesian == english else f"{indonesian}/{english}"


def footer_text(bindings: Iterable[Binding], language: str, *, bilingual: bool = False) -> str:
    """The footer for ``bindings`` (the shown ones, in order); a blank for none.

    >>> footer_text([Binding("enter,i", "yes", "yes", key_display="I/Enter"),
    ...              Binding("d,escape", "no", "no", key_display="D/Esc")], "en")
    'I/Enter YES · D/Esc NO'
    >>> footer_text([Binding("escape", "cancel", "key_cancel", key_display="Esc")], "id",
    ...             bilingual=True)
    'Esc batal/cancel'
    """
    parts = [f"{b.key_display or b.key} {_words(b.description, language, bilingual)}"
             for b in bindings if b.show]
    return " · ".join(parts) or " "  # a blank line keeps the footer's height and colour


class KeyFooter(Static):
    def __init__(self, bindings: Iterable[Binding], language: str, *, bilingual: bool) -> None:
        super().__init__(footer_text(bindings, language, bilingual=bilingual), id="hints")
