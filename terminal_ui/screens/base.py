"""What every ATM screen shares: the frame, the side keys, inactivity and the wire panel.

A screen says which side keys it offers (``side_keys``) and what it shows (``body``);
typed keys that are not side keys go to ``customer_key``. Screens that wait for the
customer ask "do you need more time?" after the configured idle time.

Every screen also carries the terminal's clock (its own time zone, WIB in Jakarta), a
footer of key hints in the session's language (``hint_key`` in the i18n table), and the
notice shown instead of the screen while the window is smaller than 80x24.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Static

from terminal_ui.device.clock import zone_label
from terminal_ui.device.i18n import t
from terminal_ui.widgets.side_key import LEFT_KEYS, RIGHT_KEYS, SideKey
from terminal_ui.widgets.wire_panel import WirePanel

if TYPE_CHECKING:
    from terminal_ui.app import AtmApp

__all__ = ["AtmScreen", "SideKeys", "TooSmallNotice", "clock_text"]

SideKeys = dict[str, tuple[str, Callable[[], object]]]


def clock_text(moment: datetime) -> str:
    """The screen clock: ``01/12/2026 09:30 WIB``."""
    return f"{moment:%d/%m/%Y %H:%M} {zone_label(moment)}"


class TooSmallNotice(Static):
    """Shown instead of the ATM (by CSS) while the terminal is smaller than 80x24."""

    def __init__(self) -> None:
        super().__init__(id="too-small")

    def on_mount(self) -> None:
        self.show_size()

    def show_size(self) -> None:
        from terminal_ui.app import MIN_SIZE, AtmApp

        width, height = MIN_SIZE
        app = self.app
        now = app.window_size if isinstance(app, AtmApp) else app.size
        self.update(f"[b]{t('too_small', 'id', w=width, h=height)}[/b]\n"
                    f"[i]{t('too_small', 'en', w=width, h=height)}[/i]\n\n"
                    f"({now.width}×{now.height})")  # noqa: RUF001


class AtmScreen(Screen[None]):
    waits_for_customer = True  # ask for more time after the idle timeout
    hint_key = "hint_default"  # the footer: an i18n key, in the session's language

    @property
    def atm(self) -> AtmApp:
        return self.app  # type: ignore[return-value]

    @property
    def language(self) -> str:
        session = self.atm.session
        return session.language if session else "id"

    def tr(self, key: str, **values: object) -> str:
        return t(key, self.language, **values)

    # -- what a screen defines --------------------------------------------------------

    def side_keys(self) -> SideKeys:
        return {}

    def body(self) -> Iterable[Widget]:
        return ()

    def customer_key(self, key: str, character: str | None) -> bool:
        """A key that is not a side key; True when the screen used it.

        By default Escape means "cancel" (``escape``) and Enter "confirm" (``enter``),
        for the screens that define them.
        """
        if key == "escape" and self.escape is not None:
            self.escape()
            return True
        if key == "enter" and self.enter is not None:
            self.enter()
            return True
        return False

    # Escape and Enter: None where the screen ignores them.
    escape: Callable[[], object] | None = None
    enter: Callable[[], object] | None = None

    # -- the frame ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        keys = self.side_keys()
        with Horizontal(id="brand-bar"):
            yield Static("[b]BNI[/b]", id="brand")
            yield Static(clock_text(self.atm.local_now()), id="clock")
            yield Static(self.atm.config.terminal_id, id="terminal-id")
        with Horizontal(id="frame"):
            with Vertical(classes="keys", id="left-keys"):
                for letter in LEFT_KEYS:
                    yield SideKey(letter, keys[letter][0] if letter in keys else "")
            with Vertical(id="display"):
                yield from self.body()
            with Vertical(classes="keys", id="right-keys"):
                for letter in RIGHT_KEYS:
                    yield SideKey(letter, keys[letter][0] if letter in keys else "")
        yield Static(self.tr(self.hint_key), id="hints")
        yield WirePanel()
        yield TooSmallNotice()

    def on_mount(self) -> None:
        self._idle_timer: Timer | None = None
        self._reset_idle()
        self.refresh_wire_panel()
        self.set_interval(1.0, self._tick_clock)

    def _tick_clock(self) -> None:
        self.query_one("#clock", Static).update(clock_text(self.atm.local_now()))

    def refresh_wire_panel(self) -> None:
        panel = self.query_one(WirePanel)
        panel.display = self.atm.wire_visible
        if self.atm.wire_visible:
            panel.show(self.atm.last_exchange, self.language)

    def _reset_idle(self) -> None:
        """(Re)start the inactivity timer: a one-shot timer that has fired cannot be reset."""
        if not self.waits_for_customer or self.atm.config.idle_timeout <= 0:
            return
        if self._idle_timer is not None:
            self._idle_timer.stop()
        self._idle_timer = self.set_timer(self.atm.config.idle_timeout, self._customer_idle)

    def _customer_idle(self) -> None:
        self.atm.ask_for_more_time(self)

    def on_key(self, event: events.Key) -> None:
        if self.atm.too_small:
            event.stop()  # the customer cannot see what a key would do
            return
        self._reset_idle()
        keys = self.side_keys()
        letter = event.key.upper() if len(event.key) == 1 else ""
        if letter in keys:
            event.stop()
            keys[letter][1]()
            return
        if self.customer_key(event.key, event.character):
            event.stop()

    def on_click(self) -> None:
        self._reset_idle()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if isinstance(event.button, SideKey):
            event.stop()
            self._reset_idle()
            keys = self.side_keys()
            if event.button.letter in keys:
                keys[event.button.letter][1]()
