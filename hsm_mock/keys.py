"""DES keys: the key fields of a host command, odd parity and key check values.

A key travels in a command as ``16H`` (single length, no scheme letter), or as a
scheme letter followed by hex: ``U``/``X`` + 32H (double), ``T``/``Y`` + 48H
(triple). Some fields also accept a bare ``32H`` pair of single keys (the PVK pair
of DC/DG). :class:`EncryptedKey` is such a field; :class:`Key` is a clear key
inside the HSM and never shows its bytes in ``repr``.

Zeroisation is out of reach in CPython (``bytes`` are immutable and
``cryptography`` copies buffers), so clear keys simply never leave this process.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import INVALID_INPUT, INVALID_KEY_SCHEME, HsmError

__all__ = [
    "KCV_LEGACY",
    "KCV_SIX",
    "SCHEME_HEX_LENGTH",
    "EncryptedKey",
    "Key",
    "combine_components",
    "force_odd_parity",
    "has_odd_parity",
    "is_hex",
    "kcv",
    "key_field_length",
    "random_key",
]

# Scheme letter -> hex characters that follow it (manual: "1A+32H or 1A+48H").
SCHEME_HEX_LENGTH: dict[str, int] = {"U": 32, "X": 32, "T": 48, "Y": 48}

KCV_LEGACY = "0"  # 16H "backwards compatible"
KCV_SIX = "1"  # 6H

_HEX = frozenset(string.hexdigits)
_HEX_DIGITS = string.hexdigits


def is_hex(text: str) -> bool:
    """True when ``text`` is non-empty and only hex digits.

    >>> is_hex("0A1f"), is_hex(""), is_hex("0G")
    (True, False, False)
    """
    # str.strip runs in C: only a string made entirely of hex digits strips to "".
    return bool(text) and not text.strip(_HEX_DIGITS)


def has_odd_parity(key: bytes) -> bool:
    """True when every byte has an odd number of set bits (DES key parity).

    >>> has_odd_parity(bytes.fromhex("0123456789ABCDEF")), has_odd_parity(bytes(8))
    (True, False)
    """
    return all(b.bit_count() % 2 == 1 for b in key)


def force_odd_parity(key: bytes) -> bytes:
    """Flip the low bit of every byte that has even parity.

    >>> force_odd_parity(bytes(2)).hex()
    '0101'
    """
    return bytes(b if b.bit_count() % 2 else b ^ 1 for b in key)


def random_key(length: int, rng: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """A random DES key of 8, 16 or 24 bytes with odd parity and distinct parts.

    Equal halves would make a double key a single key in disguise, so they are
    drawn again.

    >>> key = random_key(16)
    >>> has_odd_parity(key), key[:8] != key[8:]
    (True, True)
    """
    if length not in (8, 16, 24):
        raise ValueError("a DES key is 8, 16 or 24 bytes")
    while True:
        key = force_odd_parity(rng(length))
        if len({key[i : i + 8] for i in range(0, length, 8)}) == length // 8:
            return key


def combine_components(components: Sequence[bytes]) -> bytes:
    """XOR of key components (a key ceremony), with odd parity forced on the result.

    >>> combine_components([bytes.fromhex("0101"), bytes.fromhex("0201")]).hex()
    '0201'
    """
    if not components or len({len(c) for c in components}) != 1:
        raise ValueError("components must be of one length")
    result = bytes(len(components[0]))
    for component in components:
        result = bytes(a ^ b for a, b in zip(result, component, strict=True))
    return force_odd_parity(result)


def kcv(key: bytes, kcv_type: str = KCV_SIX) -> str:
    """Key check value: encrypt eight zero bytes, 6H (type 1) or 16H (type 0).

    >>> kcv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    '08D7B4'
    """
    if kcv_type not in (KCV_LEGACY, KCV_SIX):
        raise HsmError(INVALID_INPUT, field="kcv_type")
    value = tdes.encrypt_ecb(key, bytes(tdes.BLOCK_SIZE)).hex().upper()
    return value if kcv_type == KCV_LEGACY else value[:6]


def key_field_length(first: str, *, bare_hex: int = 16) -> int:
    """Total characters of a key field whose first character is ``first``.

    ``bare_hex`` is the length of a key given without a scheme letter (16 for
    most fields, 32 for a PVK pair).

    >>> key_field_length("U"), key_field_length("0"), key_field_length("0", bare_hex=32)
    (33, 16, 32)
    """
    if first in _HEX:
        return bare_hex
    if first in SCHEME_HEX_LENGTH:
        return 1 + SCHEME_HEX_LENGTH[first]
    raise HsmError(INVALID_KEY_SCHEME, field="key_scheme")


@dataclass(frozen=True)
class EncryptedKey:
    """A key field as it arrived: scheme letter ("" for bare hex) and hex digits.

    >>> EncryptedKey.parse("U" + "0" * 32).scheme
    'U'
    """

    scheme: str
    hex: str

    @classmethod
    def parse(cls, field: str) -> EncryptedKey:
        """Split a key field into scheme and hex, checking lengths and digits."""
        if not field:
            raise HsmError(INVALID_INPUT, field="key")
        first = field[0]
        if first in _HEX:
            scheme, digits = "", field
        else:
            scheme, digits = first, field[1:]
            if key_field_length(first) != len(field):
                raise HsmError(INVALID_INPUT, field="key")
        if len(digits) not in (16, 32, 48) or not is_hex(digits):
            raise HsmError(INVALID_INPUT, field="key")
        return cls(scheme, digits.upper())

    @property
    def length(self) -> int:
        """Clear key length in bytes."""
        return len(self.hex) // 2

    def __str__(self) -> str:
        return self.scheme + self.hex

    def __repr__(self) -> str:
        # Even a key under the LMK stays out of logs and tracebacks.
        return f"<EncryptedKey scheme={self.scheme or '-'} length={self.length}>"


class Key:
    """A clear DES key held by the HSM, tagged with its key type code.

    >>> Key(bytes.fromhex("E5DC0880CE4094C21A89FB6EC204B0E6"), "002")
    <Key type=002 kcv=363645>
    """

    __slots__ = ("_material", "_parity", "key_type")

    def __init__(self, material: bytes, key_type: str) -> None:
        if len(material) not in (8, 16, 24):
            raise ValueError("a DES key is 8, 16 or 24 bytes")
        self._material = bytes(material)
        self._parity: bool | None = None
        self.key_type = key_type

    @property
    def material(self) -> bytes:
        """The clear key bytes, for use by cryptographic operations only."""
        return self._material

    @property
    def length(self) -> int:
        return len(self._material)

    @property
    def has_odd_parity(self) -> bool:
        # Cached: a Key decrypted once from a cryptogram is checked on every use.
        if self._parity is None:
            self._parity = has_odd_parity(self._material)
        return self._parity

    @property
    def is_single_in_disguise(self) -> bool:
        """True for a double or triple key whose parts are all equal (really single DES)."""
        first = self._material[:8]
        return all(
            self._material[i : i + 8] == first for i in range(8, len(self._material), 8)
        ) and self.length > 8

    def encrypt(self, data: bytes) -> bytes:
        """TDES-ECB encrypt whole blocks under this key."""
        return tdes.cipher(self._material).encrypt(data)

    def decrypt(self, data: bytes) -> bytes:
        """TDES-ECB decrypt whole blocks under this key."""
        return tdes.cipher(self._material).decrypt(data)

    def kcv(self, kcv_type: str = KCV_SIX) -> str:
        return kcv(self._material, kcv_type)

    def __repr__(self) -> str:
        return f"<Key type={self.key_type} kcv={self.kcv()}>"

    __str__ = __repr__
