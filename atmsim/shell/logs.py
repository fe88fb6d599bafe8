"""The one logging setup: every record passes a masking filter before it is written.

Components never log a PIN, a PIN block or a clear key in the first place; this filter is
the second line of defence for PANs and NIKs that reach a message through an f-string or
an exception text.

A log file rotates by size (``log.max_bytes`` x ``log.backups``), so that a peer sending
garbage can fill at most that much disk; ``RateLimitedLog`` keeps such a flood from
drowning everything else in the log in the first place (``atmsim.kernel.log_limits``).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import TextIO

from atmsim.kernel.masking import mask_digits_in_text, mask_url_passwords

__all__ = ["MaskingFilter", "setup_logging"]

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


