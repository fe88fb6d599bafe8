"""The direct path of a wire profile: well-formed messages in one pass over the ASCII text.

Every inquiry is encoded and decoded twice (ATM and switch), and pyiso8583 plus the
field checks take 60-90 µs a call; this path takes about a quarter of that, with the
checks precompiled per field and the field list of each bitmap cached. It only ever
accepts: anything it is not sure of (a field kind it leaves out, a length, a character,
a bitmap it cannot read) makes it answer None, and the profile then runs pyiso8583 and
the full checks, which find and name the fault. So errors are the same on both paths,
and tests/test_wire_direct_path.py holds its bytes and fields to pyiso8583's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from atmsim.kernel.wire.fields import BITMAP, CHARACTER_CLASSES, MTI, FieldDef, IsoMessage

__all__ = ["DirectCodec"]

_BITMAP_CACHE_LIMIT = 1024  # distinct bitmaps remembered; ATMs send a handful

# One field: (message key, bit, length-prefix digits, maximum or exact wire length,
# fullmatch of its character class). A plain tuple: unpacking it is the cheapest way to
# reach its parts in the per-field loop.
_Field = tuple[str, int, int, int, Callable[[str], object]]


def _direct_field(fdef: FieldDef) -> _Field | None:
    """``fdef`` for the direct path; None for a kind it leaves to the full path."""
    if fdef.kind == "b" and not fdef.fixed:
        return None  # an odd hex length is possible there: the full checks catch it
    # Lengths are checked while slicing, and an ``an`` value padded on the left cannot
    # match its pattern, so the character class is all that is left to check.
    return (str(fdef.number), fdef.number, fdef.prefix, fdef.wire_len,
            CHARACTER_CLASSES[fdef.kind].fullmatch)


class DirectCodec:
    """Encode and decode well-formed messages of a field table; None for anything else.

    >>> from atmsim.kernel.wire.fields import ISO8583_1987
    >>> codec = DirectCodec(ISO8583_1987)
    >>> codec.encode({"t": "0800", "11": "000001", "70": "301"})
    b'080080200000000000000400000000000000000001301'
    >>> codec.decode(b'080080200000000000000400000000000000000001301')
    {'t': '0800', '11': '000001', '70': '301'}
    >>> codec.encode({"t": "0800", "11": "1"}) is None  # the full path says why not
    True
    """

    def __init__(self, fields: Mapping[int, FieldDef]) -> None:
        self._fields: dict[str, _Field] = {}
        for number, fdef in fields.items():
            spec = _direct_field(fdef) if number > 1 else None
            if spec is not None:
                self._fields[spec[0]] = spec
        self._bitmaps: dict[str, tuple[_Field, ...] | None] = {}

    def encode(self, message: IsoMessage) -> bytes | None:
        """The encoded message, or None to let the full path encode it (or say why not)."""
        mti = message.get("t", "")
        if not isinstance(mti, str) or not MTI.fullmatch(mti):
            return None
        fields: list[tuple[int, int, str]] = []
        for key, value in message.items():
            if key in ("t", "p", "1"):
                continue
            spec = self._fields.get(key)
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

    def decode(self, raw: bytes) -> IsoMessage | None:
        """The decoded, checked message, or None to let the full path find the fault."""
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        mti, primary = text[:4], text[4:20]
        if not MTI.fullmatch(mti) or not BITMAP.fullmatch(primary):
            return None
        position = 20
        bitmap_text = primary
        if primary[0] in "89ABCDEFabcdef":  # bit 1: a secondary bitmap follows
            secondary = text[20:36]
            if not BITMAP.fullmatch(secondary):
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

    def _fields_of(self, bitmap_text: str) -> tuple[_Field, ...] | None:
        """The fields a bitmap announces, in order; None if one is not for the direct path."""
        if bitmap_text in self._bitmaps:
            return self._bitmaps[bitmap_text]
        bits = int(bitmap_text, 16)
        width = len(bitmap_text) * 4
        found: list[_Field] = []
        result: tuple[_Field, ...] | None = None
        for bit in range(2, width + 1):
            if bits >> (width - bit) & 1:
                spec = self._fields.get(str(bit))
                if spec is None:
                    break
                found.append(spec)
        else:
            result = tuple(found)
        if len(self._bitmaps) < _BITMAP_CACHE_LIMIT:
            self._bitmaps[bitmap_text] = result
        return result
