"""Main menu → Menu Lainnya → BPJS Ketenagakerjaan, and the services the simulator lacks.

Each menu posts ``MenuChosen``; ``terminal_ui/flow.py`` says where a choice leads. The
footer names the side keys once (``A-D F-I side keys``): the first side-key binding of a
menu carries that entry, the others are not shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from terminal_ui.flow import MenuItem, State
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.messages import MenuChosen, SessionCancelled

__all__ = ["MainMenuScreen", "OtherMenuScreen", "BpjsMenuScreen", "NotAvailableScreen"]

_FAST_CASH = ("Rp100.000", "Rp300.000", "Rp500.000", "Rp1.000.000", "Rp1.500.000", "Rp2.500.000")
_SIDE_KEYS = "A-D F-I"
_BACK = "choose('back')"
_NOT_OFFERED = "choose('not_offered')"


class _MenuScreen(AtmScreen[None]):
    footer_app_keys = ("toggle_wire",)

    def action_choose(self, item: str) -> None:
        self.post_message(MenuChosen(self.state, MenuItem(item)))

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("choose_transaction"), classes="note")


class MainMenuScreen(_MenuScreen):
    """Penarikan Cepat style: cash amounts (not offered by the simulator) and Menu Lainnya."""

    state = State.MAIN_MENU
    BINDINGS = [
        Binding("a,b,c,d,f,g,h", _NOT_OFFERED, "key_side_keys", key_display=_SIDE_KEYS),
        Binding("i", "choose('other_menu')", show=False),
        Binding("escape", "cancel", "key_cancel", key_display="Esc"),
    ]

    def side_labels(self) -> dict[str, str]:
        labels = dict(zip("ABCDFG", _FAST_CASH, strict=True))
        labels["H"] = self.tr("other_amount")
        labels["I"] = self.tr("other_menu")
        return labels

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("main_menu"), classes="title")
        yield Static(self.tr("fast_cash"), classes="big")
        yield from super().body()

    def action_cancel(self) -> None:
        self.post_message(SessionCancelled())


class OtherMenuScreen(_MenuScreen):
    state = State.OTHER_MENU
    BINDINGS = [
        Binding("a,b,c,d,f", _NOT_OFFERED, "key_side_keys", key_display=_SIDE_KEYS),
        Binding("g", "choose('bpjs')", show=False),
        Binding("i", _BACK, show=False),
        Binding("escape", _BACK, "key_back", key_display="Esc"),
    ]

    def side_labels(self) -> dict[str, str]:
        return {"A": self.tr("balance_info"), "B": self.tr("transfer"),
                "C": self.tr("payment"), "D": self.tr("purchase"),
                "F": self.tr("change_pin"), "G": self.tr("bpjs_tk"), "I": self.tr("back")}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("other_menu"), classes="title")
        yield from super().body()


class BpjsMenuScreen(_MenuScreen):
    state = State.BPJS_MENU
    BINDINGS = [
        Binding("a", "choose('check_jht')", "key_side_keys", key_display=_SIDE_KEYS),
        Binding("b", _NOT_OFFERED, show=False),
        Binding("i", _BACK, show=False),
        Binding("escape", _BACK, "key_back", key_display="Esc"),
    ]

    def side_labels(self) -> dict[str, str]:
        return {"A": self.tr("check_jht"), "B": self.tr("membership_info"),
                "I": self.tr("back")}

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("bpjs_tk"), classes="title")
        yield from super().body()


class NotAvailableScreen(AtmScreen[None]):
    """A menu item the simulator does not offer (cash, transfers…): say so; dismissed
    when the customer goes back (the app returns to the menu it came from)."""

    state = State.NOT_AVAILABLE
    BINDINGS = [
        Binding("i,enter", "answer(None)", "key_back", key_display="I/Enter"),
        Binding("escape", "answer(None)", show=False),
    ]

    def side_labels(self) -> dict[str, str]:
        return {"I": self.tr("back")}


    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("not_available"), classes="big")
