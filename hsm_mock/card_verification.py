"""Card verification values: the Visa CVV / Mastercard CVC method (the same algorithm).

The 3-digit value on the magnetic stripe (CVV, from service code 101 etc.), printed on
the card (CVV2, service code 000) or in the chip's track 2 (iCVV, service code 999) is
the same computation over different inputs:

1. PAN, expiry date and service code, as digits, right-padded with zeros to 32;
2. the first 16 digits encrypted with key A (single DES), XORed with the last 16;
3. that encrypted with A, decrypted with B, encrypted with A (two-key TDES);
4. the result's decimal digits left to right, then its letters A-F as 0-5; the first 3.
"""

from __future__ import annotations

import hmac

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import INVALID_INPUT, KEY_LENGTH_ERROR, HsmError

__all__ = ["cvv", "verify_cvv"]

_CVV_LENGTH = 3


def cvv(cvk_pair: bytes, pan: str, expiry: str, service_code: str) -> str:
    """The CVV/CVC of a card, under a CVK pair (16 bytes: key A then key B).

    The Visa published example (CVK A 0123456789ABCDEF, B FEDCBA9876543210):

    >>> cvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> cvv(cvk, "4123456789012345", "8701", "101")
    '561'
    """
    if len(cvk_pair) != 16:
        raise HsmError(KEY_LENGTH_ERROR, field="cvk")
    if not (pan.isascii() and pan.isdigit() and 12 <= len(pan) <= 19):
        raise HsmError(INVALID_INPUT, field="pan")
    for value, name in ((expiry, "expiry"), (service_code, "service_code")):
        if not (value.isascii() and value.isdigit()):
            raise HsmError(INVALID_INPUT, field=name)
    data = (pan + expiry + service_code).ljust(32, "0")
    key_a = cvk_pair[:8]
    first = tdes.encrypt_ecb(key_a, bytes.fromhex(data[:16]))
    chained = bytes(a ^ b for a, b in zip(first, bytes.fromhex(data[16:32]), strict=True))
    result = tdes.encrypt_ecb(cvk_pair, chained).hex().upper()
    digits = [c for c in result if c.isdigit()]
    letters = [str(int(c, 16) - 10) for c in result if not c.isdigit()]
    return "".join((digits + letters)[:_CVV_LENGTH])


def verify_cvv(cvk_pair: bytes, value: str, pan: str, expiry: str, service_code: str) -> bool:
    """True when ``value`` is the card's CVV (compared in constant time)."""
    if len(value) != _CVV_LENGTH or not value.isdigit():
        raise HsmError(INVALID_INPUT, field="cvv")
    return hmac.compare_digest(cvv(cvk_pair, pan, expiry, service_code), value)
