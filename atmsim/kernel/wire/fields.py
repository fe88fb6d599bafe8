"""The ISO 8583:1987 data element table: type, length kind and maximum length of each field.

Types: ``n`` digits; ``an`` letters and digits (space only as right padding); ``ans``
printable ASCII; ``z`` track 2 (digits and ``=``/``D``); ``b`` binary, which the ASCII
profile carries as hexadecimal text (``max_len`` counts bytes); ``xn`` a ``C``/``D`` sign
then digits. ``prefix`` is 0 for a fixed length, 2 for LLVAR and 3 for LLLVAR.

Also what both codec paths (``profile`` and ``direct``) check a value against: the
character class of each kind and the shape of the MTI and of a bitmap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["IsoMessage", "FieldDef", "ISO8583_1987", "CHARACTER_CLASSES", "MTI", "BITMAP",
           "parse_format"]

IsoMessage = dict[str, str]
"""A message as field-number strings to values: ``{"t": "0200", "2": "5264…", "52": "…"}``.
Binary fields hold their hexadecimal text, as the ASCII profile carries them."""

# A value of each kind, as a whole (``fullmatch``); lengths are checked apart.
CHARACTER_CLASSES: dict[str, re.Pattern[str]] = {
    "n": re.compile(r"[0-9]*"),
    "an": re.compile(r"[A-Za-z0-9]*( *)"),
    "ans": re.compile(r"[\x20-\x7e]*"),
    "z": re.compile(r"[0-9]+([=D][0-9]*)?"),
    "b": re.compile(r"[0-9A-Fa-f]*"),
    "xn": re.compile(r"[CD][0-9]*"),
}
MTI = re.compile(r"[0-9]{4}")
BITMAP = re.compile(r"[0-9A-Fa-f]{16}")  # one bitmap (primary or secondary) in hex


@dataclass(frozen=True)
class FieldDef:
    number: int
    kind: str
    max_len: int
    prefix: int
    name: str
    # How this one field's content travels when it differs from what its profile gives its
    # kind (a wire profile file's per-field ``encoding``); "" for the profile's.
    encoding: str = ""

    @property
    def fixed(self) -> bool:
        return self.prefix == 0

    @property
    def wire_len(self) -> int:
        """Characters on the wire for a full-length value (hex doubles binary fields)."""
        return self.max_len * 2 if self.kind == "b" else self.max_len

    def describe(self) -> str:
        size = f"{self.max_len}" if self.fixed else f"..{self.max_len}"
        return f"{self.kind}{size}"

    @property
    def format(self) -> str:
        """The field as ISO 8583 writes it, the notation of a profile file: ``n6``,
        ``n..19`` (LLVAR), ``ans...999`` (LLLVAR), ``x+n9``.

        >>> ISO8583_1987[2].format, ISO8583_1987[48].format, ISO8583_1987[28].format
        ('n..19', 'ans...999', 'x+n9')
        """
        kind = "x+n" if self.kind == "xn" else self.kind
        return f"{kind}{'.' * self.prefix}{self.max_len}"


_FORMAT = re.compile(r"(n|an|ans|z|b|x\+n)(\.{2,3})?([0-9]{1,3})")


def parse_format(text: str) -> tuple[str, int, int]:
    """Kind, maximum length and length-prefix digits of an ISO 8583 field format.

    >>> parse_format("n..19"), parse_format("ans...999"), parse_format("b8")
    (('n', 19, 2), ('ans', 999, 3), ('b', 8, 0))
    >>> parse_format("n.19")
    Traceback (most recent call last):
    ValueError: 'n.19' is not a field format: a type (n, an, ans, z, b, x+n), then .. for \
LLVAR or ... for LLLVAR or nothing for a fixed length, then the length (1-999), e.g. n6, n..19
    """
    match = _FORMAT.fullmatch(text.strip())
    if match is None or int(match[3]) == 0:
        raise ValueError(f"{text!r} is not a field format: a type (n, an, ans, z, b, x+n), "
                         "then .. for LLVAR or ... for LLLVAR or nothing for a fixed length, "
                         "then the length (1-999), e.g. n6, n..19")
    kind = "xn" if match[1] == "x+n" else match[1]
    return kind, int(match[3]), len(match[2] or "")


def _f(number: int, kind: str, max_len: int, prefix: int, name: str) -> FieldDef:
    return FieldDef(number, kind, max_len, prefix, name)


_TABLE = [
    _f(2, "n", 19, 2, "Primary account number"),
    _f(3, "n", 6, 0, "Processing code"),
    _f(4, "n", 12, 0, "Amount, transaction"),
    _f(5, "n", 12, 0, "Amount, settlement"),
    _f(6, "n", 12, 0, "Amount, cardholder billing"),
    _f(7, "n", 10, 0, "Transmission date and time"),
    _f(8, "n", 8, 0, "Amount, cardholder billing fee"),
    _f(9, "n", 8, 0, "Conversion rate, settlement"),
    _f(10, "n", 8, 0, "Conversion rate, cardholder billing"),
    _f(11, "n", 6, 0, "System trace audit number"),
    _f(12, "n", 6, 0, "Time, local transaction"),
    _f(13, "n", 4, 0, "Date, local transaction"),
    _f(14, "n", 4, 0, "Date, expiration"),
    _f(15, "n", 4, 0, "Date, settlement"),
    _f(16, "n", 4, 0, "Date, conversion"),
    _f(17, "n", 4, 0, "Date, capture"),
    _f(18, "n", 4, 0, "Merchant type"),
    _f(19, "n", 3, 0, "Acquiring institution country code"),
    _f(20, "n", 3, 0, "PAN extended, country code"),
    _f(21, "n", 3, 0, "Forwarding institution country code"),
    _f(22, "n", 3, 0, "Point of service entry mode"),
    _f(23, "n", 3, 0, "Card sequence number"),
    _f(24, "n", 3, 0, "Network international identifier"),
    _f(25, "n", 2, 0, "Point of service condition code"),
    _f(26, "n", 2, 0, "Point of service PIN capture code"),
    _f(27, "n", 1, 0, "Authorizing identification response length"),
    _f(28, "xn", 9, 0, "Amount, transaction fee"),
    _f(29, "xn", 9, 0, "Amount, settlement fee"),
    _f(30, "xn", 9, 0, "Amount, transaction processing fee"),
    _f(31, "xn", 9, 0, "Amount, settlement processing fee"),
    _f(32, "n", 11, 2, "Acquiring institution identification code"),
    _f(33, "n", 11, 2, "Forwarding institution identification code"),
    _f(34, "ans", 28, 2, "Primary account number, extended"),
    _f(35, "z", 37, 2, "Track 2 data"),
    _f(36, "n", 104, 3, "Track 3 data"),
    _f(37, "an", 12, 0, "Retrieval reference number"),
    _f(38, "an", 6, 0, "Authorization identification response"),
    _f(39, "an", 2, 0, "Response code"),
    _f(40, "an", 3, 0, "Service restriction code"),
    _f(41, "ans", 8, 0, "Card acceptor terminal identification"),
    _f(42, "ans", 15, 0, "Card acceptor identification code"),
    _f(43, "ans", 40, 0, "Card acceptor name/location"),
    _f(44, "an", 25, 2, "Additional response data"),
    _f(45, "an", 76, 2, "Track 1 data"),
    _f(46, "an", 999, 3, "Additional data - ISO"),
    _f(47, "an", 999, 3, "Additional data - national"),
    _f(48, "ans", 999, 3, "Additional data - private"),
    _f(49, "an", 3, 0, "Currency code, transaction"),
    _f(50, "an", 3, 0, "Currency code, settlement"),
    _f(51, "an", 3, 0, "Currency code, cardholder billing"),
    _f(52, "b", 8, 0, "Personal identification number data"),
    _f(53, "n", 16, 0, "Security related control information"),
    _f(54, "an", 120, 3, "Additional amounts"),
    *[_f(n, "ans", 999, 3, name) for n, name in [
        (55, "Reserved ISO"), (56, "Reserved ISO"), (57, "Reserved national"),
        (58, "Reserved national"), (59, "Reserved national"), (60, "Reserved national"),
        (61, "Reserved private"), (62, "Reserved private"), (63, "Reserved private")]],
    _f(64, "b", 8, 0, "Message authentication code"),
    _f(65, "b", 8, 0, "Bitmap, extended"),
    _f(66, "n", 1, 0, "Settlement code"),
    _f(67, "n", 2, 0, "Extended payment code"),
    _f(68, "n", 3, 0, "Receiving institution country code"),
    _f(69, "n", 3, 0, "Settlement institution country code"),
    _f(70, "n", 3, 0, "Network management information code"),
    _f(71, "n", 4, 0, "Message number"),
    _f(72, "n", 4, 0, "Message number, last"),
    _f(73, "n", 6, 0, "Date, action"),
    *[_f(n, "n", 10, 0, name) for n, name in [
        (74, "Credits, number"), (75, "Credits, reversal number"), (76, "Debits, number"),
        (77, "Debits, reversal number"), (78, "Transfer, number"),
        (79, "Transfer, reversal number"), (80, "Inquiries, number"),
        (81, "Authorizations, number")]],
    *[_f(n, "n", 12, 0, name) for n, name in [
        (82, "Credits, processing fee amount"), (83, "Credits, transaction fee amount"),
        (84, "Debits, processing fee amount"), (85, "Debits, transaction fee amount")]],
    *[_f(n, "n", 16, 0, name) for n, name in [
        (86, "Credits, amount"), (87, "Credits, reversal amount"), (88, "Debits, amount"),
        (89, "Debits, reversal amount")]],
    _f(90, "n", 42, 0, "Original data elements"),
    _f(91, "an", 1, 0, "File update code"),
    _f(92, "an", 2, 0, "File security code"),
    _f(93, "an", 5, 0, "Response indicator"),
    _f(94, "an", 7, 0, "Service indicator"),
    _f(95, "an", 42, 0, "Replacement amounts"),
    _f(96, "b", 8, 0, "Message security code"),
    _f(97, "xn", 17, 0, "Amount, net settlement"),
    _f(98, "ans", 25, 0, "Payee"),
    _f(99, "n", 11, 2, "Settlement institution identification code"),
    _f(100, "n", 11, 2, "Receiving institution identification code"),
    _f(101, "ans", 17, 2, "File name"),
    _f(102, "ans", 28, 2, "Account identification 1"),
    _f(103, "ans", 28, 2, "Account identification 2"),
    *[_f(n, "ans", 999, 3, "Reserved") for n in range(104, 128)],
    _f(128, "b", 8, 0, "Message authentication code"),
]

ISO8583_1987: dict[int, FieldDef] = {f.number: f for f in _TABLE}
