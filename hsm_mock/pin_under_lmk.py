"""PINs encrypted under LMK pair 02-03: the form a host database stores them in.

BA turns a clear PIN into this form; DE and DG take it as input. The real
payShield PIN-under-LMK algorithms are not public, so this mock uses its own
reversible, numeric ("L N") encoding of fixed length 13 — one more than the
longest PIN, as the CS-configured length on a real unit would be:

    plain  = (PIN length - 4) as one digit + PIN + zeros to 13 digits
    stream = TDES(LMK 02-03, 0000 + account) as hex, each nibble mod 10
    stored = plain + stream, digit by digit mod 10

It binds the PIN to the account (a PIN stored for one card fails on another) and
lets the HSM reject garbage with error 14. It is *not* interoperable with values
produced by a real payShield, and like any deterministic PIN encoding it is only
fit for a simulator.
"""

from __future__ import annotations

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import INVALID_INPUT, INVALID_PIN_UNDER_LMK, HsmError
from atmsim.kernel.crypto.pin_blocks import MAX_PIN_LENGTH, MIN_PIN_LENGTH, check_account, check_pin
from hsm_mock.lmk import PIN_PAIR, VariantLmk

__all__ = ["ENCRYPTED_PIN_LENGTH", "decrypt_pin", "encrypt_pin", "parse_clear_pin_field"]

ENCRYPTED_PIN_LENGTH = MAX_PIN_LENGTH + 1


def parse_clear_pin_field(field: str) -> str:
    """The PIN in BA's clear PIN field (left-justified, F-padded to 13), else 15.

    >>> parse_clear_pin_field("1234FFFFFFFFF")
    '1234'
    """
    pin = field.upper().rstrip("F")
    if (
        len(field) != ENCRYPTED_PIN_LENGTH
        or not pin.isascii()
        or not pin.isdigit()
        or not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH
    ):
        raise HsmError(INVALID_INPUT, field="pin")
    return pin


def encrypt_pin(lmk: VariantLmk, pin: str, account12: str) -> str:
    """Encrypt a clear PIN under LMK pair 02-03 for this account (13 digits).

    >>> lmk = VariantLmk.test()
    >>> decrypt_pin(lmk, encrypt_pin(lmk, "123456", "400000123456"), "400000123456")
    '123456'
    """
    check_pin(pin)
    plain = str(len(pin) - MIN_PIN_LENGTH) + pin.ljust(MAX_PIN_LENGTH, "0")
    stream = _keystream(lmk, account12)
    return "".join(str((int(p) + k) % 10) for p, k in zip(plain, stream, strict=True))


def decrypt_pin(lmk: VariantLmk, encrypted: str, account12: str) -> str:
    """Recover the PIN from its LMK form; error 14 when it is not a valid one."""
    if len(encrypted) != ENCRYPTED_PIN_LENGTH or not encrypted.isascii() or not encrypted.isdigit():
        raise HsmError(INVALID_PIN_UNDER_LMK, field="pin")
    stream = _keystream(lmk, account12)
    plain = "".join(str((int(c) - k) % 10) for c, k in zip(encrypted, stream, strict=True))
    length = int(plain[0]) + MIN_PIN_LENGTH
    pin, padding = plain[1 : 1 + length], plain[1 + length :]
    if length > MAX_PIN_LENGTH or padding != "0" * len(padding):
        raise HsmError(INVALID_PIN_UNDER_LMK, field="pin")
    return pin


def _keystream(lmk: VariantLmk, account12: str) -> list[int]:
    block = bytes.fromhex("0000" + check_account(account12))
    nibbles = tdes.encrypt_ecb(lmk.pair(PIN_PAIR), block).hex()
    return [int(n, 16) % 10 for n in nibbles[:ENCRYPTED_PIN_LENGTH]]
