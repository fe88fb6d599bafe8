"""The payShield host wire protocol: framing, header echo and reply building.

A request frame is a 2-byte big-endian length (the kernel's ``PAYSHIELD_FRAMING``),
then the message: a header of
fixed length (configured on the HSM, echoed back unchanged), the 2-character
command code, the fields, and optionally 0x19 + a trailer of up to 32 characters
(echoed back too). The reply is header + response code (command code's second
character + 1: NC -> ND) + 2-digit error code + response fields [+ 0x19 trailer].

An unknown command is answered with response code ``ZZ`` and error ``15``. That
mirrors what open simulators do; whether real firmware does the same is
unverified. Every malformed request gets an error reply rather than a dropped
connection; only a frame longer than the configured bound closes the
connection (:mod:`hsm_mock.server` cuts the frames), since its length can no
longer be trusted.

With rules (``atmsim hsm --rules FILE``, docs/rules.md) the first rule matching a
request's command code (and its ``header`` / ``body`` by regex) decides instead: an
error code, a wrong header, garbage, no reply, two replies, a closed connection, each
after an optional delay. The reply says so (``Reply``'s effect fields); the
connection carries it out.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field

from atmsim.kernel.crypto.errors import COMMAND_DISABLED, INVALID_INPUT, NO_ERROR, Advice, HsmError
from atmsim.kernel.rules import Rule, RuleBook
from atmsim.kernel.wire.framing import PAYSHIELD_FRAMING
from hsm_mock.commands import Command, CommandTable, Offload
from hsm_mock.context import HsmContext
from hsm_mock.fields import MAX_TRAILER, TRAILER_DELIMITER, FieldReader

__all__ = [
    "DEFAULT_HEADER_LENGTH",
    "MAX_FRAME",
    "UNKNOWN_COMMAND",
    "Dispatcher",
    "Reply",
    "encode_frame",
]

DEFAULT_HEADER_LENGTH = 4
# payShield messages are at most a few kilobytes; this leaves room for large B2
# echoes while refusing lengths no host would send.
MAX_FRAME = 32 * 1024
UNKNOWN_COMMAND = "ZZ"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A reply message (without length prefix) and what to log about it; what a rule
    made of it: sent ``copies`` times (0: not at all) after ``delay`` seconds, ``raw``
    (without a length prefix: garbage), then the connection closed when ``close``.

    A reply whose work was offloaded (EI, EW) has ``later``: the connection runs it in
    the server's worker pool and sends the :class:`Reply` it returns in this one's place.
    """

    message: bytes
    command: str
    error: str
    field: str = ""
    known: bool = True  # False for a command code this HSM does not implement (ZZ)
    copies: int = 1
    delay: float = 0.0
    raw: bool = False
    close: bool = False
    later: Callable[[], Reply] | None = dataclass_field(default=None, repr=False, compare=False)


def encode_frame(message: bytes) -> bytes:
    """Prefix a message with its 2-byte big-endian length (``FrameError``, a
    ``ValueError``, over 65535 bytes).

    >>> encode_frame(b"HEADNC")
    b'\\x00\\x06HEADNC'
    """
    return PAYSHIELD_FRAMING.frame(message)


class Dispatcher:
    """Turns one request message into one reply message. Pure: no I/O."""

    def __init__(
        self,
        table: CommandTable,
        context: HsmContext,
        *,
        header_len: int = DEFAULT_HEADER_LENGTH,
        disabled_commands: Collection[str] = frozenset(),
        rules: RuleBook | None = None,
    ) -> None:
        if header_len < 0:
            raise ValueError("header length cannot be negative")
        self._table = table
        self._context = context
        self._header_len = header_len
        self._disabled = frozenset(disabled_commands)
        self.rules = rules

    def handle(self, message: bytes) -> Reply:
        """Build the reply for a request message (the frame without its prefix)."""
        header = message[: self._header_len]
        raw_code = message[self._header_len : self._header_len + 2]
        body = message[self._header_len + 2 :]
        code = raw_code.decode("ascii") if raw_code.isascii() and raw_code.isalnum() else ""
        if self.rules is not None:
            rule = self.rules.first_match({"command": code, "fields": {
                "header": header.decode("latin-1"), "body": body.decode("latin-1")}})
            if rule is not None:
                return self._by_rule(rule, header, code, body)
        return self._usual(header, code, body)

    def _usual(self, header: bytes, code: str, body: bytes) -> Reply:
        reader = FieldReader(body, self._context.lmk_ids)
        command = self._table.get(code)
        out: bytes | Offload
        if command is None:
            response_code, error, out, field = UNKNOWN_COMMAND, INVALID_INPUT, b"", ""
        elif code in self._disabled:
            response_code, error, out, field = command.response_code, COMMAND_DISABLED, b"", ""
        else:
            response_code = command.response_code
            error, out, field = self._run(command, reader)
        # A request refused part-way: the trailer can only be in what was not read yet.
        trailer = (reader.trailer if reader.trailer is not None
                   else _guess_trailer(body[len(body) - reader.remaining:]))
        prefix = header + response_code.encode("ascii")
        if isinstance(out, Offload):
            work = out.work

            def later() -> Reply:
                error, fields, failed = self._run_work(code, work)
                return Reply(prefix + error.encode("ascii") + fields + trailer, code, error,
                             failed)

            return Reply(b"", code, "", later=later)
        reply = prefix + error.encode("ascii") + out + trailer
        return Reply(reply, code or "??", error, field, known=command is not None)

    def _by_rule(self, rule: Rule, header: bytes, code: str, body: bytes) -> Reply:
        action = rule.action
        delay = action.wait()
        _log.info("rule %r: %s for cmd=%s", rule.name, action.kind, code or "??")
        kind = action.kind
        if kind == "drop":
            return Reply(b"", code or "??", "", copies=0, delay=delay)
        if kind == "close":
            return Reply(b"", code or "??", "", copies=0, delay=delay, close=True)
        if kind == "garbage":
            # Seeded by the request: the same request gets the same garbage on every run.
            noise = random.Random(header + body).randbytes(action.garbage_bytes)
            return Reply(noise, code or "??", "", delay=delay, raw=not action.framed)
        if kind == "error":
            command = self._table.get(code)
            response_code = command.response_code if command else UNKNOWN_COMMAND
            error = action.code or INVALID_INPUT
            message = header + response_code.encode("ascii") + error.encode("ascii") \
                + _guess_trailer(body)
            return Reply(message, code or "??", error, delay=delay)
        reply = self._usual(header, code, body)
        if reply.later is not None:
            work = reply.later
            return replace(reply, later=lambda: _shaped(kind, header, work(), delay))
        return _shaped(kind, header, reply, delay)

    def _run(self, command: Command, reader: FieldReader) -> tuple[str, bytes | Offload, str]:
        """Run a handler: (error code, response fields or work to offload, failing field)."""
        try:
            out = command.handler(reader, self._context)
            reader.finish()
        except HsmError as exc:
            return exc.code, b"", exc.field
        except Exception as exc:
            # Only the type: exception text can carry request data (psec, for one,
            # puts PIN digits in its messages).
            _log.error("cmd=%s internal error %s", command.code, type(exc).__name__)
            return INVALID_INPUT, b"", ""
        if isinstance(out, Advice):
            return out.code, out.fields, ""
        return NO_ERROR, out, ""

    @staticmethod
    def _run_work(code: str, work: Callable[[], bytes]) -> tuple[str, bytes, str]:
        """Run offloaded work (in a worker thread): (error code, fields, failing field)."""
        try:
            return NO_ERROR, work(), ""
        except HsmError as exc:
            return exc.code, b"", exc.field
        except Exception as exc:
            _log.error("cmd=%s internal error %s", code, type(exc).__name__)
            return INVALID_INPUT, b"", ""


def _shaped(kind: str, header: bytes, reply: Reply, delay: float) -> Reply:
    """A reply as a ``wrong_header`` or ``twice`` rule (or a plain delay) makes it."""
    if kind == "wrong_header":
        message = _wrong_header(header) + reply.message[len(header):]
        return replace(reply, message=message, delay=delay)
    return replace(reply, copies=2 if kind == "twice" else 1, delay=delay)


def _wrong_header(header: bytes) -> bytes:
    """A header the request did not carry: each digit one on (9 -> 0), anything else
    ``Z`` (``Y`` for a ``Z``); with no header configured, an extra one of four digits.

    >>> _wrong_header(b"0001"), _wrong_header(b"AZ"), _wrong_header(b"")
    (b'1112', b'ZY', b'9999')
    """
    if not header:
        return b"9999"
    return bytes(ord("0") + (c - ord("0") + 1) % 10 if ord("0") <= c <= ord("9")
                 else (ord("Y") if c == ord("Z") else ord("Z")) for c in header)


def _guess_trailer(body: bytes) -> bytes:
    # When the fields were not all parsed, the trailer can only be guessed: the
    # last 0x19 with at most 32 characters after it.
    index = body.rfind(TRAILER_DELIMITER)
    if index < 0 or len(body) - index - 1 > MAX_TRAILER:
        return b""
    return body[index:]
