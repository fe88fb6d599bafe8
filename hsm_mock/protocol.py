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
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from atmsim.kernel.crypto.errors import COMMAND_DISABLED, INVALID_INPUT, NO_ERROR, Advice, HsmError
from atmsim.kernel.wire.framing import PAYSHIELD_FRAMING
from hsm_mock.commands import Command, CommandTable
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
    """A reply message (without length prefix) and what to log about it."""

    message: bytes
    command: str
    error: str
    field: str = ""
    known: bool = True  # False for a command code this HSM does not implement (ZZ)


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
    ) -> None:
        if header_len < 0:
            raise ValueError("header length cannot be negative")
        self._table = table
        self._context = context
        self._header_len = header_len
        self._disabled = frozenset(disabled_commands)

    def handle(self, message: bytes) -> Reply:
        """Build the reply for a request message (the frame without its prefix)."""
        header = message[: self._header_len]
        raw_code = message[self._header_len : self._header_len + 2]
        body = message[self._header_len + 2 :]
        code = raw_code.decode("ascii") if raw_code.isascii() and raw_code.isalnum() else ""
        reader = FieldReader(body, self._context.lmk_ids)
        command = self._table.get(code)
        if command is None:
            response_code, error, out, field = UNKNOWN_COMMAND, INVALID_INPUT, b"", ""
        elif code in self._disabled:
            response_code, error, out, field = command.response_code, COMMAND_DISABLED, b"", ""
        else:
            response_code = command.response_code
            error, out, field = self._run(command, reader)
        trailer = reader.trailer if reader.trailer is not None else _guess_trailer(body)
        reply = header + response_code.encode("ascii") + error.encode("ascii") + out + trailer
        return Reply(reply, code or "??", error, field, known=command is not None)

    def _run(self, command: Command, reader: FieldReader) -> tuple[str, bytes, str]:
        """Run a handler: (error code, response fields, failing field name)."""
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


def _guess_trailer(body: bytes) -> bytes:
    # When the fields were not all parsed, the trailer can only be guessed: the
    # last 0x19 with at most 32 characters after it.
    index = body.rfind(TRAILER_DELIMITER)
    if index < 0 or len(body) - index - 1 > MAX_TRAILER:
        return b""
    return body[index:]
