"""Warnings that a peer can cause at will (bad frames, hostile bus messages) are logged once
per interval and counted, so that a flood cannot drown the rest of the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimitedLog"]


@dataclass
class _Window:
    started: float
    level: int
    suppressed: int = 0
    last: tuple[str, tuple[object, ...]] = ("", ())


class RateLimitedLog:
    """Logs the first message of each kind per ``interval`` in full and counts the rest.

    The count is reported when the window is over, with the last message suppressed:
    ``... (1,234 similar messages suppressed in the last 60 s)``. ``flush`` reports the
    windows that are over; call it now and then (the switch does once a second), or the
    count of a flood that stopped waits for the next message of its kind.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def warning(self, kind: str, msg: str, *args: object) -> None:
        self.log(logging.WARNING, kind, msg, *args)

    def log(self, level: int, kind: str, msg: str, *args: object) -> None:
        """Log ``msg % args`` unless a message of ``kind`` was logged less than
        ``interval`` seconds ago; then only count it."""
        now = self._clock()
        window = self._windows.get(kind)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            window.last = (msg, args)
            return
        if window is not None:
            self._report(window, now)
        self._windows[kind] = _Window(now, level)
        self.logger.log(level, msg, *args)

    def suppressed(self, kind: str) -> int:
        """Messages of ``kind`` counted but not logged in the current window."""
        window = self._windows.get(kind)
        return window.suppressed if window else 0

    def flush(self) -> None:
        """Report and close every window that is over."""
        now = self._clock()
        for kind, window in list(self._windows.items()):
            if now - window.started >= self.interval:
                self._report(window, now)
                del self._windows[kind]

    def _report(self, window: _Window, now: float) -> None:
        if not window.suppressed:
            return
        msg, args = window.last
        try:
            text = msg % args if args else msg
        except (TypeError, ValueError):
            text = msg
        self.logger.log(window.level, "%s (%s similar messages suppressed in the last %.0f s)",
                        text, f"{window.suppressed:,}", now - window.started)
