"""Clear PIN blocks: build one from a PIN, extract the PIN from one.

Thales format codes and what they are:

* ``01`` ISO 9564-1 format 0 (ANSI X9.8): ``0 L PIN F..F`` XOR ``0000`` + account;
* ``03`` IBM 3624 (Diebold): the PIN left-justified, padded with ``F``;
* ``05`` ISO format 1: ``1 L PIN random``, no account;
* ``47`` ISO format 3: ``3 L PIN fill(A-F)`` XOR ``0000`` + account.

The account is the 12 right-most PAN digits excluding the check digit. Errors
follow the manual: 23 unknown format, 24 PIN length outside 4-12, 20 anything
else wrong in the block. The HSM decrypts a block and extracts the PIN here; the
clear PIN never leaves the process.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from hsm_mock.errors import (
    INVALID_ACCOUNT,
    INVALID_PIN_BLOCK_FORMAT,
    PIN_BLOCK_ERROR,
    PIN_LENGTH_ERROR,
    HsmError,
)

__all__ = [
    "FORMAT_IBM3624",
    "FORMAT_ISO0",
    "FORMAT_ISO1",
    "FORMAT_ISO3",
    "MAX_PIN_LENGTH",
    "MIN_PIN_LENGTH",
    "SUPPORTED_FORMATS",
    "build_pin_block",
    "check_account",
    "check_pin",
    "extract_pin",
]

FORMAT_ISO0 = "01"
FORMAT_IBM3624 = "03"
FORMAT_ISO1 = "05"
FORMAT_ISO3 = "47"
SUPPORTED_FORMATS = frozenset({FORMAT_ISO0, FORMAT_IBM3624, FORMAT_ISO1, FORMAT_ISO3})

MIN_PIN_LENGTH = 4
MAX_PIN_LENGTH = 12

# Formats whose PIN field is XORed with the account field.
_ACCOUNT_FORMATS = frozenset({FORMAT_ISO0, FORMAT_ISO3})
# Control nibble of the ISO formats.
_CONTROL = {FORMAT_ISO0: "0", FORMAT_ISO1: "1", FORMAT_ISO3: "3"}

Random = Callable[[int], bytes]


def check_pin(pin: str) -> str:
    """Return ``pin`` if it is 4-12 decimal digits (else error 24 or 20).

    >>> check_pin("123456")
    '123456'
    """
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH:
        raise HsmError(PIN_LENGTH_ERROR, field="pin")
    if not pin.isascii() or not pin.isdigit():
        raise HsmError(PIN_BLOCK_ERROR, field="pin")
    return pin


def build_pin_block(
    pin: str,
    format_code: str,
    account12: str = "",
    *,
    rng: Random = secrets.token_bytes,
) -> bytes:
    """Build the clear 8-byte PIN block for ``pin`` in a Thales format.

    >>> build_pin_block("92389", FORMAT_ISO0, "400000123456").hex().upper()
    '0592789FFFEDCBA9'
    """
    _check_format(format_code)
    check_pin(pin)
    if format_code == FORMAT_IBM3624:
        return bytes.fromhex(pin.ljust(16, "F"))
    fill_length = 14 - len(pin)
    if format_code == FORMAT_ISO0:
        fill = "F" * fill_length
    elif format_code == FORMAT_ISO1:
        fill = rng(fill_length).hex()[:fill_length]
    else:
        fill = "".join("ABCDEF"[b % 6] for b in rng(fill_length))
    field = bytes.fromhex(_CONTROL[format_code] + f"{len(pin):X}" + pin + fill)
    if format_code in _ACCOUNT_FORMATS:
        return _xor(field, _account_field(account12))
    return field


def extract_pin(block: bytes, format_code: str, account12: str = "") -> str:
    """Extract the PIN from a clear PIN block, checking it as the HSM does.

    >>> extract_pin(bytes.fromhex("0592789FFFEDCBA9"), FORMAT_ISO0, "400000123456")
    '92389'
    """
    _check_format(format_code)
    if len(block) != 8:
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    if format_code in _ACCOUNT_FORMATS:
        block = _xor(block, _account_field(account12))
    nibbles = block.hex().upper()
    if format_code == FORMAT_IBM3624:
        return _extract_ibm3624(nibbles)
    if nibbles[0] != _CONTROL[format_code]:
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    length = int(nibbles[1], 16)
    if not MIN_PIN_LENGTH <= length <= MAX_PIN_LENGTH:
        raise HsmError(PIN_LENGTH_ERROR, field="pin_block")
    pin, fill = nibbles[2 : 2 + length], nibbles[2 + length :]
    if not pin.isdigit():
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    if format_code == FORMAT_ISO0 and fill != "F" * len(fill):
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    if format_code == FORMAT_ISO3 and not all(c in "ABCDEF" for c in fill):
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    return pin


def _extract_ibm3624(nibbles: str) -> str:
    pin = nibbles.rstrip("F")
    if pin and not pin.isdigit():
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH:
        raise HsmError(PIN_LENGTH_ERROR, field="pin_block")
    return pin


def _check_format(format_code: str) -> None:
    if format_code not in SUPPORTED_FORMATS:
        raise HsmError(INVALID_PIN_BLOCK_FORMAT, field="pin_block_format")


def check_account(account12: str) -> str:
    """Return ``account12`` if it is 12 decimal digits (else error 22).

    >>> check_account("400000123456")
    '400000123456'
    """
    if len(account12) != 12 or not account12.isascii() or not account12.isdigit():
        raise HsmError(INVALID_ACCOUNT, field="account")
    return account12


def _account_field(account12: str) -> bytes:
    return bytes.fromhex("0000" + check_account(account12))


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
