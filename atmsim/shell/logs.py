"""The one logging setup: every record passes a masking filter before it is written.

Components never log a PIN, a PIN block or a clear key in the first place; this filter is
the second line of defence for PANs and NIKs that reach a message through an f-string or
an exception text.

A log file rotates by size (``log.max_bytes`` x ``log.backups``), so that a peer sending
garbage can fill at most that much disk; ``RateLimitedLog`` keeps such a flood from
drowning everything else in the log in the first place (``atmsim.kernel.log_limits``).

The parts the supervisor runs as child processes log to their stderr; ``relay_line``
writes each of their lines to this process's log as it is, prefixed with the part
(``[hsm] 2026-... INFO  hsm_mock.server: ...``), through the same masking filter.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import TextIO

from atmsim.kernel.masking import mask_digits_in_text, mask_url_passwords

__all__ = ["MaskingFilter", "relay_line", "setup_logging"]

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


FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
# The level of a line in FORMAT, as a part writes it.
_LEVEL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


class _Formatter(logging.Formatter):
    """FORMAT, except for a part's line (``relay_line``): that line as it is, prefixed."""

    def format(self, record: logging.LogRecord) -> str:
        part = getattr(record, "part", None)
        if part is None:
            return super().format(record)
        return f"[{part}] {record.getMessage()}"


def relay_line(part: str, line: str, level: int | None = None) -> None:
    """Log ``line``, written by the child process of ``part``, at ``level``, by default
    the level the line names (a line without one: WARNING)."""
    if level is None:
        found = _LEVEL.match(line)
        level = logging.getLevelNamesMapping()[found.group(1)] if found else logging.WARNING
    logging.getLogger(f"atmsim.part.{part}").log(level, "%s", line, extra={"part": part})


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
    handler.setFormatter(_Formatter(FORMAT))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # Third-party chatter that says nothing useful to an atmsim user at INFO.
    for noisy in ("amqtt", "transitions", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


