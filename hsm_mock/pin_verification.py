"""PIN verification algorithms: IBM 3624 offset and Visa PVV.

IBM 3624 (DA/EA verify, DE generate): the 12-character PIN validation data, with
its ``N`` replaced by the last 5 account digits, is a 16-hex block; encrypting it
with the PVK and decimalising the result with the decimalisation table gives the
*natural PIN*. The offset is the PIN minus the natural PIN, digit by digit mod 10,
left-justified and padded with ``F`` to 12. Thales's *check length* is the minimum
PIN length: verification compares the left-most ``check_length`` digits.

Visa PVV (DC/EC verify, DG generate): the transformed security parameter (11
right-most PAN digits excluding the check digit + PVKI + 4 left-most PIN digits)
is encrypted with the PVK pair; the PVV is the first four decimal digits of the
result, topped up from its letters (A-F as 0-5) when there are fewer than four.
"""

from __future__ import annotations

import hmac
from collections import Counter
from functools import lru_cache

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import (
    DEC_TABLE_ERROR,
    INVALID_INPUT,
    KEY_LENGTH_ERROR,
    HsmError,
)
from atmsim.kernel.crypto.pin_blocks import MAX_PIN_LENGTH, MIN_PIN_LENGTH, check_account, check_pin
from hsm_mock.keys import is_hex

__all__ = [
    "ibm3624_pin_from_offset",
    "check_dec_table",
    "ibm3624_natural_pin",
    "ibm3624_offset",
    "ibm3624_verify",
    "validation_block",
    "visa_pvv",
    "visa_pvv_for_account",
    "visa_pvv_verify",
]

_OFFSET_LENGTH = 12
# Digit-wise addition mod 10 of two decimal digits, for natural PIN + offset.
_SUM_MOD_10 = {f"{a}{b}": str((a + b) % 10) for a in range(10) for b in range(10)}


def _add_digits(left: str, right: str) -> str:
    """Digit-wise sum mod 10 of two digit strings of one length.

    >>> _add_digits("4524", "0987")
    '4401'
    """
    return "".join(map(_SUM_MOD_10.__getitem__, map(str.__add__, left, right)))


@lru_cache(maxsize=256)
def _decimalisation(dec_table: str) -> dict[int, int]:
    """``str.translate`` table: a hex digit (either case) to its decimalisation digit."""
    return str.maketrans("0123456789ABCDEF" "abcdef", dec_table + dec_table[10:])


@lru_cache(maxsize=256)  # an issuer has a handful of tables; each request carries one
def check_dec_table(dec_table: str) -> str:
    """Return a plain decimalisation table if valid, else error 25.

    The manual's rule: 16 digits, at least 8 distinct, none more than 4 times.

    >>> check_dec_table("0123456789012345")
    '0123456789012345'
    """
    if len(dec_table) != 16 or not dec_table.isascii() or not dec_table.isdigit():
        raise HsmError(DEC_TABLE_ERROR, field="dec_table")
    counts = Counter(dec_table)
    if len(counts) < 8 or max(counts.values()) > 4:
        raise HsmError(DEC_TABLE_ERROR, field="dec_table")
    return dec_table


def validation_block(validation_data: str, account12: str) -> bytes:
    """The 8-byte block the PVK encrypts: validation data with ``N`` filled in.

    >>> validation_block("12345N678901", "400000123456").hex().upper()
    '1234523456678901'
    """
    check_account(account12)
    if len(validation_data) != 12 or validation_data.upper().count("N") != 1:
        raise HsmError(INVALID_INPUT, field="validation_data")
    block = validation_data.upper().replace("N", account12[-5:])
    if not is_hex(block):
        raise HsmError(INVALID_INPUT, field="validation_data")
    return bytes.fromhex(block)


def ibm3624_natural_pin(
    pvk: bytes, validation_data: str, account12: str, dec_table: str, length: int
) -> str:
    """The first ``length`` digits of the IBM 3624 natural PIN.

    >>> pvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> ibm3624_natural_pin(pvk, "11223N667788", "000000034455", "1234567890123456", 4)
    '4524'
    """
    table = check_dec_table(dec_table)
    encrypted = tdes.encrypt_ecb(pvk, validation_block(validation_data, account12))
    return encrypted.hex()[:length].translate(_decimalisation(table))


def ibm3624_offset(
    pvk: bytes,
    pin: str,
    validation_data: str,
    account12: str,
    dec_table: str,
    check_length: int,
) -> str:
    """IBM 3624 offset for ``pin``: one digit per PIN digit, F-padded to 12.

    ``check_length`` (4-12, at most the PIN length) is validated as DE does.

    >>> pvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> ibm3624_offset(pvk, "4524", "11223N667788", "000000034455", "1234567890123456", 4)
    '0000FFFFFFFF'
    """
    check_pin(pin)
    _check_check_length(check_length)
    if check_length > len(pin):
        raise HsmError(INVALID_INPUT, field="check_length")
    natural = ibm3624_natural_pin(pvk, validation_data, account12, dec_table, len(pin))
    offset = "".join(str((int(p) - int(n)) % 10) for p, n in zip(pin, natural, strict=True))
    return offset.ljust(_OFFSET_LENGTH, "F")


def ibm3624_verify(
    pvk: bytes,
    pin: str,
    offset: str,
    validation_data: str,
    account12: str,
    dec_table: str,
    check_length: int,
) -> bool:
    """True when the left-most ``check_length`` PIN digits match natural PIN + offset.

    >>> pvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> ibm3624_verify(pvk, "4524", "0000FFFFFFFF", "11223N667788", "000000034455",
    ...                "1234567890123456", 4)
    True
    """
    check_pin(pin)
    _check_check_length(check_length)
    if len(offset) != _OFFSET_LENGTH or not is_hex(offset):
        raise HsmError(INVALID_INPUT, field="offset")
    offset_digits = offset[:check_length]
    if not offset_digits.isdigit():
        raise HsmError(INVALID_INPUT, field="offset")
    natural = ibm3624_natural_pin(pvk, validation_data, account12, dec_table, check_length)
    if len(pin) < check_length:
        return False
    return hmac.compare_digest(_add_digits(natural, offset_digits), pin[:check_length])


def ibm3624_pin_from_offset(
    pvk: bytes,
    offset: str,
    validation_data: str,
    account12: str,
    dec_table: str,
    check_length: int,
) -> str:
    """The PIN an IBM 3624 offset stands for: natural PIN + offset, digit by digit (EE).

    The offset's digits before its F padding give the PIN length.

    >>> pvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> ibm3624_pin_from_offset(pvk, "0000FFFFFFFF", "11223N667788", "000000034455",
    ...                         "1234567890123456", 4)
    '4524'
    """
    _check_check_length(check_length)
    digits = offset.rstrip("F")
    if (len(offset) != _OFFSET_LENGTH or not digits.isdigit()
            or not check_length <= len(digits) <= MAX_PIN_LENGTH):
        raise HsmError(INVALID_INPUT, field="offset")
    natural = ibm3624_natural_pin(pvk, validation_data, account12, dec_table, len(digits))
    return _add_digits(natural, digits)


def visa_pvv(pvk_pair: bytes, pan: str, pvki: int, pin: str) -> str:
    """Visa PVV for a full PAN (its check digit is the last digit).

    >>> visa_pvv(bytes.fromhex("13345779133457791334577913345779"), "1234567890123", 0, "1234")
    '1226'
    """
    if len(pan) < 12 or not pan.isascii() or not pan.isdigit():
        raise HsmError(INVALID_INPUT, field="pan")
    return _pvv(pvk_pair, pan[-12:-1], pvki, pin)


def visa_pvv_for_account(pvk_pair: bytes, account12: str, pvki: int, pin: str) -> str:
    """Visa PVV from the 12-digit account field the host commands carry.

    >>> key = bytes.fromhex("13345779133457791334577913345779")
    >>> visa_pvv_for_account(key, "123456789012", 0, "1234")
    '1226'
    """
    check_account(account12)
    return _pvv(pvk_pair, account12[1:], pvki, pin)


def visa_pvv_verify(pvk_pair: bytes, account12: str, pvki: int, pin: str, pvv: str) -> bool:
    """True when ``pvv`` is the PVV of ``pin`` for this account and PVKI."""
    if len(pvv) != 4 or not pvv.isdigit():
        raise HsmError(INVALID_INPUT, field="pvv")
    return hmac.compare_digest(visa_pvv_for_account(pvk_pair, account12, pvki, pin), pvv)


def _pvv(pvk_pair: bytes, account11: str, pvki: int, pin: str) -> str:
    if len(pvk_pair) != 16:
        raise HsmError(KEY_LENGTH_ERROR, field="pvk")
    if not 0 <= pvki <= 9:
        raise HsmError(INVALID_INPUT, field="pvki")
    check_pin(pin)
    tsp = account11 + str(pvki) + pin[:4]
    result = tdes.encrypt_ecb(pvk_pair, bytes.fromhex(tsp)).hex().upper()
    digits = [c for c in result if c.isdigit()]
    # Too few decimal digits: the letters, in order, stand in as A..F -> 0..5.
    letters = [str(int(c, 16) - 10) for c in result if not c.isdigit()]
    return "".join((digits + letters)[:4])


def _check_check_length(check_length: int) -> None:
    if not MIN_PIN_LENGTH <= check_length <= MAX_PIN_LENGTH:
        raise HsmError(INVALID_INPUT, field="check_length")
