"""What every ATM screen shares: the frame, the side keys, inactivity and the wire panel.

A screen declares its keys as Textual ``BINDINGS`` (side keys ``a``-``d`` on the left,
``f``-``i`` on the right, Enter, Escape, digits), the labels on its side keys
(``side_labels``) and what it shows (``body``). The footer is rendered from the shown
bindings in the session's language (``widgets/key_footer.py``); a side key clicked with
the mouse runs the binding of its letter. Screens never switch screens: they post a
message (``screens/messages.py``) or dismiss themselves with an answer, and the app asks
``terminal_ui/flow.py`` what follows.

Screens that wait for the customer post ``CustomerIdle`` after the configured idle time.
Every screen also carries the terminal's clock (its own time zone, WIB in Jakarta) and the
notice shown instead of the screen while the window is smaller than 80x24.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Static

from terminal_ui.device.clock import zone_label
from terminal_ui.device.i18n import t
from terminal_ui.digit_entry import DigitEntry
from terminal_ui.flow import State
from terminal_ui.screens.messages import ConnectionChanged, CustomerIdle
from terminal_ui.widgets.key_footer import KeyFooter
from terminal_ui.widgets.side_key import LEFT_KEYS, NO_KEY, RIGHT_KEYS, YES_KEY, SideKey
from terminal_ui.widgets.wire_panel import WirePanel

if TYPE_CHECKING:
    from terminal_ui.app import AtmApp

__all__ = ["AtmScreen", "TooSmallNotice", "KeypadScreen", "clock_text", "keypad_bindings"]

AnswerType = TypeVar("AnswerType")


def keypad_bindings(digits: str) -> list[BindingType]:
    """PIN and KPJ entry: ten digits (shown once as ``0-9 <digits>``), Backspace, BENAR
    (I, Enter), BATAL (D, Escape) and KOREKSI (H) to clear."""
    return [
        *(Binding(d, f"digit('{d}')", digits, key_display="0-9", show=d == "0")
          for d in "0123456789"),
        Binding("backspace", "erase", "key_erase", key_display="Backspace"),
        Binding(f"enter,{YES_KEY.lower()}", "submit", "correct", key_display="Enter"),
        Binding(f"escape,{NO_KEY.lower()}", "cancel", "cancel", key_display="Esc"),
        Binding("h", "clear", "clear", show=False),
    ]


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


class AtmScreen(Screen[AnswerType]):
    """A state of the ATM. ``AnswerType`` is what a screen that asks something dismisses
    itself with (None for the screens that only post messages)."""

    state: ClassVar[State]
    BINDINGS: ClassVar[list[BindingType]] = []
    waits_for_customer: ClassVar[bool] = True  # post CustomerIdle after the idle timeout
    bilingual: ClassVar[bool] = False  # before a language is chosen: footer in both
    footer_app_keys: ClassVar[tuple[str, ...]] = ()  # app actions the footer also shows
    follows_connection: ClassVar[bool] = False  # posts ConnectionChanged (before a card)

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

    def side_labels(self) -> dict[str, str]:
        """The label on each side key the screen uses; a key without one is inactive."""
        return {}

    def body(self) -> Iterable[Widget]:
        return ()

    def answer(self, value: AnswerType) -> None:
        """Dismiss with ``value``, once: a timer firing after a key has answered must not
        dismiss whatever screen came next."""
        if self.is_current:
            self.dismiss(value)

    def action_answer(self, value: AnswerType) -> None:
        """The bindings' way to answer: ``answer(True)``, ``answer(None)``."""
        self.answer(value)

    # -- the frame ----------------------------------------------------------------------

    def footer_bindings(self) -> list[Binding]:
        own = [b for b in type(self).BINDINGS if isinstance(b, Binding)]
        app_keys = [b for b in type(self.app).BINDINGS if isinstance(b, Binding)]
        return own + [b for action in self.footer_app_keys for b in app_keys
                      if b.action == action]

    def compose(self) -> ComposeResult:
        labels = self.side_labels()
        with Horizontal(id="brand-bar"):
            yield Static("[b]BNI[/b]", id="brand")
            yield Static(clock_text(self.atm.local_now()), id="clock")
            yield Static(self.atm.config.terminal_id, id="terminal-id")
        with Horizontal(id="frame"):
            with Vertical(classes="keys", id="left-keys"):
                for letter in LEFT_KEYS:
                    yield SideKey(letter, labels.get(letter, ""))
            with Vertical(id="display"):
                yield from self.body()
            with Vertical(classes="keys", id="right-keys"):
                for letter in RIGHT_KEYS:
                    yield SideKey(letter, labels.get(letter, ""))
        yield KeyFooter(self.footer_bindings(), self.language, bilingual=self.bilingual)
        yield WirePanel()
        yield TooSmallNotice()

    def on_mount(self) -> None:
        self._idle_timer: Timer | None = None
        self.reset_idle()
        self.refresh_wire_panel()
        self.set_interval(1.0, self._tick_clock)
        if self.follows_connection:
            # init: the link may have come or gone while this screen was being mounted.
            self.watch(self.atm, "connected", self._connection_changed)

    def _connection_changed(self, connected: bool) -> None:
        self.post_message(ConnectionChanged(self.state, connected))

    def _tick_clock(self) -> None:
        self.query_one("#clock", Static).update(clock_text(self.atm.local_now()))

    def refresh_wire_panel(self) -> None:
        panel = self.query_one(WirePanel)
        panel.display = self.atm.wire_visible
        if self.atm.wire_visible:
            panel.show(self.atm.last_exchange, self.language)

    def reset_idle(self) -> None:
        """(Re)start the inactivity timer: a one-shot timer that has fired cannot be reset."""
        if not self.waits_for_customer or self.atm.config.idle_timeout <= 0:
            return
        if self._idle_timer is not None:
            self._idle_timer.stop()
        self._idle_timer = self.set_timer(self.atm.config.idle_timeout,
                                          lambda: self.post_message(CustomerIdle(self)))

    def on_key(self, event: events.Key) -> None:
        # Runs before the bindings (they are checked when the key reaches the app).
        if self.atm.too_small:
            event.stop()  # the customer cannot see what a key would do
            return
        self.reset_idle()

    def on_click(self) -> None:
        self.reset_idle()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if not isinstance(event.button, SideKey):
            return
        event.stop()
        self.reset_idle()
        binding = self._binding_for(event.button.letter.lower())
        if binding is not None:
            await self.run_action(binding.action)

    def _binding_for(self, key: str) -> Binding | None:
        for binding in type(self).BINDINGS:
            if isinstance(binding, Binding) and key in [k.strip() for k in binding.key.split(",")]:
                return binding
        return None


class KeypadScreen(AtmScreen[None]):
    """A screen that takes digits (``keypad_bindings``) into a :class:`DigitEntry`."""

    def __init__(self, entry: DigitEntry) -> None:
        super().__init__()
        self._entry = entry

    def side_labels(self) -> dict[str, str]:
        return {NO_KEY: self.tr("cancel"), "H": self.tr("clear"), YES_KEY: self.tr("correct")}

    def show_digits(self) -> None:
        """Show the entry after a change; each keypad screen shows it its own way."""
        raise NotImplementedError

    def action_digit(self, digit: str) -> None:
        self._entry.add(digit)
        self.show_digits()

    def action_erase(self) -> None:
        self._entry.erase()
        self.show_digits()

    def action_clear(self) -> None:
        self._entry.clear()
        self.show_digits()
