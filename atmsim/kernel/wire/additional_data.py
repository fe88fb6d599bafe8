"""Fields 48 and 54 of an approved 0210: the participant's details and the JHT balance.

Field 54 (ISO 8583 additional amounts, an..120): account type ``00``, amount type ``01``
(ledger balance), currency ``360``, sign ``C``/``D``, amount in 12 digits of sen (IDR has
two decimals).

Field 48 (ans..999) is a tag-length-value list: a 2-character tag, a 2-digit length, the
value. Tags, in this order:

=====  ==========================================  ==================
tag    value                                       example
=====  ==========================================  ==================
``KP``  KPJ, 11 digits                              ``10012345678``
``NM``  participant name, masked                    ``B**i S*****o``
``ST``  status: ``AKTIF`` or ``NONAKTIF``           ``AKTIF``
``DT``  balance date, ``YYYYMMDD``                  ``20261031``
``SG``  segment (``PU``, ``BPU``, ``PMI``), opt.    ``PU``
=====  ==========================================  ==================

Readers skip tags they do not know, so new tags can be added.
"""

from __future__ import annotations

__all__ = ["encode_balance_amount", "decode_balance_amount", "encode_tlv", "decode_tlv"]


def encode_balance_amount(balance_sen: int) -> str:
    """Example:

    >>> encode_balance_amount(1234567800)
    '0001360C001234567800'
    """
    sign = "C" if balance_sen >= 0 else "D"
    return f"0001360{sign}{abs(balance_sen):012d}"


def decode_balance_amount(field54: str) -> int:
    """The ledger balance in sen from field 54 (the first ``01`` amount in it).

    >>> decode_balance_amount("0001360C001234567800")
    1234567800
    """
    for start in range(0, len(field54) - 19, 20):
        block = field54[start:start + 20]
        if block[2:4] == "01":
            value = int(block[8:20])
            return -value if block[7] == "D" else value
    raise ValueError("field 54 holds no ledger balance (amount type 01)")


def encode_tlv(items: list[tuple[str, str]]) -> str:
    """Example:

    >>> encode_tlv([("KP", "10012345678"), ("ST", "AKTIF")])
    'KP1110012345678ST05AKTIF'
    """
    out = []
    for tag, value in items:
        if len(tag) != 2 or len(value) > 99:
            raise ValueError(f"tag {tag!r} or its value does not fit the TLV layout")
        out.append(f"{tag}{len(value):02d}{value}")
    return "".join(out)


def decode_tlv(data: str) -> dict[str, str]:
    """Example:

    >>> decode_tlv("KP1110012345678ST05AKTIF")
    {'KP': '10012345678', 'ST': 'AKTIF'}
    """
    items: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        tag, length = data[pos:pos + 2], data[pos + 2:pos + 4]
        if len(tag) < 2 or not length.isdigit():
            raise ValueError(f"field 48 TLV broken at character {pos}")
        end = pos + 4 + int(length)
        if end > len(data):
            raise ValueError(f"field 48 TLV value of tag {tag} runs past the end")
        items[tag] = data[pos + 4:end]
        pos = end
    return items
