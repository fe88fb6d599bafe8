"""Keys under a Zone Master Key (ZMK): the form in which keys travel between banks.

A key exchanged under a ZMK carries a key scheme letter that says how it was
encrypted, following the payShield key scheme table:

* ``Z`` single length (16H, no letter on the wire), each part TDES-ECB under the ZMK;
* ``X`` / ``Y`` (ANSI X9.17) double / triple length: each 8-byte part TDES-ECB under
  the ZMK, no variant;
* ``U`` / ``T`` (Thales variant) double / triple length: part *i* is encrypted under
  the ZMK whose second DES key has its first byte XORed with the scheme variant
  (``A6``/``5A`` for U, ``6A``/``DE``/``2B`` for T), the same mechanism the variant
  LMK applies (:mod:`hsm_mock.lmk`).

A single-length ZMK is used as K||K, so the variant lands in a copy of K. Key-type
("Atalla") variants under the ZMK are not implemented.
"""

from __future__ import annotations

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import INVALID_KEY_SCHEME, KEY_LENGTH_ERROR, HsmError
from hsm_mock.keys import EncryptedKey

__all__ = ["SCHEMES_UNDER_ZMK", "decrypt_under_zmk", "encrypt_under_zmk"]

# Scheme under a ZMK -> (clear key length, variant per 8-byte part).
SCHEMES_UNDER_ZMK: dict[str, tuple[int, tuple[int, ...]]] = {
    "Z": (8, (0x00,)),
    "U": (16, (0xA6, 0x5A)),
    "T": (24, (0x6A, 0xDE, 0x2B)),
    "X": (16, (0x00, 0x00)),
    "Y": (24, (0x00, 0x00, 0x00)),
}


def encrypt_under_zmk(zmk: bytes, clear: bytes, scheme: str) -> str:
    """The key field for ``clear`` under ``zmk`` in a scheme (``Z`` gives bare 16H).

    >>> zmk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> field = encrypt_under_zmk(zmk, bytes.fromhex("1334577913345779" * 2), "X")
    >>> field[0], len(field)
    ('X', 33)
    """
    length, variants = _scheme(scheme)
    if len(clear) != length:
        raise HsmError(KEY_LENGTH_ERROR, field="key_scheme_zmk")
    parts = [clear[i : i + 8] for i in range(0, length, 8)]
    encrypted = b"".join(
        tdes.encrypt_ecb(_variant(zmk, v), part) for part, v in zip(parts, variants, strict=True)
    )
    return ("" if scheme == "Z" else scheme) + encrypted.hex().upper()


def decrypt_under_zmk(zmk: bytes, field: EncryptedKey) -> bytes:
    """The clear key inside a key field encrypted under ``zmk``.

    >>> zmk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> clear = bytes.fromhex("1334577913345779" * 2)
    >>> decrypt_under_zmk(zmk, EncryptedKey.parse(encrypt_under_zmk(zmk, clear, "U"))) == clear
    True
    """
    scheme = field.scheme or "Z"
    if scheme == "Z" and field.length != 8:
        # Bare 32H/48H under a ZMK is not a payShield form: the scheme must say it.
        raise HsmError(INVALID_KEY_SCHEME, field="key_under_zmk")
    length, variants = _scheme(scheme)
    if field.length != length:
        raise HsmError(KEY_LENGTH_ERROR, field="key_under_zmk")
    data = bytes.fromhex(field.hex)
    return b"".join(
        tdes.decrypt_ecb(_variant(zmk, v), data[i * 8 : i * 8 + 8]) for i, v in enumerate(variants)
    )


def _variant(zmk: bytes, variant: int) -> bytes:
    if not variant:
        return zmk
    key = bytearray(zmk if len(zmk) > 8 else zmk * 2)
    key[8] ^= variant
    return bytes(key)


def _scheme(scheme: str) -> tuple[int, tuple[int, ...]]:
    if scheme not in SCHEMES_UNDER_ZMK:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme_zmk")
    return SCHEMES_UNDER_ZMK[scheme]
