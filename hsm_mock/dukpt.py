"""DUKPT (ANSI X9.24-1): the PIN key of one transaction, from a BDK and a KSN.

A PIN pad holds an initial key derived from the Base Derivation Key (BDK) and its
Key Serial Number (KSN); for each transaction it derives a new key and sends the
KSN (whose right-most 21 bits count transactions) with the PIN block. The host's
HSM repeats the derivation from the BDK:

* initial key: the left 64 bits of the KSN, counter cleared, TDES-encrypted under the
  BDK (left half) and under BDK XOR ``C0C0C0C000000000C0C0C0C000000000`` (right half);
* for each 1 bit of the counter, from the top, that bit is set in a register and the
  key goes through the non-reversible key generation process;
* the PIN key is the transaction key XOR ``00000000000000FF`` (in each half).

This is TDES DUKPT (X9.24-1:2004/2009, double-length keys). The payShield manual
says CI derives *single-length* keys (the 1998 scheme) and G0 the TDES ones; this
mock answers both with TDES DUKPT, the scheme of every current PIN pad and of the
published test vectors. Single-length DUKPT is not implemented.

The KSN arrives as a Thales *KSN descriptor* ``xyz`` (hex digits: base derivation
key identifier length, sub-key identifier length, device identifier length) and a
KSN of x + y + z + 5 hex digits, which :func:`parse_ksn` pads on the left with F to
the full 80 bits.
"""

from __future__ import annotations

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import INVALID_INPUT, HsmError
from hsm_mock.keys import is_hex

__all__ = [
    "COUNTER_BITS",
    "KSN_LENGTH",
    "ksn_length",
    "parse_ksn",
    "tdes_pin_key",
]

COUNTER_BITS = 21
KSN_LENGTH = 10  # bytes
_COUNTER_MASK = (1 << COUNTER_BITS) - 1
_BDK_MASK = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")
_PIN_VARIANT = 0xFF  # XORed into the last byte of each 8-byte half
_COUNTER_HEX = 5  # hex digits the descriptor leaves implicit for the counter


def ksn_length(descriptor: str) -> int:
    """Hex digits of the KSN a descriptor announces (12-20), else error 15.

    >>> ksn_length("A05"), ksn_length("605")
    (20, 16)
    """
    if len(descriptor) != 3 or not is_hex(descriptor):
        raise HsmError(INVALID_INPUT, field="ksn_descriptor")
    length = sum(int(c, 16) for c in descriptor) + _COUNTER_HEX
    if not 12 <= length <= 2 * KSN_LENGTH:
        raise HsmError(INVALID_INPUT, field="ksn_descriptor")
    return length


def parse_ksn(ksn: str) -> bytes:
    """The 10-byte KSN register: ``ksn`` hex, left-padded with F.

    >>> parse_ksn("9876543210E00001").hex().upper()
    'FFFF9876543210E00001'
    """
    if not 12 <= len(ksn) <= 2 * KSN_LENGTH or not is_hex(ksn):
        raise HsmError(INVALID_INPUT, field="ksn")
    return bytes.fromhex(ksn.rjust(2 * KSN_LENGTH, "F"))


def tdes_pin_key(bdk: bytes, ksn: bytes) -> bytes:
    """TDES DUKPT PIN key (16 bytes) for the transaction ``ksn`` (10 bytes)."""
    if len(bdk) != 16:
        raise ValueError("TDES DUKPT needs a double-length BDK")
    register = _initial_register(ksn)
    key = tdes.encrypt_ecb(bdk, register) + tdes.encrypt_ecb(_xor(bdk, _BDK_MASK), register)
    for step in _counter_steps(ksn):
        key = _tdes_generate(key, step)
    return _pin_variant(key)


def _initial_register(ksn: bytes) -> bytes:
    if len(ksn) != KSN_LENGTH:
        raise ValueError("a KSN register is 10 bytes")
    # Left 64 bits of the KSN with the 21 counter bits (all in the last 3 bytes) cleared.
    value = int.from_bytes(ksn, "big") & ~_COUNTER_MASK
    return value.to_bytes(KSN_LENGTH, "big")[:8]


def _counter_steps(ksn: bytes) -> list[bytes]:
    """The shift-register values, one per counter bit set, from the top bit down."""
    right = int.from_bytes(ksn[2:], "big")
    counter = right & _COUNTER_MASK
    register = right & ~_COUNTER_MASK
    steps = []
    bit = 1 << (COUNTER_BITS - 1)
    while bit:
        if counter & bit:
            register |= bit
            steps.append(register.to_bytes(8, "big"))
        bit >>= 1
    return steps


def _tdes_generate(key: bytes, register: bytes) -> bytes:
    # Non-reversible key generation on each half: XOR, DES-encrypt, XOR.
    def half(k: bytes) -> bytes:
        return _xor(k[8:], tdes.encrypt_ecb(k[:8], _xor(k[8:], register)))

    return half(_xor(key, _BDK_MASK)) + half(key)


def _pin_variant(key: bytes) -> bytes:
    out = bytearray(key)
    for i in range(7, len(out), 8):
        out[i] ^= _PIN_VARIANT
    return bytes(out)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
