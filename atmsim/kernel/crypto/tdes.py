"""Triple-DES block operations: the one cipher every variant-LMK command uses.

Single (8-byte), double (16-byte, K1K2) and triple (24-byte) DES keys are all run
through TDES-ECB, expanded to the 24 bytes that ``cryptography`` wants: K -> KKK
(which is plain DES) and K1K2 -> K1K2K1. The decrepit ``TripleDES`` import is the
supported home of the algorithm, so no deprecation warnings are raised.

Building a cipher context (the DES key schedule) costs several times more than
encrypting one block, and a PIN verification touches the same few keys over and
over. ECB contexts carry no state between blocks, so one encryptor and one
decryptor per key are kept in a small in-process LRU and reused for ever (they are
never finalised). The cache lives only in this process's memory, like every clear
key the HSM holds while it works; nothing is written anywhere.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, modes

from atmsim.kernel.crypto.errors import KEY_LENGTH_ERROR, HsmError

__all__ = [
    "BLOCK_SIZE",
    "CIPHER_CACHE_SIZE",
    "EcbCipher",
    "cbc_encrypt_last",
    "cipher",
    "decrypt_ecb",
    "encrypt_ecb",
    "expand_key",
]

BLOCK_SIZE = 8
# Keys in use at once: LMK variants, the TPKs of the terminals and the PVKs of the
# card ranges. A few thousand covers a large test estate.
CIPHER_CACHE_SIZE = 4096


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


class EcbCipher:
    """TDES-ECB under one key, its key schedule computed once.

    >>> c = EcbCipher(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    >>> c.decrypt(c.encrypt(b"8 bytes!"))
    b'8 bytes!'
    """

    __slots__ = ("_decryptor", "_encryptor")

    def __init__(self, key: bytes) -> None:
        algorithm = Cipher(TripleDES(expand_key(key)), modes.ECB())
        self._encryptor: CipherContext = algorithm.encryptor()
        self._decryptor: CipherContext = algorithm.decryptor()

    def __repr__(self) -> str:
        return "<EcbCipher>"  # never the key

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt whole 8-byte blocks."""
        _check_blocks(data)
        return self._encryptor.update(data)

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt whole 8-byte blocks."""
        _check_blocks(data)
        return self._decryptor.update(data)


@lru_cache(maxsize=CIPHER_CACHE_SIZE)
def cipher(key: bytes) -> EcbCipher:
    """The (cached) TDES-ECB cipher for a single, double or triple key."""
    return EcbCipher(key)


def encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Encrypt whole 8-byte blocks with TDES-ECB.

    >>> encrypt_ecb(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), bytes(8)).hex()[:6]
    '08d7b4'
    """
    return cipher(key).encrypt(data)


def decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Decrypt whole 8-byte blocks with TDES-ECB.

    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> decrypt_ecb(k, encrypt_ecb(k, b"8 bytes!"))
    b'8 bytes!'
    """
    return cipher(key).decrypt(data)


def cbc_encrypt_last(key: bytes, data: bytes, iv: bytes = bytes(BLOCK_SIZE)) -> bytes:
    """The last block of TDES-CBC encryption of ``data`` (a CBC-MAC's chaining value).

    >>> cbc_encrypt_last(bytes(range(1, 9)), bytes(8)) == encrypt_ecb(bytes(range(1, 9)), bytes(8))
    True
    """
    _check_blocks(data)
    if len(iv) != BLOCK_SIZE:
        raise ValueError("the IV is one 8-byte block")
    ecb = cipher(key)
    state = int.from_bytes(iv, "big")
    for i in range(0, len(data), BLOCK_SIZE):
        block = state ^ int.from_bytes(data[i : i + BLOCK_SIZE], "big")
        state = int.from_bytes(ecb.encrypt(block.to_bytes(BLOCK_SIZE, "big")), "big")
    return state.to_bytes(BLOCK_SIZE, "big")


def _check_blocks(data: bytes) -> None:
    if len(data) % BLOCK_SIZE:
        raise ValueError("TDES-ECB works on whole 8-byte blocks")
