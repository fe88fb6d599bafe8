"""MAC commands: M6 (generate a MAC) and M8 (verify a MAC).

Request fields: mode flag 1N (0 only block, 1 first, 2 middle, 3 final), input
format flag 1N (0 binary, 1 hex-encoded binary, 2 text), MAC algorithm 2N
(01 ISO 9797-1 algorithm 1, 03 algorithm 3), padding method 1N (0 none, 1 ISO
method 1, 2 ISO method 2), key type 3H (003 TAK, 008 ZAK), key, IV 16H (modes 2
and 3 only), message length 4H, message; M8 then carries the MAC 8H (modes 0, 3).

The reply carries the chaining value as the next IV (16H) for modes 1 and 2, and
for modes 0 and 3 the MAC (M6, 8H: the left half of the last block) or just the
verdict (M8: 00, or 01 when the MAC does not match). A message whose length does
not match its length field, or that does not fill whole blocks where it must,
answers 80.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from atmsim.kernel.crypto import mac
from atmsim.kernel.crypto.errors import (
    DATA_LENGTH_ERROR,
    INVALID_INPUT,
    INVALID_KEY_TYPE,
    SOURCE_KEY_PARITY,
    VERIFICATION_FAILURE,
    HsmError,
)
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.keys import is_hex

__all__ = ["COMMANDS", "generate_mac", "verify_mac"]

_MAC_KEY_TYPES = frozenset({"003", "008"})  # TAK, ZAK
_MODES = ("0", "1", "2", "3")
_FORMATS = ("0", "1", "2")
_MAC_HEX = 8


@dataclass(frozen=True)
class _MacRequest:
    mode: str
    algorithm: str
    padding: str
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    data: bytes = field(repr=False)
    mac: str = field(repr=False)

    @property
    def is_last_piece(self) -> bool:
        return self.mode in ("0", "3")

    def next_iv(self) -> bytes:
        """The chaining value after a first or middle piece (whole blocks only)."""
        if not self.data or len(self.data) % 8:
            raise HsmError(DATA_LENGTH_ERROR, field="message")
        return mac.chain(self.key, self.algorithm, self.data, self.iv)

    def mac_hex(self) -> str:
        full = mac.finish(self.key, self.algorithm, mac.pad(self.data, self.padding), self.iv)
        return full[: _MAC_HEX // 2].hex().upper()


def generate_mac(fields: FieldReader, ctx: HsmContext) -> bytes:
    """M6: the MAC (or, for a first or middle block, the next IV) of a message."""
    request = _read(fields, ctx, verify=False)
    if not request.is_last_piece:
        return request.next_iv().hex().upper().encode("ascii")
    return request.mac_hex().encode("ascii")


def verify_mac(fields: FieldReader, ctx: HsmContext) -> bytes:
    """M8: 00 when the MAC matches the message, 01 when it does not."""
    request = _read(fields, ctx, verify=True)
    if not request.is_last_piece:
        return request.next_iv().hex().upper().encode("ascii")
    if not hmac.compare_digest(request.mac_hex(), request.mac):
        raise HsmError(VERIFICATION_FAILURE)
    return b""


def _read(fields: FieldReader, ctx: HsmContext, *, verify: bool) -> _MacRequest:
    mode = fields.text(1, "mode")
    input_format = fields.text(1, "input_format")
    algorithm = fields.numeric(2, "mac_algorithm")
    padding = fields.text(1, "padding")
    key_type = fields.hex(3, "key_type")
    key_field = fields.key("key")
    iv = bytes.fromhex(fields.hex(16, "iv")) if mode in ("2", "3") else bytes(8)
    length = int(fields.hex(4, "message_length"), 16)
    if fields.remaining < length:
        raise HsmError(DATA_LENGTH_ERROR, field="message")
    message = fields.raw(length, "message")
    expected = fields.hex(_MAC_HEX, "mac") if verify and mode in ("0", "3") else ""
    fields.finish(DATA_LENGTH_ERROR)
    if mode not in _MODES:
        raise HsmError(INVALID_INPUT, field="mode")
    if input_format not in _FORMATS:
        raise HsmError(INVALID_INPUT, field="input_format")
    if algorithm not in (mac.ALGORITHM_1, mac.ALGORITHM_3):
        raise HsmError(INVALID_INPUT, field="mac_algorithm")
    if padding not in mac.PADDING_METHODS:
        raise HsmError(INVALID_INPUT, field="padding")
    if key_type not in _MAC_KEY_TYPES:
        raise HsmError(INVALID_KEY_TYPE, field="key_type")
    key = ctx.key(key_field, key_type, parity_error=SOURCE_KEY_PARITY)
    data = _decode(message, input_format)
    return _MacRequest(mode, algorithm, padding, key.material, iv, data, expected)


def _decode(message: bytes, input_format: str) -> bytes:
    if input_format != "1":
        return message
    if len(message) % 2:
        raise HsmError(DATA_LENGTH_ERROR, field="message")
    text = message.decode("ascii", "replace")
    if text and not is_hex(text):
        raise HsmError(INVALID_INPUT, field="message")
    return bytes.fromhex(text)


COMMANDS = (
    Command("M6", "generate a MAC", generate_mac),
    Command("M8", "verify a MAC", verify_mac),
)
