"""EI: generate an RSA key pair; EW: sign with it; FY (ECC key pair): refused under a variant LMK.

EI returns the public key in the clear (DER, binary on the wire) and the private key
under LMK pair 34-35; EW takes that cryptogram back and signs a message with it, so a
host can generate a pair, sign, and check the signature with the public key anywhere
(:mod:`hsm_mock.rsa_keys` holds the cryptography). Generating a pair takes 0.05-0.5 s
and signing a few milliseconds, so both handlers only read and check their fields and
return an :class:`~hsm_mock.commands.Offload`; the server runs it in its worker pool.

FY exists only for key-block LMKs on a payShield (ECC private keys cannot be held under
a variant LMK); this HSM holds a variant LMK and answers it with ``A1``, incompatible
LMK schemes (docs/hsm.md says why that code).
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import (
    INCOMPATIBLE_LMK_SCHEMES,
    INVALID_INPUT,
    NO_KEYS_IN_USER_STORAGE,
    HsmError,
)
from hsm_mock.commands import Command, Offload
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.rsa_keys import (
    DEFAULT_PUBLIC_EXPONENT,
    ENCODING_DER_TWOS_COMPLEMENT,
    ENCODING_DER_UNSIGNED,
    HASHES,
    KEY_TYPES,
    MIN_MODULUS_BITS,
    generate_key_pair,
    sign,
)

__all__ = [
    "COMMANDS",
    "EI_EVEN_EXPONENT",
    "EI_EXPONENT_LENGTH_ERROR",
    "EI_INVALID_ENCODING",
    "EI_INVALID_KEY_TYPE",
    "EI_LENGTH_ERROR",
    "SECRET_KEY_LENGTH_ERROR",
    "VARIANT_LMK_MAX_MODULUS_BITS",
    "generate_ecc_key_pair",
    "generate_rsa_key_pair",
    "generate_signature",
]

# EI's own error codes (payShield host command reference, EI/EJ).
EI_INVALID_ENCODING = "03"  # invalid public key encoding type
EI_LENGTH_ERROR = "04"  # modulus length out of range
EI_INVALID_KEY_TYPE = "05"
EI_EXPONENT_LENGTH_ERROR = "06"
EI_EVEN_EXPONENT = "08"
# Secret key length error (the code EM gives for it, same field in EW).
SECRET_KEY_LENGTH_ERROR = "78"

# 4096-bit pairs need a key-block LMK; under a variant LMK the manual's range stops at 2048.
VARIANT_LMK_MAX_MODULUS_BITS = 2048
_ENCODINGS = frozenset({ENCODING_DER_UNSIGNED, ENCODING_DER_TWOS_COMPLEMENT})
_KEY_IN_COMMAND = "99"  # EW secret key flag: the key follows; 00-19 index user storage
_SIGNATURE_RSA = "01"
_PAD_PKCS1_V15 = "01"
_BITS_PER_BYTE = 8


def _public_exponent(fields: FieldReader) -> tuple[int, bytes] | None:
    """The optional public exponent: (length in bits 4N, the exponent's bytes)."""
    if not 0x30 <= fields.peek() <= 0x39:
        return None
    bits = fields.number(4, "public_exponent_length")
    return bits, fields.raw(-(-bits // _BITS_PER_BYTE), "public_exponent")


def _check_exponent(exponent: tuple[int, bytes] | None, modulus_bits: int) -> int:
    if exponent is None:
        return DEFAULT_PUBLIC_EXPONENT
    bits, value_bytes = exponent
    value = int.from_bytes(value_bytes, "big")
    if not 2 <= bits < modulus_bits or value.bit_length() != bits:
        raise HsmError(EI_EXPONENT_LENGTH_ERROR, field="public_exponent_length")
    if value % 2 == 0:
        raise HsmError(EI_EVEN_EXPONENT, field="public_exponent")
    return value


def _key_block_fields(fields: FieldReader) -> None:
    """``#`` + key version 2N + number of optional blocks 2N: what a key-block LMK would
    put in the private key's header. There is no key block under a variant LMK, so they
    are read and checked, not used; optional blocks are refused (15)."""
    if not fields.optional(b"#"):
        return
    fields.numeric(2, "key_version_number")
    if fields.number(2, "optional_blocks") != 0:
        raise HsmError(INVALID_INPUT, field="optional_blocks")


def generate_rsa_key_pair(fields: FieldReader, ctx: HsmContext) -> Offload:
    """EI: key type 1N, modulus length 4N, public key encoding 2N, [exponent length 4N +
    exponent nB], [``%`` LMK id], [``#`` key version 2N + optional blocks 2N]; reply:
    public key (DER, binary), private key length 4N, private key (binary, LMK 34-35)."""
    # Every field is read before any is judged: the exponent is binary, and a request
    # refused half-read could not tell its trailer (echoed back) from a stray 0x19.
    key_type = fields.numeric(1, "key_type")
    modulus_bits = fields.number(4, "modulus_length")
    encoding = fields.numeric(2, "public_key_encoding")
    given_exponent = _public_exponent(fields)
    fields.lmk_identifier()
    _key_block_fields(fields)
    fields.finish()
    if key_type not in KEY_TYPES:
        raise HsmError(EI_INVALID_KEY_TYPE, field="key_type")
    if not MIN_MODULUS_BITS <= modulus_bits <= VARIANT_LMK_MAX_MODULUS_BITS:
        raise HsmError(EI_LENGTH_ERROR, field="modulus_length")
    if encoding not in _ENCODINGS:
        raise HsmError(EI_INVALID_ENCODING, field="public_key_encoding")
    exponent = _check_exponent(given_exponent, modulus_bits)
    lmk = ctx.lmk

    def work() -> bytes:
        pair = generate_key_pair(key_type, modulus_bits, encoding, lmk, exponent)
        return (pair.public_key + f"{len(pair.private_key):04d}".encode("ascii")
                + pair.private_key)

    return Offload(work)


def generate_signature(fields: FieldReader, ctx: HsmContext) -> Offload:
    """EW: hash id 2N, signature id 2N (01 RSA), pad mode 2N (01 PKCS#1 v1.5), data
    length 4N, data nB, ``;``, secret key flag 2N (99), key length 4N, key nB (from EI);
    reply: signature length 4N, signature nB."""
    # Read to the end before judging (the data and the key are binary; see EI).
    hash_id = fields.numeric(2, "hash_identifier")
    signature_id = fields.numeric(2, "signature_identifier")
    pad_mode = fields.numeric(2, "pad_mode_identifier")
    length = fields.number(4, "data_length")
    data = fields.raw(length, "message_data")
    if not fields.optional(b";"):
        raise HsmError(INVALID_INPUT, field="message_data")
    flag = fields.numeric(2, "secret_key_flag")
    if flag != _KEY_IN_COMMAND:
        raise HsmError(NO_KEYS_IN_USER_STORAGE if int(flag) < 20 else INVALID_INPUT,
                       field="secret_key_flag")
    key_length = fields.number(4, "secret_key_length")
    cryptogram = fields.raw(key_length, "secret_key")
    fields.finish()
    if hash_id not in HASHES:
        raise HsmError(INVALID_INPUT, field="hash_identifier")
    if signature_id != _SIGNATURE_RSA:
        raise HsmError(INVALID_INPUT, field="signature_identifier")
    if pad_mode != _PAD_PKCS1_V15:
        raise HsmError(INVALID_INPUT, field="pad_mode_identifier")
    if length == 0:
        raise HsmError(INVALID_INPUT, field="data_length")
    if key_length == 0 or key_length % _BITS_PER_BYTE:
        raise HsmError(SECRET_KEY_LENGTH_ERROR, field="secret_key_length")
    lmk = ctx.lmk

    def work() -> bytes:
        signature = sign(cryptogram, data, hash_id, lmk)
        return f"{len(signature):04d}".encode("ascii") + signature

    return Offload(work)


def generate_ecc_key_pair(fields: FieldReader, ctx: HsmContext) -> bytes:
    """FY: an ECC pair lives only under a key-block LMK; under this variant LMK, A1."""
    raise HsmError(INCOMPATIBLE_LMK_SCHEMES, field="lmk")


COMMANDS = (
    Command("EI", "generate an RSA key pair", generate_rsa_key_pair),
    Command("EW", "generate an RSA signature", generate_signature),
    Command("FY", "generate an ECC key pair (key-block LMK only)", generate_ecc_key_pair),
)
