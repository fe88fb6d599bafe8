"""How a wire profile puts each part of a message into bytes: ASCII, BCD, EBCDIC or binary.

A message is the same everywhere in atmsim whatever the profile (``IsoMessage``: the values
the ``default`` profile carries, binary fields as hex text, track 2 with ``=``); only the
bytes differ. ``WireEncoding`` says which bytes, per part of the message:

- ``mti``: ``ascii``, ``ebcdic`` (4 characters) or ``bcd`` (2 bytes);
- ``bitmap``: ``hex`` (16 characters in the text encoding) or ``binary`` (8 bytes);
- ``numeric`` (``n`` and ``z`` fields): ``ascii``, ``ebcdic`` or ``bcd`` (two digits a byte,
  an odd count padded with a ``0`` on the left; track 2 ``=`` as the nibble ``D``, padded
  with an ``F`` on the right);
- ``text`` (``an``, ``ans``, ``x+n``): ``ascii`` or ``ebcdic``;
- ``binary`` (``b`` fields): ``hex`` (hex text in the text encoding) or ``binary`` (bytes);
- ``lengths`` (LLVAR/LLLVAR prefixes): ``ascii``/``ebcdic`` (2 or 3 digits), ``bcd`` (1 or
  2 bytes), ``binary`` (1 or 2 bytes, unsigned big-endian). A BCD field's length counts its
  digits, any other field's its bytes.

EBCDIC is code page 500 (``cp500``), the international EBCDIC of IBM hosts. A field of the
table may name its own encoding (``FieldDef.encoding``), e.g. track 2 in ASCII in a BCD
profile. :class:`FieldCodec` is one field so encoded: its pyiso8583 spec, the way from an
atmsim value to pyiso8583's and back, and a reader of its bytes for messages pyiso8583
refuses (what the switch can still read of them to address a format error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atmsim.kernel.wire.fields import FieldDef

__all__ = ["WireEncoding", "FieldCodec", "ENCODING_CHOICES", "TEXT_CODECS"]

# What a profile file may say for each part, first the default's.
ENCODING_CHOICES: dict[str, tuple[str, ...]] = {
    "mti": ("ascii", "ebcdic", "bcd"),
    "bitmap": ("hex", "binary"),
    "numeric": ("ascii", "ebcdic", "bcd"),
    "text": ("ascii", "ebcdic"),
    "binary": ("hex", "binary"),
    "lengths": ("ascii", "ebcdic", "bcd", "binary"),
}
TEXT_CODECS = {"ascii": "ascii", "ebcdic": "cp500"}  # Python codec of each text encoding
_BINARY = "b"  # pyiso8583's data_enc for bytes and BCD


@dataclass(frozen=True)
class WireEncoding:
    """The encodings of a profile; the defaults are the ``default`` profile's (all ASCII)."""

    mti: str = "ascii"
    bitmap: str = "hex"
    numeric: str = "ascii"
    text: str = "ascii"
    binary: str = "hex"
    lengths: str = "ascii"

    def __post_init__(self) -> None:
        for part, allowed in ENCODING_CHOICES.items():
            value = getattr(self, part)
            if value not in allowed:
                raise ValueError(f"{part} = {value!r}: use {', '.join(allowed)}")

    @property
    def is_ascii_text(self) -> bool:
        """Every byte is the ASCII character of the value: the direct path can serve it."""
        return self == WireEncoding()

    @property
    def text_codec(self) -> str:
        return TEXT_CODECS[self.text]

    def mti_spec(self) -> dict[str, Any]:
        data_enc = _BINARY if self.mti == "bcd" else TEXT_CODECS[self.mti]
        return {"data_enc": data_enc, "len_enc": "ascii", "len_type": 0,
                "max_len": 2 if self.mti == "bcd" else 4, "desc": "Message type indicator"}

    def bitmap_spec(self, desc: str) -> dict[str, Any]:
        if self.bitmap == "binary":
            return {"data_enc": _BINARY, "len_enc": "ascii", "len_type": 0, "max_len": 8,
                    "desc": desc}
        return {"data_enc": self.text_codec, "len_enc": "ascii", "len_type": 0,
                "max_len": 16, "desc": desc}

    def field_encoding(self, fdef: FieldDef) -> str:
        """The encoding of ``fdef``'s content: its own, else its kind's in this profile."""
        if fdef.encoding:
            return fdef.encoding
        if fdef.kind in ("n", "z"):
            return self.numeric
        if fdef.kind == "b":
            return self.binary
        return self.text

    def codec(self, fdef: FieldDef) -> FieldCodec:
        return FieldCodec(fdef, self.field_encoding(fdef), self.lengths,
                          self.text_codec)


class FieldCodec:
    """One field of a profile: its pyiso8583 spec and its values both ways."""

    def __init__(self, fdef: FieldDef, encoding: str, lengths: str, text_codec: str) -> None:
        self.fdef = fdef
        self.bcd = encoding == "bcd" and fdef.kind in ("n", "z")
        raw_bytes = fdef.kind == "b" and encoding == "binary"
        if self.bcd or raw_bytes:
            data_enc = _BINARY
        elif encoding in TEXT_CODECS:
            data_enc = TEXT_CODECS[encoding]
        else:
            data_enc = text_codec  # "hex" for a b field: hex text in the text encoding
        self.data_enc = data_enc
        self.nibbles = self.bcd  # a BCD field's length counts digits, not bytes
        # The length of a value pyiso8583 counts: digits (BCD), bytes (binary) or characters.
        self.max_len = fdef.max_len if (self.bcd or raw_bytes) else fdef.wire_len
        self.lengths = lengths
        self.len_type = _prefix_bytes(fdef.prefix, lengths)
        spec: dict[str, Any] = {
            "data_enc": data_enc, "len_type": self.len_type, "max_len": self.max_len,
            "len_enc": {"bcd": "bcd", "binary": _BINARY}.get(lengths, TEXT_CODECS.get(lengths)),
            "desc": fdef.name}
        if self.nibbles:
            spec["len_count"] = "nibbles"
            spec["right_pad" if fdef.kind == "z" else "left_pad"] = (
                "F" if fdef.kind == "z" else "0")
        self.spec = spec

    @property
    def longest_prefix(self) -> int | None:
        """The largest length this field's prefix can say (None for a fixed length):
        99 for ASCII LLVAR, 255 for a 1-byte binary length, and so on."""
        if not self.len_type:
            return None
        if self.lengths == "binary":
            return 256 ** self.len_type - 1
        digits = self.len_type * 2 if self.lengths == "bcd" else self.len_type
        return 10 ** digits - 1

    def to_wire(self, value: str) -> str:
        """The value as pyiso8583 takes it for this field."""
        if self.bcd and self.fdef.kind == "z":
            return value.replace("=", "D")
        return value

    def from_wire(self, value: str) -> str:
        """pyiso8583's value of this field as atmsim's (the inverse of ``to_wire``)."""
        if self.bcd and self.fdef.kind == "z":
            return value.replace("D", "=")
        return value

    def prefix_digits(self, prefix: bytes) -> bool:
        """A text length prefix is digits only: pyiso8583 reads " 3", "+3" and a tab as 3."""
        if self.lengths in TEXT_CODECS:
            text = prefix.decode(TEXT_CODECS[self.lengths], "replace")
            return text.isdigit() and text.isascii()
        return True  # BCD (read as hex digits) and binary lengths cannot be misread

    def read(self, raw: bytes, position: int) -> tuple[str | None, int] | None:
        """The value at ``position`` (None when its bytes are not a value of its kind) and
        where the next field starts; None when this field's extent cannot be known (a
        length prefix that cannot be read or is above the maximum, the end of the message).
        """
        size = self.max_len
        if self.len_type:
            prefix = raw[position:position + self.len_type]
            if len(prefix) != self.len_type:
                return None
            size_or_none = self._length(prefix)
            if size_or_none is None or size_or_none > self.max_len:
                return None
            size = size_or_none
            position += self.len_type
        width = (size + 1) // 2 if self.nibbles else size
        chunk = raw[position:position + width]
        if len(chunk) != width:
            return None
        return self._value(chunk, size), position + width

    def _length(self, prefix: bytes) -> int | None:
        if self.lengths == "binary":
            return int.from_bytes(prefix, "big")
        text = prefix.hex() if self.lengths == "bcd" else prefix.decode(
            TEXT_CODECS[self.lengths], "replace")
        return int(text) if text.isdigit() and text.isascii() else None

    def _value(self, chunk: bytes, size: int) -> str | None:
        if self.data_enc == _BINARY:
            text = chunk.hex().upper()
            if self.nibbles and size % 2:
                pad = self.spec.get("left_pad") or ""
                if pad:
                    return text[1:] if text[0] == pad else None
                return self.from_wire(text[:-1]) if text[-1] == "F" else None
            return self.from_wire(text)
        try:
            return chunk.decode(self.data_enc)
        except UnicodeDecodeError:
            return None


def _prefix_bytes(digits: int, lengths: str) -> int:
    """Bytes of an LL (2) or LLL (3) length prefix in a length encoding."""
    if not digits:
        return 0
    if lengths in TEXT_CODECS:
        return digits
    return (digits + 1) // 2  # BCD: 2 digits a byte; binary: 1 byte to 255, 2 beyond
