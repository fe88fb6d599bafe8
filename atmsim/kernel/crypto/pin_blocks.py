"""Clear PIN blocks: build one from a PIN, extract the PIN from one.

Thales format codes and what they are:

* ``01`` ISO 9564-1 format 0 (ANSI X9.8): ``0 L PIN F..F`` XOR ``0000`` + account;
* ``03`` IBM 3624 (Diebold): the PIN left-justified, padded with ``F``;
* ``05`` ISO format 1: ``1 L PIN random``, no account;
* ``47`` ISO format 3: ``3 L PIN fill(A-F)`` XOR ``0000`` + account;
* ``48`` ISO format 4 (AES, 16-byte blocks): ``4 L PIN A..A`` + 8 random bytes,
  enciphered as AES(K, AES(K, PIN field) XOR PAN field). It needs an AES key, which
  a variant LMK cannot hold, so the host commands answer 23 for it; the functions
  are here for the ATM side and for a key-block LMK.

PCI PIN Security Requirement 3-3 limits translations (:func:`check_translation`):
ISO 0, 3 and 4 only go to ISO 0, 3 or 4; ISO 1 goes to ISO 0, 3 or 4 but not back to
ISO 1; a non-standard format (03) may go to a standard one, never the reverse.

The account is the 12 right-most PAN digits excluding the check digit. Errors
follow the manual: 23 unknown format, 24 PIN length outside 4-12, 20 anything
else wrong in the block. The HSM decrypts a block and extracts the PIN here; the
clear PIN never leaves the process.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from atmsim.kernel.crypto.errors import (
    INVALID_ACCOUNT,
    INVALID_PIN_BLOCK_FORMAT,
    KEY_LENGTH_ERROR,
    PIN_BLOCK_ERROR,
    PIN_LENGTH_ERROR,
    HsmError,
)

__all__ = [
    "account_number_12",
    "FORMAT_IBM3624",
    "FORMAT_ISO0",
    "FORMAT_ISO1",
    "FORMAT_ISO3",
    "FORMAT_ISO4",
    "MAX_PIN_LENGTH",
    "MIN_PIN_LENGTH",
    "SUPPORTED_FORMATS",
    "build_pin_block",
    "check_account",
    "check_pin",
    "check_translation",
    "decipher_iso4",
    "encipher_iso4",
    "extract_pin",
]

FORMAT_ISO0 = "01"
FORMAT_IBM3624 = "03"
FORMAT_ISO1 = "05"
FORMAT_ISO3 = "47"
FORMAT_ISO4 = "48"
SUPPORTED_FORMATS = frozenset({FORMAT_ISO0, FORMAT_IBM3624, FORMAT_ISO1, FORMAT_ISO3})

MIN_PIN_LENGTH = 4
MAX_PIN_LENGTH = 12

# Formats whose PIN field is XORed with the account field.
_ACCOUNT_FORMATS = frozenset({FORMAT_ISO0, FORMAT_ISO3})
# Control nibble of the ISO formats.
_CONTROL = {FORMAT_ISO0: "0", FORMAT_ISO1: "1", FORMAT_ISO3: "3"}

Random = Callable[[int], bytes]

# PCI PIN 3-3: source format -> destination formats a translation may produce.
_STANDARD_TARGETS = frozenset({FORMAT_ISO0, FORMAT_ISO3, FORMAT_ISO4})
_ALLOWED_TRANSLATIONS: dict[str, frozenset[str]] = {
    FORMAT_ISO0: _STANDARD_TARGETS,
    FORMAT_ISO3: _STANDARD_TARGETS,
    FORMAT_ISO4: _STANDARD_TARGETS,
    FORMAT_ISO1: _STANDARD_TARGETS,
    FORMAT_IBM3624: _STANDARD_TARGETS | {FORMAT_ISO1, FORMAT_IBM3624},
}


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


def account_number_12(pan: str) -> str:
    """The 12 right-most PAN digits excluding the check digit (ISO 9564-1), left-padded
    with zeros for a short PAN: the account field of PIN blocks and PIN verification.

    >>> account_number_12("5264220000100010")
    '422000010001'
    """
    return pan[:-1][-12:].rjust(12, "0")


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
    if len(a) != len(b):
        raise ValueError("blocks of different lengths")
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(len(a))


def check_translation(source_format: str, destination_format: str) -> None:
    """Refuse (error 23) a format conversion PCI PIN 3-3 forbids.

    >>> check_translation("05", "01")
    >>> check_translation("01", "05")
    Traceback (most recent call last):
    atmsim.kernel.crypto.errors.HsmError: error 23 in destination_format
    """
    allowed = _ALLOWED_TRANSLATIONS.get(source_format)
    if allowed is None:
        raise HsmError(INVALID_PIN_BLOCK_FORMAT, field="source_format")
    if destination_format not in allowed:
        raise HsmError(INVALID_PIN_BLOCK_FORMAT, field="destination_format")


def encipher_iso4(
    key: bytes, pin: str, pan: str, *, rng: Random = secrets.token_bytes
) -> bytes:
    """ISO 9564 format 4: the 16-byte AES PIN block for ``pin`` and the full ``pan``.

    >>> key = bytes(range(16))
    >>> decipher_iso4(key, encipher_iso4(key, "1234", "4111111111111111"), "4111111111111111")
    '1234'
    """
    check_pin(pin)
    pin_field = bytes.fromhex("4" + f"{len(pin):X}" + pin + "A" * (14 - len(pin))) + rng(8)
    intermediate = _xor(_aes(key, pin_field, encrypt=True), _iso4_pan_field(pan))
    return _aes(key, intermediate, encrypt=True)


def decipher_iso4(key: bytes, block: bytes, pan: str) -> str:
    """The PIN inside an ISO format 4 block (errors 20/24 as for the other formats)."""
    if len(block) != 16:
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    pin_field = _aes(key, _xor(_aes(key, block, encrypt=False), _iso4_pan_field(pan)), False)
    nibbles = pin_field.hex().upper()
    if nibbles[0] != "4":
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    length = int(nibbles[1], 16)
    if not MIN_PIN_LENGTH <= length <= MAX_PIN_LENGTH:
        raise HsmError(PIN_LENGTH_ERROR, field="pin_block")
    pin, fill = nibbles[2 : 2 + length], nibbles[2 + length : 16]
    if not pin.isdigit() or fill != "A" * len(fill):
        raise HsmError(PIN_BLOCK_ERROR, field="pin_block")
    return pin


def _iso4_pan_field(pan: str) -> bytes:
    # Length indicator M = digits beyond 12; shorter PANs are left-padded to 12.
    if not 1 <= len(pan) <= 19 or not pan.isascii() or not pan.isdigit():
        raise HsmError(INVALID_ACCOUNT, field="pan")
    digits = pan.rjust(12, "0")
    return bytes.fromhex((str(len(digits) - 12) + digits).ljust(32, "0"))


def _aes(key: bytes, block: bytes, encrypt: bool) -> bytes:
    if len(key) not in (16, 24, 32):
        raise HsmError(KEY_LENGTH_ERROR, field="key")
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    context = cipher.encryptor() if encrypt else cipher.decryptor()
    return context.update(block) + context.finalize()
