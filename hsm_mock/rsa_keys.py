"""RSA key pairs the HSM makes (EI) and uses (EW): public key DER, private key under the LMK.

A payShield returns the public key of a new pair in the clear, as an ASN.1
``RSAPublicKey`` (SEQUENCE of modulus and public exponent) in DER, in one of two
encodings the host chooses:

* ``01``: the INTEGERs are **unsigned**: no leading 0x00 even when the top bit is set
  (a 2048-bit modulus is a 256-byte INTEGER). Strict DER parsers read such a modulus
  as negative;
* ``02``: the INTEGERs are two's complement, i.e. standard DER (a 257-byte modulus
  INTEGER starting 0x00), what ``cryptography`` and OpenSSL write and read.

The private key never leaves in the clear. A variant LMK keeps RSA private keys
under LMK pair 34-35; the manual gives no byte layout for that cryptogram, so the
layout here is this mock's own:

    clear     = key type indicator (1 ASCII digit) + PKCS#1 RSAPrivateKey (DER)
    padded    = clear + 0x80 + 0x00... to a multiple of 8 (ISO/IEC 9797-1 method 2)
    cryptogram = 2-key TDES-CBC(LMK pair 34-35, IV zero, padded)

It round-trips through this HSM only (EW takes it back); a real payShield's
cryptograms are not interchangeable with it, as for every key under a test LMK.
Everything here is pure and thread-safe (each call builds its own cipher context), so
the server can run the slow parts (key generation, signing) in worker threads.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import INVALID_INPUT, HsmError
from hsm_mock.lmk import VariantLmk

__all__ = [
    "DEFAULT_PUBLIC_EXPONENT",
    "ENCODING_DER_TWOS_COMPLEMENT",
    "ENCODING_DER_UNSIGNED",
    "HASHES",
    "KEY_TYPES",
    "MAX_MODULUS_BITS",
    "MIN_MODULUS_BITS",
    "LIBRARY_EXPONENTS",
    "LIBRARY_MIN_MODULUS_BITS",
    "RSA_PRIVATE_KEY_PAIR",
    "SECRET_KEY_ERROR",
    "RsaKeyPair",
    "decode_public_key",
    "encode_public_key",
    "generate_key_pair",
    "sign",
    "unwrap_private_key",
    "wrap_private_key",
]

# payShield 10K: modulus 0320-4096 bits (the older manual text stops at 2048).
MIN_MODULUS_BITS = 320
MAX_MODULUS_BITS = 4096
DEFAULT_PUBLIC_EXPONENT = 65537
# What `cryptography` generates (OpenSSL): these exponents, from 1024 bits. Other pairs
# (320-1023 bits, any other odd exponent) come from this module's own prime search.
LIBRARY_EXPONENTS = frozenset({3, DEFAULT_PUBLIC_EXPONENT})
LIBRARY_MIN_MODULUS_BITS = 1024
_MILLER_RABIN_ROUNDS = 40
# Trial division before Miller-Rabin: the odd primes below 2000.
_SMALL_PRIMES = tuple(n for n in range(3, 2000, 2)
                      if all(n % d for d in range(3, int(n**0.5) + 1, 2)))

ENCODING_DER_UNSIGNED = "01"
ENCODING_DER_TWOS_COMPLEMENT = "02"

# Key type indicator: what the pair is for.
KEY_TYPES: dict[str, str] = {
    "0": "signature only",
    "1": "key management only",
    "2": "signature and key management",
    "3": "ICC key",
    "4": "data encryption/decryption",
}

RSA_PRIVATE_KEY_PAIR = "34-35"
# EM's code for a secret key that is not a valid cryptogram ("secret key error").
SECRET_KEY_ERROR = "49"

# EW/EY hash identifiers -> algorithm (see docs/hsm.md for where they come from).
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "01": hashes.SHA1,
    "05": hashes.SHA224,
    "06": hashes.SHA256,
    "07": hashes.SHA384,
    "08": hashes.SHA512,
}

_PAD = b"\x80"


@dataclass(frozen=True)
class RsaKeyPair:
    """A new pair as EI returns it: public key DER and private key under the LMK."""

    public_key: bytes
    private_key: bytes  # under LMK pair 34-35: the cryptogram, never clear

    def __repr__(self) -> str:
        return f"<RsaKeyPair public={len(self.public_key)}B private={len(self.private_key)}B>"


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _der_integer(value: int, *, unsigned: bool) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    if not unsigned and body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + _der_length(len(body)) + body


def encode_public_key(modulus: int, exponent: int, encoding: str) -> bytes:
    """``RSAPublicKey`` in DER, INTEGERs unsigned (``01``) or two's complement (``02``).

    >>> encode_public_key(0xC5, 3, "01").hex()
    '30060201c5020103'
    >>> encode_public_key(0xC5, 3, "02").hex()
    '3007020200c5020103'
    """
    unsigned = encoding == ENCODING_DER_UNSIGNED
    body = _der_integer(modulus, unsigned=unsigned) + _der_integer(exponent, unsigned=unsigned)
    return b"\x30" + _der_length(len(body)) + body


def decode_public_key(der: bytes) -> tuple[int, int]:
    """(modulus, exponent) from an ``RSAPublicKey`` in either encoding; ``ValueError``
    when it is not one (or when bytes follow it).

    >>> decode_public_key(bytes.fromhex("30060201c5020103"))
    (197, 3)
    """
    values, rest = _read_tlv(der, 0x30)
    if rest:
        raise ValueError("bytes after the public key")
    modulus_bytes, values = _read_tlv(values, 0x02)
    exponent_bytes, values = _read_tlv(values, 0x02)
    if values or not modulus_bytes or not exponent_bytes:
        raise ValueError("an RSAPublicKey is two INTEGERs")
    # Unsigned (01) or two's complement with a leading zero (02): both read as positive.
    return int.from_bytes(modulus_bytes, "big"), int.from_bytes(exponent_bytes, "big")


def _read_tlv(data: bytes, tag: int) -> tuple[bytes, bytes]:
    if len(data) < 2 or data[0] != tag:
        raise ValueError("unexpected DER tag")
    length, offset = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or len(data) < 2 + count:
            raise ValueError("bad DER length")
        length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if len(data) < offset + length:
        raise ValueError("DER value runs past the data")
    return data[offset : offset + length], data[offset + length :]


def _lmk_cipher(lmk: VariantLmk) -> Cipher[modes.CBC]:
    return Cipher(TripleDES(tdes.expand_key(lmk.pair(RSA_PRIVATE_KEY_PAIR))),
                  modes.CBC(bytes(tdes.BLOCK_SIZE)))


def wrap_private_key(key: rsa.RSAPrivateKey, key_type: str, lmk: VariantLmk) -> bytes:
    """The private key under LMK pair 34-35 (this mock's layout, module docstring)."""
    clear = key_type.encode("ascii") + key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
    padded = clear + _PAD + bytes(-(len(clear) + 1) % tdes.BLOCK_SIZE)
    encryptor = _lmk_cipher(lmk).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def unwrap_private_key(cryptogram: bytes, lmk: VariantLmk) -> tuple[str, rsa.RSAPrivateKey]:
    """(key type indicator, private key) from a cryptogram under LMK pair 34-35.

    Anything that does not decrypt to a key this HSM wrapped answers 49 (secret key
    error); the reason is not told, as the HSM would not.
    """
    if not cryptogram or len(cryptogram) % tdes.BLOCK_SIZE:
        raise HsmError(SECRET_KEY_ERROR, field="secret_key")
    decryptor = _lmk_cipher(lmk).decryptor()
    padded = decryptor.update(cryptogram) + decryptor.finalize()
    end = padded.rstrip(b"\x00")
    if not end.endswith(_PAD) or len(padded) - len(end) >= tdes.BLOCK_SIZE:
        raise HsmError(SECRET_KEY_ERROR, field="secret_key")
    clear = end[:-1]
    key_type = clear[:1].decode("latin-1")
    if key_type not in KEY_TYPES:
        raise HsmError(SECRET_KEY_ERROR, field="secret_key")
    try:
        key = serialization.load_der_private_key(clear[1:], password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise HsmError(SECRET_KEY_ERROR, field="secret_key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise HsmError(SECRET_KEY_ERROR, field="secret_key")
    return key_type, key


def _is_probable_prime(n: int) -> bool:
    """Miller-Rabin with random bases (40 rounds: error below 2**-80).

    >>> _is_probable_prime(2**127 - 1), _is_probable_prime(2**127 + 1)
    (True, False)
    """
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(_MILLER_RABIN_ROUNDS):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int, exponent: int) -> int:
    """A random prime of exactly ``bits`` bits, its top two bits set (so that the product
    of two has the full length) and ``p - 1`` coprime to the exponent."""
    while True:
        candidate = secrets.randbits(bits) | (0b11 << (bits - 2)) | 1
        if math.gcd(exponent, candidate - 1) == 1 and _is_probable_prime(candidate):
            return candidate


def _own_key(exponent: int, modulus_bits: int) -> rsa.RSAPrivateKey:
    """An RSA key for what `cryptography` will not generate: under 1024 bits, or an odd
    exponent other than 3 and 65537 (a payShield accepts any odd exponent from 320 bits)."""
    while True:
        p = _random_prime((modulus_bits + 1) // 2, exponent)
        q = _random_prime(modulus_bits // 2, exponent)
        if p != q and (p * q).bit_length() == modulus_bits:
            break
    d = pow(exponent, -1, math.lcm(p - 1, q - 1))
    public = rsa.RSAPublicNumbers(exponent, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), public).private_key()


def generate_key_pair(
    key_type: str, modulus_bits: int, encoding: str, lmk: VariantLmk,
    public_exponent: int = DEFAULT_PUBLIC_EXPONENT,
) -> RsaKeyPair:
    """A fresh RSA pair: public key DER in ``encoding``, private key under the LMK.

    Slow (about 0.05-0.5 s for 2048 bits): the server runs it in a worker. `cryptography`
    (OpenSSL) generates it from 1024 bits with exponent 3 or 65537; anything else the
    payShield allows (320-1023 bits, any odd exponent) comes from a Miller-Rabin prime
    search here, then `cryptography` holds and uses the key all the same.

    >>> pair = generate_key_pair("2", 512, "02", VariantLmk.test())
    >>> modulus, exponent = decode_public_key(pair.public_key)
    >>> modulus.bit_length(), exponent
    (512, 65537)
    >>> key_type, key = unwrap_private_key(pair.private_key, VariantLmk.test())
    >>> key_type, key.public_key().public_numbers().n == modulus
    ('2', True)
    """
    if public_exponent in LIBRARY_EXPONENTS and modulus_bits >= LIBRARY_MIN_MODULUS_BITS:
        key = rsa.generate_private_key(public_exponent, modulus_bits)
    else:
        key = _own_key(public_exponent, modulus_bits)
    numbers = key.public_key().public_numbers()
    return RsaKeyPair(encode_public_key(numbers.n, numbers.e, encoding),
                      wrap_private_key(key, key_type, lmk))


def sign(cryptogram: bytes, data: bytes, hash_id: str, lmk: VariantLmk) -> bytes:
    """PKCS#1 v1.5 signature of ``data`` (hashed with ``hash_id``) with a private key
    under the LMK.

    >>> pair = generate_key_pair("0", 512, "01", VariantLmk.test())
    >>> len(sign(pair.private_key, b"message", "06", VariantLmk.test()))
    64
    """
    _, key = unwrap_private_key(cryptogram, lmk)
    try:
        return key.sign(data, padding.PKCS1v15(), HASHES[hash_id]())
    except ValueError:
        # The key is too short for this hash's DigestInfo (a 320-bit key and SHA-256).
        raise HsmError(INVALID_INPUT, field="hash_identifier") from None
