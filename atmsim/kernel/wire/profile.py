"""Wire profiles (docs/wire.md, docs/profiles.md): a field table and its encodings on
pyiso8583; ``default`` is ISO 8583:1987 in ASCII.

pyiso8583 knows lengths, bitmaps and encodings (ASCII, BCD, EBCDIC, binary); this module
adds what it leaves to its user: the type of every field (``n``, ``an``, ``ans``, ``z``,
``b``), fixed-length padding rules, and errors that name the field. ``decode`` either
returns a message whose every field is valid or raises ``WireError`` saying which field
failed and why; the error keeps what can still be read of the message (``salvage``) so
the switch can answer with response code 30.
Length prefixes are digits only, on both paths.

Every profile gives the same ``IsoMessage`` for the same message (binary fields as hex
text, track 2 with ``=``): the switch and the ATM never see the encoding, and the checks,
the echo and the format-error answers are the same for every profile.

Speed: a well-formed message of an all-ASCII profile (``default``) takes the direct path
(:mod:`atmsim.kernel.wire.direct`), about four times faster than pyiso8583 plus the
checks. Anything it does not accept, and every message of a BCD, binary or EBCDIC
profile, goes through pyiso8583 and the full checks here, which produce the error, so
errors are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import iso8583

from atmsim.kernel.wire.direct import DirectCodec
from atmsim.kernel.wire.encoding import FieldCodec, WireEncoding
from atmsim.kernel.wire.fields import (
    BITMAP,
    CHARACTER_CLASSES,
    MTI,
    FieldDef,
    IsoMessage,
)
from atmsim.kernel.wire.header import MessageHeader

__all__ = ["IsoMessage", "WireError", "WireProfile", "default_profile"]

_KIND_WORDS = {
    "n": "digits only",
    "an": "letters and digits only (spaces only as right padding)",
    "ans": "printable ASCII only",
    "z": "track 2 characters only (digits and one '=' separator)",
    "b": "hexadecimal characters only",
    "xn": "'C' or 'D' followed by digits",
}


@dataclass
class WireError(ValueError):
    """A message that does not fit the profile. ``field`` names the culprit ("t" is the
    MTI, "p" the bitmap, "" the frame as a whole)."""

    field: str
    reason: str
    partial: IsoMessage = dataclass_field(default_factory=dict)
    position: int | None = None

    def __str__(self) -> str:
        where = {"t": "MTI", "p": "bitmap", "1": "secondary bitmap", "": "message"}.get(
            self.field, f"field {self.field}")
        at = f" (byte {self.position})" if self.position is not None else ""
        return f"{where}: {self.reason}{at}"


@dataclass(frozen=True)
class WireProfile:
    """A field table, how its parts are encoded, the frame header and the framing kind,
    plus the pyiso8583 spec derived from them. ``default_profile()`` is the ``default``
    profile; ``atmsim.kernel.wire.profile_file`` reads any other from a TOML file."""

    name: str
    fields: dict[int, FieldDef]
    spec: dict[str, dict[str, Any]]
    encoding: WireEncoding = dataclass_field(default_factory=WireEncoding)
    header: MessageHeader = dataclass_field(default_factory=MessageHeader)
    framing: str = "2be"  # the length header's kind (``Framing``), before any header
    description: str = ""
    # The direct path serves a profile whose every byte is ASCII text (``default``);
    # any other encoding goes through pyiso8583.
    direct: DirectCodec | None = dataclass_field(init=False, repr=False, compare=False)
    codecs: dict[str, FieldCodec] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived from the field table once; the dataclass is frozen, hence the setattr.
        object.__setattr__(self, "direct", DirectCodec(self.fields)
                           if self.encoding.is_ascii_text and not _own_encodings(self.fields)
                           else None)
        object.__setattr__(self, "codecs", {str(n): self.encoding.codec(f)
                                            for n, f in self.fields.items()})

    @classmethod
    def from_fields(cls, name: str, fields: dict[int, FieldDef],
                    encoding: WireEncoding | None = None, header: MessageHeader | None = None,
                    framing: str = "2be", description: str = "") -> WireProfile:
        encoding = encoding or WireEncoding()
        spec: dict[str, dict[str, Any]] = {
            "h": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 0,
                  "desc": "Message header"},
            "t": encoding.mti_spec(),
            "p": encoding.bitmap_spec("Bitmap, primary"),
            "1": encoding.bitmap_spec("Bitmap, secondary"),
        }
        for number, fdef in fields.items():
            spec[str(number)] = encoding.codec(fdef).spec
        return cls(name, dict(fields), spec, encoding, header or MessageHeader(), framing,
                   description)

    # -- the header in front of the MTI ---------------------------------------------

    def split_header(self, raw: bytes) -> tuple[bytes, bytes]:
        """The frame header (b"" when the profile has none) and the message after it."""
        size = self.header.length
        if not size:
            return b"", raw
        if len(raw) < size:
            raise WireError("", f"frame of {len(raw)} bytes is shorter than its "
                                f"{size}-byte header")
        return raw[:size], raw[size:]

    # -- validation -----------------------------------------------------------------

    def check_field(self, number: str, value: str) -> None:
        """Raise ``WireError`` unless ``value`` is a valid content for field ``number``."""
        fdef = self.fields.get(int(number))
        if fdef is None:
            raise WireError(number, "is not defined in this profile")
        if fdef.fixed and len(value) != fdef.wire_len:
            raise WireError(number, f"must be exactly {fdef.wire_len} characters "
                                    f"({fdef.describe()}), got {len(value)}")
        if not fdef.fixed and len(value) > fdef.wire_len:
            raise WireError(number, f"longer than {fdef.wire_len} ({fdef.describe()})")
        if fdef.kind == "b" and len(value) % 2:
            raise WireError(number, "binary field with an odd number of hex characters")
        if not CHARACTER_CLASSES[fdef.kind].fullmatch(value):
            raise WireError(number, f"must hold {_KIND_WORDS[fdef.kind]} ({fdef.describe()})")
        if fdef.kind == "an" and value.startswith(" ") and value.strip():
            raise WireError(number, "an field padded on the left; pad with spaces on the right")

    def check(self, message: IsoMessage) -> None:
        mti = message.get("t", "")
        if not MTI.fullmatch(mti):
            raise WireError("t", f"MTI must be 4 digits, got {mti!r}", dict(message))
        for key, value in message.items():
            if key in ("t", "p", "1", "h"):
                continue
            try:
                self.check_field(key, value)
            except WireError as exc:
                exc.partial = dict(message)
                raise

    # -- codec ----------------------------------------------------------------------

    def encode(self, message: IsoMessage) -> bytes:
        """Encode a message (without framing). Raises ``WireError`` naming the field.

        >>> default_profile().encode({"t": "0800", "7": "1121060000", "11": "000001",
        ...                           "70": "301"})[:20]
        b'08008220000000000000'
        """
        if self.direct is not None:
            direct = self.direct.encode(message)
            if direct is not None:
                return direct
        body = {k: v for k, v in message.items() if k not in ("p", "1", "h")}
        self.check(body)
        doc = {k: v if k == "t" else self.codecs[k].to_wire(v) for k, v in body.items()}
        try:
            raw, _ = iso8583.encode(doc, self.spec)
        except iso8583.EncodeError as exc:
            raise WireError(str(exc.field or ""), exc.msg, dict(message)) from None
        return bytes(raw)

    def decode(self, raw: bytes) -> IsoMessage:
        """Decode and validate one message (without framing).

        >>> profile = default_profile()
        >>> profile.decode(profile.encode({"t": "0800", "11": "000001", "70": "301"}))["70"]
        '301'
        """
        if self.direct is not None:
            direct = self.direct.decode(raw)
            if direct is not None:
                return direct
        try:
            return self._decode_full(raw)
        except WireError as exc:
            # What the error keeps is what can be trusted of the message, read past the
            # culprit where its extent is known; the switch addresses its 30 with it.
            exc.partial = self.salvage(raw)
            raise

    def _decode_full(self, raw: bytes) -> IsoMessage:
        mti_len = self.spec["t"]["max_len"]
        if len(raw) < mti_len:
            raise WireError("t", f"message of {len(raw)} bytes is too short for an MTI")
        try:
            decoded, encoded = iso8583.decode(bytearray(raw), self.spec)
        except iso8583.DecodeError as exc:
            # A length prefix pyiso8583 let through (below) may have misaligned the rest:
            # then that prefix is the fault to name, not what it led to.
            self._check_length_prefixes(exc.doc_enc)
            raise WireError(str(exc.field or ""), _plain(exc.msg), {}, exc.pos) from None
        except UnicodeDecodeError as exc:
            raise WireError("", "bytes that are not ASCII", {}, exc.start) from None
        self._check_length_prefixes(encoded)
        message = {k: v if k == "t" else self.codecs[k].from_wire(v)
                   for k, v in decoded.items() if k not in ("p", "1", "h")}
        self.check(message)
        return message

    def _check_length_prefixes(self, encoded: dict[str, Any]) -> None:
        """Every LL/LLL prefix in text is digits only. pyiso8583 reads a prefix with
        ``int()``, which takes " 3", "+3", "3 " and a tab as 3: on the wire those are
        format errors."""
        for key, parts in encoded.items():
            prefix = parts.get("len", b"") if isinstance(parts, dict) else b""
            codec = self.codecs.get(key)
            if prefix and codec is not None and not codec.prefix_digits(bytes(prefix)):
                raise WireError(key, f"length prefix {bytes(prefix)!r} is not "
                                     f"{len(prefix)} {self.encoding.lengths.upper()} digits")

    def salvage(self, raw: bytes) -> IsoMessage:
        """What can be read of a message that does not decode, to address an answer.

        The MTI, and every field that passes its own check and whose place is known: a
        field with bad content (a letter in an ``n`` field, a byte that is not ASCII) is
        left out and reading goes on after it; it stops where a field's extent cannot be
        known (an unreadable bitmap, a length prefix that is not all digits or above the
        field's maximum, a field the profile does not define, the end of the message).
        Guessing a prefix such as "1 " as 1 would read the STAN from the wrong place and
        could address the answer to another request of the same ATM.
        """
        found: IsoMessage = {}
        read = self._read_mti_and_bitmap(raw)
        if read is None:
            return found
        mti, bits, width, position = read
        found["t"] = mti
        if bits is None:
            return found
        for bit in range(2, width + 1):
            if not bits >> (width - bit) & 1:
                continue
            codec = self.codecs.get(str(bit))
            if codec is None:
                return found
            field = codec.read(raw, position)
            if field is None:
                return found
            value, position = field
            if value is None:
                continue
            try:
                self.check_field(str(bit), value)
            except WireError:
                continue
            found[str(bit)] = value
        return found

    def _read_mti_and_bitmap(self, raw: bytes) -> tuple[str, int | None, int, int] | None:
        """MTI, bitmap bits (None when unreadable), their count and where fields start;
        None without a readable MTI."""
        mti_len = self.spec["t"]["max_len"]
        mti = _text_or_hex(raw[:mti_len], self.spec["t"]["data_enc"])
        if mti is None or len(raw) < mti_len or not MTI.fullmatch(mti):
            return None
        bitmap_len = self.spec["p"]["max_len"]
        primary = self._bitmap_at(raw, mti_len)
        if primary is None:
            return mti, None, 64, mti_len
        if not primary >> 63:
            return mti, primary, 64, mti_len + bitmap_len
        secondary = self._bitmap_at(raw, mti_len + bitmap_len)
        if secondary is None:
            return mti, None, 128, mti_len
        return mti, primary << 64 | secondary, 128, mti_len + 2 * bitmap_len

    def _bitmap_at(self, raw: bytes, position: int) -> int | None:
        text = _text_or_hex(raw[position:position + self.spec["p"]["max_len"]],
                            self.spec["p"]["data_enc"])
        return int(text, 16) if text is not None and BITMAP.fullmatch(text) else None


def _text_or_hex(chunk: bytes, data_enc: str) -> str | None:
    """``chunk`` as pyiso8583 reads it: hex of bytes for "b", else text; None if it is not."""
    if data_enc == "b":
        return chunk.hex().upper()
    try:
        return chunk.decode(data_enc)
    except UnicodeDecodeError:
        return None


def _own_encodings(fields: dict[int, FieldDef]) -> bool:
    return any(f.encoding and f.encoding not in ("ascii", "hex") for f in fields.values())


def _plain(msg: str) -> str:
    # pyiso8583 says "Field data is 3 bytes, larger than maximum 2": keep it, lower-cased.
    return msg[:1].lower() + msg[1:] if msg else "cannot be decoded"


_DEFAULT: WireProfile | None = None


def default_profile() -> WireProfile:
    """The ``default`` profile (its file ``profiles/default.toml``): ISO 8583:1987, ASCII,
    hex bitmaps and binary fields, 2-byte big-endian length, no header."""
    global _DEFAULT
    if _DEFAULT is None:
        from atmsim.kernel.wire.profile_file import load_profile  # it imports this module

        _DEFAULT = load_profile("default")
    return _DEFAULT
