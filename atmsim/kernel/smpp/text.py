"""SMS text: the GSM 03.38 7-bit alphabet, UCS-2, and long messages in segments.

``encode_text`` picks the GSM 7-bit default alphabet (``data_coding`` 0; one septet per
octet, unpacked, as SMPP carries it) when every character has a GSM code, else UCS-2
(``data_coding`` 8, UTF-16BE). ``split_text`` cuts a text into the bodies of the SMS it
takes: one when it fits (160 septets, characters of the extension table such as ``€``
``[`` ``]`` counting two; 70 UCS-2 characters), else segments of 153 septets (67 UCS-2
characters) behind a concatenation header, never splitting an escape pair.
``Reassembler`` puts received segments back together, whether they came with a UDH
(``esm_class`` 0x40) or with ``sar_*`` TLVs.

>>> septets("SALDO 10012345678")
17
>>> decode_text(*encode_text("Saldo JHT Rp1.000,00 €"))
'Saldo JHT Rp1.000,00 €'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DCS_GSM7",
    "DCS_LATIN1",
    "DCS_UCS2",
    "ESM_UDHI",
    "Reassembler",
    "Segment",
    "decode_text",
    "encode_text",
    "is_gsm7",
    "septets",
    "split_text",
]

DCS_GSM7, DCS_IA5, DCS_LATIN1, DCS_UCS2 = 0x00, 0x01, 0x03, 0x08
ESM_UDHI = 0x40  # esm_class bit: short_message starts with a user data header

# GSM 03.38 default alphabet, code 0x00-0x7F (0x1B is the escape to the extension table).
_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
          "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
              "]": 0x3E, "|": 0x40, "€": 0x65}
_ENCODE = {c: i for i, c in enumerate(_BASIC) if c != "\x1b"}
_DECODE_EXT = {v: k for k, v in _EXTENSION.items()}
assert len(_BASIC) == 128

SINGLE_GSM7, PART_GSM7 = 160, 153
SINGLE_UCS2, PART_UCS2 = 70, 67


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` has a GSM 7-bit code.

    >>> is_gsm7("Rp1.000 [OK]"), is_gsm7("Sláinte ✓")
    (True, False)
    """
    return all(c in _ENCODE or c in _EXTENSION for c in text)


def septets(text: str) -> int:
    """How many septets ``text`` takes in the GSM alphabet (extension characters: 2)."""
    return sum(2 if c in _EXTENSION else 1 for c in text)


def encode_text(text: str) -> tuple[bytes, int]:
    """``(octets, data_coding)``: GSM 7-bit unpacked when possible, else UCS-2.

    >>> encode_text("A€")
    (b'A\\x1be', 0)
    >>> encode_text("✓")
    (b"'\\x13", 8)
    """
    if not is_gsm7(text):
        return text.encode("utf-16-be"), DCS_UCS2
    out = bytearray()
    for c in text:
        if c in _EXTENSION:
            out += bytes((0x1B, _EXTENSION[c]))
        else:
            out.append(_ENCODE[c])
    return bytes(out), DCS_GSM7


def decode_text(octets: bytes, data_coding: int) -> str:
    """The text of a message body. ``data_coding`` 0 (GSM 7-bit unpacked; an octet above
    0x7F, which GSM-7 has not, is read as Latin-1, as SMSCs that send ASCII there mean),
    1 (IA5/ASCII), 3 (Latin-1) or 8 (UCS-2); others are read as Latin-1.

    >>> decode_text(b"\\x00\\x11\\x1b<", 0)
    '@_['
    """
    if data_coding == DCS_UCS2:
        return octets[: len(octets) // 2 * 2].decode("utf-16-be", errors="replace")
    if data_coding in (DCS_IA5,):
        return octets.decode("ascii", errors="replace")
    if data_coding != DCS_GSM7:
        return octets.decode("latin-1")
    out: list[str] = []
    escaped = False
    for octet in octets:
        if escaped:
            out.append(_DECODE_EXT.get(octet, " "))
            escaped = False
        elif octet == 0x1B:
            escaped = True
        elif octet < 0x80:
            out.append(_BASIC[octet])
        else:
            out.append(chr(octet))
    return "".join(out)


@dataclass(frozen=True)
class Segment:
    """One SMS of a text: its body octets, and (for a part of a long text) the UDH fields."""

    body: bytes
    data_coding: int
    reference: int = 0
    total: int = 1
    number: int = 1

    @property
    def udh(self) -> bytes:
        """The 8-bit-reference concatenation UDH (IEI 0x00), empty for a single SMS."""
        if self.total == 1:
            return b""
        return bytes((0x05, 0x00, 0x03, self.reference & 0xFF, self.total, self.number))


def split_text(text: str, reference: int = 0) -> list[Segment]:
    """The SMS ``text`` takes; ``reference`` (0-255) ties the segments of a long one.

    >>> [len(s.body) for s in split_text("x" * 160)]
    [160]
    >>> [(len(s.body), s.number, s.total) for s in split_text("x" * 161, reference=9)]
    [(153, 1, 2), (8, 2, 2)]
    """
    body, dcs = encode_text(text)
    if (dcs == DCS_GSM7 and len(body) <= SINGLE_GSM7) or (
            dcs == DCS_UCS2 and len(body) <= 2 * SINGLE_UCS2):
        return [Segment(body, dcs)]  # the usual case: one SMS
    if dcs == DCS_UCS2:
        units = [text[i].encode("utf-16-be") for i in range(len(text))]
        single, part = SINGLE_UCS2, PART_UCS2
        size = lambda unit: len(unit) // 2  # noqa: E731 - characters, as UCS-2 counts them
    else:
        units = [encode_text(c)[0] for c in text]
        single, part = SINGLE_GSM7, PART_GSM7
        size = len
    if sum(size(u) for u in units) <= single:
        return [Segment(body, dcs)]
    parts: list[bytes] = []
    current = bytearray()
    used = 0
    for unit in units:  # an escape pair or a surrogate pair stays in one segment
        if used + size(unit) > part:
            parts.append(bytes(current))
            current, used = bytearray(), 0
        current += unit
        used += size(unit)
    parts.append(bytes(current))
    if len(parts) > 255:
        raise ValueError("a text longer than 255 segments cannot be sent")
    return [Segment(p, dcs, reference & 0xFF, len(parts), n)
            for n, p in enumerate(parts, start=1)]


def parse_udh(short_message: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """``((reference, total, number) or None, the text octets)`` of a body with a UDH.

    >>> parse_udh(bytes((5, 0, 3, 7, 2, 1)) + b"hi")
    ((7, 2, 1), b'hi')
    """
    if not short_message:
        raise ValueError("UDHI set on an empty message")
    length = short_message[0]
    if 1 + length > len(short_message):
        raise ValueError("the user data header runs past the message")
    header, rest = short_message[1:1 + length], short_message[1 + length:]
    at, concat = 0, None
    while at + 2 <= len(header):
        iei, iel = header[at], header[at + 1]
        value = header[at + 2:at + 2 + iel]
        if len(value) != iel:
            raise ValueError("a UDH element runs past its header")
        if iei == 0x00 and iel == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        at += 2 + iel
    return concat, rest


class Reassembler:
    """Joins the segments of long messages by (sender, reference); a text whose segments
    do not all come within ``timeout`` seconds is dropped. ``add`` returns the whole text
    once it has every part, else None.

    >>> r = Reassembler()
    >>> r.add("628", 0x40, bytes((5, 0, 3, 1, 2, 2)) + b"lo", 0) is None
    True
    >>> r.add("628", 0x40, bytes((5, 0, 3, 1, 2, 1)) + b"hel", 0)
    'hello'
    """

    def __init__(self, timeout: float = 120.0, limit: int = 10_000) -> None:
        self.timeout = timeout
        self.limit = limit  # partial texts held at once, the oldest dropped beyond
        self._parts: dict[tuple[str, int, int], tuple[float, dict[int, bytes]]] = {}

    def add(self, sender: str, esm_class: int, short_message: bytes, data_coding: int,
            tlvs: Mapping[int, bytes] | None = None) -> str | None:
        """One received SMS; raises ``ValueError`` for a malformed UDH or sar_* TLV."""
        tlvs = tlvs or {}
        concat: tuple[int, int, int] | None = None
        body = short_message
        if esm_class & ESM_UDHI:
            concat, body = parse_udh(short_message)
        elif 0x020C in tlvs and 0x020E in tlvs and 0x020F in tlvs:
            sar_ref, sar_total, sar_number = tlvs[0x020C], tlvs[0x020E], tlvs[0x020F]
            if len(sar_ref) != 2 or len(sar_total) != 1 or len(sar_number) != 1:
                raise ValueError("sar_* TLVs of the wrong length")
            concat = (int.from_bytes(sar_ref, "big"), sar_total[0], sar_number[0])
        elif not body and 0x0424 in tlvs:
            body = tlvs[0x0424]  # message_payload
        if concat is None or concat[1] <= 1:
            return decode_text(body, data_coding)
        reference, total, number = concat
        if not 1 <= number <= total:
            raise ValueError(f"segment {number} of {total}")
        now = time.monotonic()
        self._expire(now)
        key = (sender, reference, total)
        _, parts = self._parts.setdefault(key, (now, {}))
        parts[number] = body
        if len(parts) < total:
            return None
        del self._parts[key]
        return "".join(decode_text(parts[n], data_coding) for n in range(1, total + 1))

    def _expire(self, now: float) -> None:
        stale = [k for k, (t, _) in self._parts.items() if now - t > self.timeout]
        for key in stale:
            del self._parts[key]
        while len(self._parts) >= self.limit:
            del self._parts[next(iter(self._parts))]
