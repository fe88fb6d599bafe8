"""The wire profile ``default`` (docs/wire.md): ISO 8583:1987 in ASCII on pyiso8583.

pyiso8583 knows lengths and bitmaps; this module adds what it leaves to its user: the type
of every field (``n``, ``an``, ``ans``, ``z``, ``b``), fixed-length padding rules, and
errors that name the field. ``decode`` either returns a message whose every field is valid
or raises ``WireError`` saying which field failed and why; the error keeps what can still
be read of the message (``salvage``) so the switch can answer with response code 30.
Length prefixes are digits only, on both paths.

Speed: a well-formed message takes the direct path (:mod:`atmsim.kernel.wire.direct`),
about four times faster than pyiso8583 plus the checks. Anything it does not accept goes
through pyiso8583 and the full checks here, which produce the error, so errors are the
same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import iso8583

from atmsim.kernel.wire.direct import DirectCodec
from atmsim.kernel.wire.fields import (
    BITMAP,
    CHARACTER_CLASSES,
    ISO8583_1987,
    MTI,
    FieldDef,
    IsoMessage,
)

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
    """A field table plus the pyiso8583 spec derived from it."""

    name: str
    fields: dict[int, FieldDef]
    spec: dict[str, dict[str, Any]]
    direct: DirectCodec = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived from the field table once; the dataclass is frozen, hence the setattr.
        object.__setattr__(self, "direct", DirectCodec(self.fields))

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
        direct = self.direct.encode(message)
        if direct is not None:
            return direct
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
        if not MTI.fullmatch(mti):
            return found
        found["t"] = mti
        if not BITMAP.fullmatch(primary):
            return found
        bits, width, position = int(primary, 16), 64, 20
        if bits >> 63:
            try:
                secondary = raw[20:36].decode("ascii")
            except UnicodeDecodeError:
                return found
            if not BITMAP.fullmatch(secondary):
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
