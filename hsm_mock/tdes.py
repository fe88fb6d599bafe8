"""Triple-DES block operations: the one cipher every variant-LMK command uses.

Single (8-byte), double (16-byte, K1K2) and triple (24-byte) DES keys are all run
through TDES-ECB, expanded to the 24 bytes that ``cryptography`` wants: K -> KKK
(which is plain DES) and K1K2 -> K1K2K1. The decrepit ``TripleDES`` import is the
supported home of the algorithm, so no deprecation warnings are raised.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from hsm_mock.errors import KEY_LENGTH_ERROR, HsmError

__all__ = ["BLOCK_SIZE", "decrypt_ecb", "encrypt_ecb", "expand_key"]

BLOCK_SIZE = 8


def expand_key(key: bytes) -> bytes:
    """Return the 24-byte TDES key equivalent to a single, double or triple key.

    >>> expand_key(bytes(range(16)))[16:] == bytes(range(8))
    True
    """
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise HsmError(KEY_LENGTH_ERROR, field="key")


def encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Encrypt whole 8-byte blocks with TDES-ECB.

    >>> encrypt_ecb(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), bytes(8)).hex()[:6]
    '08d7b4'
    """
    _check_blocks(data)
    encryptor = Cipher(TripleDES(expand_key(key)), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Decrypt whole 8-byte blocks with TDES-ECB.

    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> decrypt_ecb(k, encrypt_ecb(k, b"8 bytes!"))
    b'8 bytes!'
    """
    _check_blocks(data)
    decryptor = Cipher(TripleDES(expand_key(key)), modes.ECB()).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _check_blocks(data: bytes) -> None:
    if len(data) % BLOCK_SIZE:
        raise ValueError("TDES-ECB works on whole 8-byte blocks")
