""""Do you need more time?": a countdown over the screen the customer left idle."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from terminal_ui.device.i18n import t
from terminal_ui.screens.base import TooSmallNotice
from terminal_ui.widgets.side_key import NO_KEY, YES_KEY

__all__ = ["MoreTimeScreen"]


class MoreTimeScreen(ModalScreen[bool]):
    """Dismissed with True for "yes"; False for "no" or when the countdown runs out.

    Yes and no sit where they do on every other screen: YA bottom right (I, Enter),
    TIDAK bottom left (D, Escape).
    """

    BINDINGS = [
        Binding(f"{YES_KEY.lower()},enter", "answer(True)", show=False),
        Binding(f"{NO_KEY.lower()},escape", "answer(False)", show=False),
    ]

    def __init__(self, seconds: int, language: str) -> None:
        super().__init__()
        self.remaining = seconds
        self.language = language

    def compose(self) -> ComposeResult:
        with Vertical(id="more-time"):
            yield Static(f"[b]{t('more_time', self.language)}[/b]", classes="big")
            yield Static(self._countdown(), id="countdown", classes="note")
            yield Static(f"{NO_KEY} ▸ {t('no', self.language)}        "
                         f"{t('yes', self.language)} ◂ {YES_KEY}", id="more-time-keys",
                         classes="line")
        yield TooSmallNotice()

    def _countdown(self) -> str:
        return t("seconds_left", self.language, n=self.remaining)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.action_answer(False)
            return
        self.query_one("#countdown", Static).update(self._countdown())

    def on_key(self, event: events.Key) -> None:
        if getattr(self.app, "too_small", False):
            event.stop()  # the question is not visible: its keys do nothing

    def action_answer(self, more: bool) -> None:
        if self.is_current:  # once: the countdown may end as a key answers
            self.dismiss(more)
