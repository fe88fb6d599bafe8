"""The one logging setup: every record passes a masking filter before it is written.

Components never log a PIN, a PIN block or a clear key in the first place; this filter is
the second line of defence for PANs and NIKs that reach a message through an f-string or
an exception text.

A log file rotates by size (``log.max_bytes`` x ``log.backups``), so that a peer sending
garbage can fill at most that much disk; ``RateLimitedLog`` keeps such a flood from
drowning everything else in the log in the first place.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from atmsim.masking import mask_digits_in_text, mask_url_passwords

__all__ = ["MaskingFilter", "RateLimitedLog", "setup_logging"]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5


class MaskingFilter(logging.Filter):
    """Rewrites the formatted message with long digit runs and URL passwords masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_url_passwords(mask_digits_in_text(message))
        if masked != message:
            record.msg = masked
            record.args = None
        return True


def setup_logging(level: str | int = "INFO", stream: TextIO | None = None,
                  log_file: Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  backups: int = DEFAULT_BACKUPS) -> None:
    """Configure the root logger once, with masking on every handler.

    ``log_file`` sends the log to a file instead (the full-screen ATM owns the terminal),
    rotated when it reaches ``max_bytes``: the file and ``backups`` older ones are kept,
    so the log never takes more than about ``(backups + 1) * max_bytes`` of disk.
    """
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max(max_bytes, 1024), backupCount=max(backups, 1),
            encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # Third-party chatter that says nothing useful to an atmsim user at INFO.
    for noisy in ("amqtt", "transitions", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
