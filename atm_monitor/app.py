"""The dashboard as a Textual app: the window (``Traffic``) drawn once a second.

The app owns no socket: it is given an ``EventFeed`` (the MQTT edge, already open) or, in
the snapshot tests, none and a ``Traffic`` filled beforehand. ``clock`` is the one clock
of both the feed and the drawing (``time.monotonic`` unless a test pins it), so a test with
a fixed clock draws the same screen every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from atm_monitor.alarms import AlarmSettings, judge
from atm_monitor.feed import EventFeed
from atm_monitor.traffic import Traffic
from atm_monitor.widgets import (
    AlarmPanel,
    CodeMix,
    LastTransactions,
    LatencyPanel,
    RatePanel,
    TerminalTable,
)

__all__ = ["MonitorApp"]

REFRESH_SECONDS = 1.0


class MonitorApp(App[None]):
    """``atmsim monitor``: live inquiries/s, code mix, latency per hop, alarms, terminals."""

    CSS_PATH = "monitor.tcss"
    TITLE = "atmsim monitor"
    BINDINGS = [Binding("q", "quit", "quit"), Binding("ctrl+q", "quit", show=False)]

    def __init__(self, traffic: Traffic | None = None, *, feed: EventFeed | None = None,
                 alarms: AlarmSettings | None = None,
                 clock: Callable[[], float] = time.monotonic, source: str = "") -> None:
        super().__init__()
        self.alarm_settings = alarms or AlarmSettings()
        if traffic is None:
            traffic = feed.traffic if feed else Traffic(
                keep_seconds=self.alarm_settings.looks_back)
        self.traffic = traffic
        self.feed = feed
        self.clock = clock
        self.source = source or (feed.source if feed else "")

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Vertical(id="left"):
            yield RatePanel()
            yield CodeMix()
            yield AlarmPanel()
        yield LatencyPanel()
        yield LastTransactions(id="last")
        yield TerminalTable(id="terminals")

    def on_mount(self) -> None:
        self.query_one("#last").border_title = "last transactions"
        self.query_one("#terminals").border_title = "terminals"
        if self.feed is not None:
            self.feed.start()
        self.redraw()
        self.set_interval(REFRESH_SECONDS, self.redraw)

    def redraw(self) -> None:
        """Draw every panel from the window as it is now."""
        if self.feed is not None:
            self.feed.poll()
        now = self.clock()
        traffic = self.traffic
        alarms = judge(traffic, now, self.alarm_settings)
        self.query_one(RatePanel).show(traffic, now)
        self.query_one(CodeMix).show(traffic, now)
        self.query_one(AlarmPanel).show(alarms, traffic)
        self.query_one(LatencyPanel).show(traffic, now)
        self.query_one(LastTransactions).show(traffic)
        self.query_one(TerminalTable).show(traffic, now)
        self.query_one("#status", Static).update(self._status(len(alarms)))

    def _status(self, alarms: int) -> Text:
        if self.feed is None:
            link = Text("events given", "dim")
        elif self.feed.connected:
            link = Text(f"connected {self.source}", "green")
        else:
            link = Text(f"NOT CONNECTED to {self.source} (retrying)", "bold red")
        return Text.assemble(("atmsim monitor ", "bold"), link, "  ",
                             (f"{alarms} alarm{'s' if alarms != 1 else ''}",
                              "bold red" if alarms else "green"),
                             "  q quits")
