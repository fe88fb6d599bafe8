"""The one logging setup: every record passes a masking filter before it is written.

Components never log a PIN, a PIN block or a clear key in the first place; this filter is
the second line of defence for PANs and NIKs that reach a message through an f-string or
an exception text.

A log file rotates by size (``log.max_bytes`` x ``log.backups``), so that a peer sending
garbage can fill at most that much disk; ``RateLimitedLog`` keeps such a flood from
drowning everything else in the log in the first place (``atmsim.kernel.log_limits``).

``log.format = "json"`` (``--log-format json``) writes one JSON object a line instead
(``JsonFormatter``): ``ts``, ``level``, ``logger``, ``message``, ``part`` and the
structured fields a record carries (``extra=``), masked the same way
(docs/observability.md).

The parts the supervisor runs as child processes log to their stderr; ``relay_line``
writes each of their lines to this process's log as it is, prefixed with the part
(``[hsm] 2026-... INFO  hsm_mock.server: ...``), through the same masking filter.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from atmsim.kernel.masking import mask_digits_in_text, mask_url_passwords

__all__ = ["MaskingFilter", "JsonFormatter", "LOG_FORMATS", "part_of", "relay_line",
           "setup_logging"]

LOG_FORMATS = ("text", "json")

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


def _masked(value: Any) -> Any:
    """A structured field's value with long digit runs and URL passwords masked."""
    if isinstance(value, str):
        return mask_url_passwords(mask_digits_in_text(value))
    if isinstance(value, dict):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_masked(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _masked(str(value))


# Logger names by the part of atmsim they belong to; any other logger is the command's.
_PARTS = (("atmsim.switch", "switch"), ("atm_switch", "switch"), ("atmsim.hsm", "hsm"),
          ("hsm_mock", "hsm"), ("atmsim.ledger", "ledger"), ("bpjs_ledger", "ledger"),
          ("atmsim.broker", "broker"), ("amqtt", "broker"), ("atmsim.atm", "atm"),
          ("terminal_ui", "atm"))


def part_of(logger: str, default: str) -> str:
    """The part of atmsim a logger belongs to (``default``: the command that runs).

    >>> part_of("atmsim.switch", "up"), part_of("hsm_mock.server", "up"), part_of("x", "up")
    ('switch', 'hsm', 'up')
    """
    for prefix, part in _PARTS:
        if logger == prefix or logger.startswith(prefix + "."):
            return part
    return default


# What every LogRecord has; anything else on a record came with ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts`` (UTC, milliseconds), ``level``, ``logger``,
    ``message``, ``part`` (``part_of`` the logger, else ``part``), the record's structured
    fields and ``exception`` (its traceback text) when it has one. The message has passed
    ``MaskingFilter``; structured fields and the traceback are masked here the same way.

    >>> record = logging.LogRecord("atmsim.switch", logging.INFO, "", 0, "rc=%s", ("00",),
    ...                            None)
    >>> record.pan = "5264220000100010"
    >>> line = orjson.loads(JsonFormatter("up").format(record))
    >>> line["message"], line["part"], line["pan"]
    ('rc=00', 'switch', '526422******0010')
    """

    def __init__(self, part: str = "atmsim") -> None:
        super().__init__()
        self.part = part

    def format(self, record: logging.LogRecord) -> str:
        relayed = getattr(record, "part", None)
        if relayed is not None and record.name.startswith("atmsim.part."):
            line = record.getMessage()
            if line.startswith("{"):  # the part logs JSON itself (its own settings)
                return line
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "part": part_of(record.name, self.part),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                out[key] = _masked(value)
        if record.exc_info:
            out["exception"] = _masked(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = _masked(record.exc_text)
        return orjson.dumps(out).decode()


FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
# The level of a line in FORMAT, as a part writes it.
_LEVEL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


# ... and in a JSON line (--log-format json): JsonFormatter writes "level" second.
_JSON_LEVEL = re.compile(r'\{"ts":"[^"]*","level":"(DEBUG|INFO|WARNING|ERROR|CRITICAL)"')


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
        found = _LEVEL.match(line) or _JSON_LEVEL.match(line)
        level = logging.getLevelNamesMapping()[found.group(1)] if found else logging.WARNING
    logging.getLogger(f"atmsim.part.{part}").log(level, "%s", line, extra={"part": part})


def setup_logging(level: str | int = "INFO", stream: TextIO | None = None,
                  log_file: Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  backups: int = DEFAULT_BACKUPS, log_format: str = "text",
                  part: str = "atmsim") -> None:
    """Configure the root logger once, with masking on every handler.

    ``log_file`` sends the log to a file instead (the full-screen ATM owns the terminal),
    rotated when it reaches ``max_bytes``: the file and ``backups`` older ones are kept,
    so the log never takes more than about ``(backups + 1) * max_bytes`` of disk.
    ``log_format`` "json": one JSON object a line (``JsonFormatter``), ``part`` naming
    the records of loggers that belong to no one part (the command that runs).
    """
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max(max_bytes, 1024), backupCount=max(backups, 1),
            encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    handler.setFormatter(JsonFormatter(part) if log_format == "json" else _Formatter(FORMAT))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # Third-party chatter that says nothing useful to an atmsim user at INFO.
    for noisy in ("amqtt", "transitions", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


