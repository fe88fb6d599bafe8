"""The wire profile ``default`` of DESIGN.md: ISO 8583:1987 in ASCII on pyiso8583.

pyiso8583 knows lengths and bitmaps; this module adds what it leaves to its user: the type
of every field (``n``, ``an``, ``ans``, ``z``, ``b``), fixed-length padding rules, and
errors that name the field. ``decode`` either returns a message whose every field is valid
or raises ``WireError`` saying which field failed and why; the error keeps what can still
be read of the message (``salvage``) so the switch can answer with response code 30.
Length prefixes are digits only, on both paths.

Speed: a well-formed message takes a direct path (one pass over the ASCII text, checks
precompiled per field), about four times faster than pyiso8583 plus the checks; every
inquiry is encoded and decoded twice (ATM and switch). Anything the direct path does not
accept goes through pyiso8583 and the full checks, which produce the error, so errors are
the same either way. Tests hold the direct path to pyiso8583's bytes and fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import iso8583

from atmsim.kernel.wire.fields import ISO8583_1987, FieldDef

__all__ = ["IsoMessage", "WireError", "WireProfile", "default_profile"]

IsoMessage = dict[str, str]
"""A message as field-number strings to values: ``{"t": "0200", "2": "5264…", "52": "…"}``.
Binary fields hold their hexadecimal text, as the ASCII profile carries them."""

_CHECKS: dict[str, re.Pattern[str]] = {
    "n": re.compile(r"[0-9]*"),
    "an": re.compile(r"[A-Za-z0-9]*( *)"),
    "ans": re.compile(r"[\x20-\x7e]*"),
    "z": re.compile(r"[0-9]+([=D][0-9]*)?"),
    "b": re.compile(r"[0-9A-Fa-f]*"),
    "xn": re.compile(r"[CD][0-9]*"),
}

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


_MTI = re.compile(r"[0-9]{4}")
_BITMAP = re.compile(r"[0-9A-Fa-f]{16}")
_BITMAP_CACHE_LIMIT = 1024  # distinct bitmaps remembered; ATMs send a handful


# One field for the direct path: (message key, bit, length-prefix digits, maximum or exact
# wire length, fullmatch of its character class). A plain tuple: unpacking it is the
# cheapest way to reach its parts in the per-field loop.
_FastField = tuple[str, int, int, int, Callable[[str], object]]


def _fast_field(fdef: FieldDef) -> _FastField | None:
    """``fdef`` for the direct path; None for a kind it leaves to the full path."""
    if fdef.kind == "b" and not fdef.fixed:
        return None  # an odd hex length is possible there: the full checks catch it
    # Lengths are checked while slicing, and an ``an`` value padded on the left cannot
    # match its pattern, so the character class is all that is left to check.
    return (str(fdef.number), fdef.number, fdef.prefix, fdef.wire_len,
            _CHECKS[fdef.kind].fullmatch)


@dataclass(frozen=True)
class WireProfile:
    """A field table plus the pyiso8583 spec derived from it."""

    name: str
    fields: dict[int, FieldDef]
    spec: dict[str, dict[str, Any]]
    _fast: dict[str, _FastField] = dataclass_field(default_factory=dict, repr=False,
                                                   compare=False)
    _bitmaps: dict[str, tuple[_FastField, ...] | None] = dataclass_field(
        default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for number, fdef in self.fields.items():
            fast = _fast_field(fdef) if number > 1 else None
            if fast is not None:
                self._fast[fast[0]] = fast

    @classmethod
    def from_fields(cls, name: str, fields: dict[int, FieldDef]) -> WireProfile:
        spec: dict[str, dict[str, Any]] = {
            "h": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 0,
                  "desc": "Message header"},
            "t": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 4,
                  "desc": "Message type indicator"},
            "p": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 16,
                  "desc": "Bitmap, primary"},
            "1": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 16,
                  "desc": "Bitmap, secondary"},
        }
        for number, fdef in fields.items():
            spec[str(number)] = {"data_enc": "ascii", "len_enc": "ascii",
                                 "len_type": fdef.prefix, "max_len": fdef.wire_len,
                                 "desc": fdef.name}
        return cls(name, dict(fields), spec)

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
        if not _CHECKS[fdef.kind].fullmatch(value):
            raise WireError(number, f"must hold {_KIND_WORDS[fdef.kind]} ({fdef.describe()})")
        if fdef.kind == "an" and value.startswith(" ") and value.strip():
            raise WireError(number, "an field padded on the left; pad with spaces on the right")

    def check(self, message: IsoMessage) -> None:
        mti = message.get("t", "")
        if not re.fullmatch(r"[0-9]{4}", mti):
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
        fast = self._encode_fast(message)
        if fast is not None:
            return fast
        body = {k: v for k, v in message.items() if k not in ("p", "1")}
        self.check(body)
        try:
            raw, _ = iso8583.encode(body, self.spec)
        except iso8583.EncodeError as exc:
            raise WireError(str(exc.field or ""), exc.msg, dict(message)) from None
        return bytes(raw)

    def decode(self, raw: bytes) -> IsoMessage:
        """Decode and validate one message (without framing).

        >>> profile = default_profile()
        >>> profile.decode(profile.encode({"t": "0800", "11": "000001", "70": "301"}))["70"]
        '301'
        """
        fast = self._decode_fast(raw)
        if fast is not None:
            return fast
        try:
            return self._decode_full(raw)
        except WireError as exc:
            # What the error keeps is what can be trusted of the message, read past the
            # culprit where its extent is known; the switch addresses its 30 with it.
            exc.partial = self.salvage(raw)
            raise

    def _decode_full(self, raw: bytes) -> IsoMessage:
        if len(raw) < 4:
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
        message = {k: v for k, v in decoded.items() if k not in ("p", "1", "h")}
        self.check(message)
        return message

    def _check_length_prefixes(self, encoded: dict[str, Any]) -> None:
        """Every LL/LLL prefix is digits only. pyiso8583 reads a prefix with ``int()``,
        which takes " 3", "+3", "3 " and a tab as 3: on the wire those are format errors."""
        for key, parts in encoded.items():
            prefix = parts.get("len", b"") if isinstance(parts, dict) else b""
            if prefix and not (prefix.isdigit() and prefix.isascii()):
                raise WireError(key, f"length prefix {bytes(prefix)!r} is not "
                                     f"{len(prefix)} ASCII digits")

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
        try:
            mti = raw[:4].decode("ascii")
            primary = raw[4:20].decode("ascii")
        except UnicodeDecodeError:
            return found
        if not _MTI.fullmatch(mti):
            return found
        found["t"] = mti
        if not _BITMAP.fullmatch(primary):
            return found
        bits, width, position = int(primary, 16), 64, 20
        if bits >> 63:
            try:
                secondary = raw[20:36].decode("ascii")
            except UnicodeDecodeError:
                return found
            if not _BITMAP.fullmatch(secondary):
                return found
            bits, width, position = bits << 64 | int(secondary, 16), 128, 36
        for bit in range(2, width + 1):
            if not bits >> (width - bit) & 1:
                continue
            fdef = self.fields.get(bit)
            if fdef is None:
                return found
            size = fdef.wire_len
            if fdef.prefix:
                prefix = raw[position:position + fdef.prefix]
                if len(prefix) != fdef.prefix or not prefix.isdigit():
                    return found
                size = int(prefix)
                if size > fdef.wire_len:
                    return found
                position += fdef.prefix
            chunk = raw[position:position + size]
            if len(chunk) != size:
                return found
            position += size
            try:
                value = chunk.decode("ascii")
                self.check_field(str(bit), value)
            except (UnicodeDecodeError, WireError):
                continue
            found[str(bit)] = value
        return found


    # -- the direct path for well-formed messages ----------------------------------------

    def _encode_fast(self, message: IsoMessage) -> bytes | None:
        """The encoded message, or None to let the full path encode it (or say why not)."""
        mti = message.get("t", "")
        if not isinstance(mti, str) or not _MTI.fullmatch(mti):
            return None
        fields: list[tuple[int, int, str]] = []
        for key, value in message.items():
            if key in ("t", "p", "1"):
                continue
            spec = self._fast.get(key)
            if spec is None or not isinstance(value, str):
                return None
            _, bit, prefix, size, match = spec
            if (len(value) > size if prefix else len(value) != size) or not match(value):
                return None
            fields.append((bit, prefix, value))
        fields.sort()
        bitmap = 0
        for bit, _, _ in fields:
            bitmap |= 1 << (128 - bit)
        if bitmap & ((1 << 64) - 1):
            bitmap |= 1 << 127  # bit 1: a secondary bitmap follows
            parts = [mti, f"{bitmap:032X}"]
        else:
            parts = [mti, f"{bitmap >> 64:016X}"]
        for _, prefix, value in fields:
            if prefix:
                parts.append(f"{len(value):0{prefix}d}")
            parts.append(value)
        try:
            return "".join(parts).encode("ascii")
        except UnicodeEncodeError:
            return None

    def _fields_of(self, bitmap_text: str) -> tuple[_FastField, ...] | None:
        """The fields a bitmap announces, in order; None if one is not for the direct path."""
        if bitmap_text in self._bitmaps:
            return self._bitmaps[bitmap_text]
        bits = int(bitmap_text, 16)
        width = len(bitmap_text) * 4
        found: list[_FastField] = []
        result: tuple[_FastField, ...] | None = None
        for bit in range(2, width + 1):
            if bits >> (width - bit) & 1:
                spec = self._fast.get(str(bit))
                if spec is None:
                    break
                found.append(spec)
        else:
            result = tuple(found)
        if len(self._bitmaps) < _BITMAP_CACHE_LIMIT:
            self._bitmaps[bitmap_text] = result
        return result

    def _decode_fast(self, raw: bytes) -> IsoMessage | None:
        """The decoded, checked message, or None to let the full path find the fault."""
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        mti, primary = text[:4], text[4:20]
        if not _MTI.fullmatch(mti) or not _BITMAP.fullmatch(primary):
            return None
        position = 20
        bitmap_text = primary
        if primary[0] in "89ABCDEFabcdef":  # bit 1: a secondary bitmap follows
            secondary = text[20:36]
            if not _BITMAP.fullmatch(secondary):
                return None
            bitmap_text, position = primary + secondary, 36
        specs = self._fields_of(bitmap_text)
        if specs is None:
            return None
        message: IsoMessage = {"t": mti}
        for key, _, prefix, wire_len, match in specs:
            size = wire_len
            if prefix:
                length_text = text[position:position + prefix]
                if len(length_text) != prefix or not length_text.isdigit():
                    return None
                size = int(length_text)
                if size > wire_len:
                    return None
                position += prefix
            value = text[position:position + size]
            if len(value) != size or not match(value):
                return None
            message[key] = value
            position += size
        return message if position == len(text) else None


def _plain(msg: str) -> str:
    # pyiso8583 says "Field data is 3 bytes, larger than maximum 2": keep it, lower-cased.
    return msg[:1].lower() + msg[1:] if msg else "cannot be decoded"


_DEFAULT: WireProfile | None = None


def default_profile() -> WireProfile:
    """The ``default`` profile: ISO 8583:1987, ASCII, hex bitmaps and binary fields."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = WireProfile.from_fields("default", ISO8583_1987)
    return _DEFAULT
