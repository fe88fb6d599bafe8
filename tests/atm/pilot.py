"""Driving the ATM app as a customer would: keys in, screens out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from atmsim.shell.stack import Stack
from terminal_ui.app import AtmApp
from terminal_ui.device.config import AtmConfig


def atm_config(stack_or_port: Stack | int, tmp_path: Path, **overrides: object) -> AtmConfig:
    if isinstance(stack_or_port, Stack):
        assert stack_or_port.switch is not None
        port = stack_or_port.switch.port
    else:
        port = stack_or_port
    values: dict[str, object] = {"host": "127.0.0.1", "port": port, "host_timeout": 10.0,
                                 "reconnect_interval": 0.2, "message_time": 0.3,
                                 "receipts_dir": tmp_path / "receipts"}
    values.update(overrides)
    return AtmConfig(**values)  # type: ignore[arg-type]


async def until(pilot: Pilot[None], condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the ATM did not get there; it shows {pilot.app.screen!r}")
        await pilot.pause(0.05)


async def on_screen(pilot: Pilot[None], screen_type: type, within: float = 10.0) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, screen_type), within)
    await pilot.pause()


def text_of(app: AtmApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def screen_text(app: AtmApp) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query(Static))


async def press(pilot: Pilot[None], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()


async def to_kpj_source(pilot: Pilot[None]) -> None:
    """From the main menu to "which KPJ?": Menu Lainnya, BPJS Ketenagakerjaan, Cek Saldo JHT."""
    from terminal_ui.screens.kpj import KpjSourceScreen
    from terminal_ui.screens.menus import BpjsMenuScreen, MainMenuScreen, OtherMenuScreen

    for screen, key in ((MainMenuScreen, "i"), (OtherMenuScreen, "g"), (BpjsMenuScreen, "a")):
        await on_screen(pilot, screen)
        await press(pilot, key)
    await on_screen(pilot, KpjSourceScreen)
