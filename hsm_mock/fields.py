"""Reading the fields of a host command, left to right, with Thales error codes.

Host command fields are fixed-width ASCII (``2N``, ``16H``, ``12A``) except keys,
whose width follows their scheme letter. :class:`FieldReader` consumes them in
order and raises ``HsmError("15")`` naming the field that is missing or malformed.
What follows the last field may only be the optional trailer (0x19 + up to 32
characters); finding it *after* the fields, rather than by searching for 0x19,
keeps binary data that happens to contain 0x19 (B2) intact.

Two optional elements may come between the last field and the trailer, as on a
payShield: ``%`` + 2N, the LMK identifier (this mock holds one LMK, id ``00`` unless
configured; any other id answers 13), and a key field may be a reference into the
HSM's user storage (``K`` + 3H), which this mock keeps empty (error 12).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

from atmsim.kernel.crypto.errors import (
    INVALID_INPUT,
    INVALID_LMK_IDENTIFIER,
    NO_KEYS_IN_USER_STORAGE,
    HsmError,
)
from hsm_mock.keys import EncryptedKey, is_hex, key_field_length

__all__ = ["DEFAULT_LMK_IDS", "MAX_TRAILER", "TRAILER_DELIMITER", "FieldReader"]

TRAILER_DELIMITER = 0x19
MAX_TRAILER = 32
DEFAULT_LMK_IDS = frozenset({"00"})
_LMK_ID_DELIMITER = ord("%")
_USER_STORAGE = "K"


# The same few keys (a switch's TPKs and PVKs) arrive in every request: their parsed
# form is kept (a failed parse raises and is not kept).
_parse_key = lru_cache(maxsize=4096)(EncryptedKey.parse)


class FieldReader:
    """Consume the fields of one command (after the command code, before 0x19).

    >>> r = FieldReader(b"0012U" + b"A" * 32)
    >>> r.number(2, "max_pin_length"), r.numeric(2, "format"), r.key("pvk").scheme
    (0, '12', 'U')
    """

    __slots__ = ("_data", "_lmk_ids", "_pos", "_text", "lmk_id", "trailer")

    def __init__(self, data: bytes, lmk_ids: Collection[str] = DEFAULT_LMK_IDS) -> None:
        self._data = data
        # The same bytes as text, decoded once (latin-1 maps byte n to character n and
        # never fails): the fixed-width fields are slices of it.
        self._text = data.decode("latin-1")
        self._pos = 0
        self._lmk_ids = lmk_ids
        self.lmk_id = ""  # set by finish() when the request names an LMK
        self.trailer: bytes | None = None  # set by finish(): b"" or 0x19 + trailer

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def peek(self) -> int:
        """The next byte without consuming it (-1 at the end).

        >>> FieldReader(b"7").peek(), FieldReader(b"").peek()
        (55, -1)
        """
        return self._data[self._pos] if self._pos < len(self._data) else -1

    def raw(self, length: int, field: str) -> bytes:
        """The next ``length`` bytes as they are."""
        if length < 0 or self.remaining < length:
            raise HsmError(INVALID_INPUT, field=field)
        chunk = self._data[self._pos : self._pos + length]
        self._pos += length
        return chunk

    def text(self, length: int, field: str) -> str:
        """The next ``length`` printable ASCII characters (consumed even when refused, as
        ``raw`` does: the trailer can only be in what was not read yet)."""
        start = self._pos
        end = start + length
        if length < 0 or end > len(self._data):
            raise HsmError(INVALID_INPUT, field=field)
        self._pos = end
        # The hot path of every command: a string of printable characters all below
        # 0x80 is printable ASCII.
        value = self._text[start:end]
        if not (value.isascii() and value.isprintable()):
            raise HsmError(INVALID_INPUT, field=field)
        return value

    def numeric(self, length: int, field: str) -> str:
        """The next ``length`` decimal digits (an ``N`` field)."""
        value = self.text(length, field)
        if not value.isdigit():
            raise HsmError(INVALID_INPUT, field=field)
        return value

    def number(self, length: int, field: str) -> int:
        """An ``N`` field as an integer."""
        return int(self.numeric(length, field))

    def hex(self, length: int, field: str) -> str:
        """The next ``length`` hex digits (an ``H`` field), upper-cased."""
        value = self.text(length, field)
        if not is_hex(value):
            raise HsmError(INVALID_INPUT, field=field)
        return value.upper()

    def key(self, field: str, *, bare_hex: int = 16) -> EncryptedKey:
        """A key field: ``16H`` (or ``bare_hex``), or scheme letter + 32H/48H.

        An unknown scheme letter gives error 26; a user-storage reference 12.
        """
        first = self._text[self._pos : self._pos + 1]
        if not first or not (first.isascii() and first.isprintable()):
            raise HsmError(INVALID_INPUT, field=field)
        if first == _USER_STORAGE:
            raise HsmError(NO_KEYS_IN_USER_STORAGE, field=field)
        return _parse_key(self.text(key_field_length(first, bare_hex=bare_hex), field))

    def digits(self, max_length: int, field: str) -> str:
        """Up to ``max_length`` decimal digits, as many as come next (maybe none).

        >>> r = FieldReader(b"1234567890128;05")
        >>> r.digits(19, "account"), r.optional(b";"), r.number(2, "pin_length")
        ('1234567890128', True, 5)
        """
        end = self._pos
        while end < len(self._data) and end - self._pos < max_length and (
            0x30 <= self._data[end] <= 0x39
        ):
            end += 1
        return self.raw(end - self._pos, field).decode("ascii")

    def optional(self, delimiter: bytes) -> bool:
        """Consume ``delimiter`` if it comes next; tells whether it did."""
        if self._data.startswith(delimiter, self._pos):
            self._pos += len(delimiter)
            return True
        return False

    def lmk_identifier(self) -> None:
        """Consume ``%`` + 2N if it comes next (unknown id: 13), for commands whose
        fields go on after it (EI's ``#`` key-block fields); :meth:`finish` calls it too.

        >>> r = FieldReader(b"%00#0000")
        >>> r.lmk_identifier(); r.lmk_id, r.optional(b"#")
        ('00', True)
        """
        if self.lmk_id or not self._data.startswith(bytes((_LMK_ID_DELIMITER,)), self._pos):
            return
        lmk_id = self._data[self._pos + 1 : self._pos + 3]
        if len(lmk_id) != 2 or not lmk_id.isdigit():
            raise HsmError(INVALID_INPUT, field="lmk_identifier")
        if lmk_id.decode("ascii") not in self._lmk_ids:
            raise HsmError(INVALID_LMK_IDENTIFIER, field="lmk_identifier")
        self.lmk_id = lmk_id.decode("ascii")
        self._pos += 3

    def finish(self, error: str = INVALID_INPUT) -> None:
        """End of fields: only a trailer may follow, else ``error`` (15 by default).

        Safe to call twice; afterwards :attr:`trailer` holds what to echo back.
        """
        if self.trailer is not None:
            return
        self.lmk_identifier()
        rest = self._data[self._pos :]
        if rest and (rest[0] != TRAILER_DELIMITER or len(rest) - 1 > MAX_TRAILER):
            raise HsmError(error, field="trailing data")
        self.trailer = rest
        self._pos = len(self._data)
