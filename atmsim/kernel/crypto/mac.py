"""ISO/IEC 9797-1 MACs with DES: algorithm 1 (CBC-MAC) and algorithm 3 (retail MAC).

* Algorithm 1 chains every block through the whole key: with a single-length key
  it is ANSI X9.9, with a double-length key it is TDES CBC-MAC.
* Algorithm 3 (ANSI X9.19, "retail MAC") chains with single DES under the left key
  K and finishes the last block with decrypt under K', encrypt under K. It needs a
  double-length key.

Padding methods: 0 none (the data must fill whole blocks), 1 zeros (ISO method 1;
empty data becomes one zero block), 2 ``0x80`` then zeros (ISO method 2).

A long message may be sent in pieces (payShield M6/M8 modes 1-3): the chaining
value after each piece is the IV of the next, and only the last piece is padded and
put through the output transformation.
"""

from __future__ import annotations

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import DATA_LENGTH_ERROR, INVALID_INPUT, KEY_LENGTH_ERROR, HsmError

__all__ = [
    "ALGORITHM_1",
    "ALGORITHM_3",
    "PADDING_METHODS",
    "chain",
    "finish",
    "pad",
    "retail_mac",
]

ALGORITHM_1 = "01"
ALGORITHM_3 = "03"
PADDING_METHODS = ("0", "1", "2")
_ZERO_IV = bytes(tdes.BLOCK_SIZE)


def pad(data: bytes, method: str) -> bytes:
    """Pad ``data`` to whole 8-byte blocks with ISO 9797-1 method 0, 1 or 2.

    >>> pad(b"abc", "2").hex()
    '6162638000000000'
    """
    if method == "0":
        if not data or len(data) % tdes.BLOCK_SIZE:
            raise HsmError(DATA_LENGTH_ERROR, field="message")
        return data
    if method == "1":
        if not data:
            return bytes(tdes.BLOCK_SIZE)
        return data + bytes(-len(data) % tdes.BLOCK_SIZE)
    if method == "2":
        data += b"\x80"
        return data + bytes(-len(data) % tdes.BLOCK_SIZE)
    raise HsmError(INVALID_INPUT, field="padding")


def chain(key: bytes, algorithm: str, data: bytes, iv: bytes = _ZERO_IV) -> bytes:
    """The CBC chaining value after whole blocks ``data`` (the IV for the next piece)."""
    return tdes.cbc_encrypt_last(_chaining_key(key, algorithm), data, iv)


def finish(key: bytes, algorithm: str, data: bytes, iv: bytes = _ZERO_IV) -> bytes:
    """The 8-byte MAC of the last (padded) piece ``data`` after chaining value ``iv``.

    ISO/IEC 9797-1 Annex B.4, "Now is the time for all " under 0123456789ABCDEF /
    FEDCBA9876543210:

    >>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> finish(key, ALGORITHM_3, b"Now is the time for all ").hex().upper()
    'A1C72E74EA3FA9B6'
    """
    last = chain(key, algorithm, data, iv)
    if algorithm == ALGORITHM_1:
        return last
    # Output transformation 3: decrypt under K', encrypt under K.
    return tdes.encrypt_ecb(key[:8], tdes.decrypt_ecb(key[8:16], last))


def _chaining_key(key: bytes, algorithm: str) -> bytes:
    if algorithm == ALGORITHM_1:
        return key
    if algorithm == ALGORITHM_3:
        if len(key) != 16:
            raise HsmError(KEY_LENGTH_ERROR, field="key")
        return key[:8]
    raise HsmError(INVALID_INPUT, field="mac_algorithm")


def retail_mac(key: bytes, data: bytes, padding: str = "1") -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 of ``data`` under double-length ``key``, padded with
    ``padding`` (method 1 by default, as ANSI X9.19 does), all 8 bytes.

    >>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> retail_mac(key, b"Now is the time for all ").hex().upper()
    'A1C72E74EA3FA9B6'
    """
    return finish(key, ALGORITHM_3, pad(data, padding))
