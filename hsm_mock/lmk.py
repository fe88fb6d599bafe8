"""The variant Local Master Key (LMK): how keys are stored "under the LMK".

A variant LMK is 20 double-length TDES keys, the pairs 00-01 ... 38-39. A key of a
given type is encrypted under one pair (key type code ``vpp``: variant digit ``v``,
pair code ``pp``) with two twists, following the payShield variant scheme:

* the key-type variant (``A6 5A 6A DE 2B 50 74 9C FA`` for 1..9) is XORed into
  byte 0 of the pair's *left* key;
* the key-scheme variant is XORed into byte 0 of the pair's *right* key, a
  different one for each 8-byte part of the key: ``A6``/``5A`` for the halves of a
  ``U`` key, ``6A``/``DE``/``2B`` for the thirds of a ``T`` key, none for a
  single-length key or a bare-hex key (each part then encrypted on its own);
* each 8-byte part is encrypted with 2-key TDES-ECB under (left, right).

The default LMK is the published Thales **test** LMK set, so cryptograms match
other test HSMs and simulators. It is public: never use it for real keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import (
    INVALID_KEY_SCHEME,
    INVALID_KEY_TYPE,
    KEY_LENGTH_ERROR,
    HsmError,
)
from hsm_mock.keys import EncryptedKey, Key, is_hex

__all__ = [
    "KEY_TYPE_BDK",
    "KEY_TYPE_PVK",
    "KEY_TYPE_TAK",
    "KEY_TYPE_TPK",
    "KEY_TYPE_ZMK",
    "KEY_TYPE_ZPK",
    "LMK_SCHEME_KEY_LENGTH",
    "PAIR_NAMES",
    "PIN_PAIR",
    "VariantLmk",
    "pair_for_key_type",
]

KEY_TYPE_ZMK = "000"
KEY_TYPE_ZPK = "001"
KEY_TYPE_TPK = "002"  # also TMK and PVK: they share LMK pair 14-15
KEY_TYPE_PVK = "002"
KEY_TYPE_TAK = "003"
KEY_TYPE_BDK = "009"

PAIR_NAMES: tuple[str, ...] = tuple(f"{2 * i:02d}-{2 * i + 1:02d}" for i in range(20))

# PINs stored by the host are encrypted under this pair (manual: "LMK pair 02-03").
PIN_PAIR = "02-03"

# Pair code (last two characters of a key type code) -> LMK pair, from the
# payShield key type table (the BU command lists the same mapping).
_PAIR_BY_CODE: dict[str, str] = {
    "00": "04-05",
    "01": "06-07",
    "02": "14-15",
    "03": "16-17",
    "04": "18-19",
    "05": "20-21",
    "06": "22-23",
    "07": "24-25",
    "08": "26-27",
    "09": "28-29",
    "0A": "30-31",
    "0B": "32-33",
}

_KEY_TYPE_VARIANTS = (0x00, 0xA6, 0x5A, 0x6A, 0xDE, 0x2B, 0x50, 0x74, 0x9C, 0xFA)

# Scheme under the LMK -> (clear key length, variant per 8-byte part). "" is a
# key given as bare hex: no scheme variant, any length.
_SCHEMES: dict[str, tuple[int | None, tuple[int, ...]]] = {
    "Z": (8, (0x00,)),
    "U": (16, (0xA6, 0x5A)),
    "T": (24, (0x6A, 0xDE, 0x2B)),
    "": (None, (0x00, 0x00, 0x00)),
}
# A key scheme a command may name for a key under the LMK -> its clear length (bytes).
LMK_SCHEME_KEY_LENGTH: dict[str, int] = {
    scheme: length for scheme, (length, _) in _SCHEMES.items() if length is not None
}

_TEST_LMK = (
    "01010101010101017902CD1FD36EF8BA",
    "20202020202020203131313131313131",
    "40404040404040405151515151515151",
    "61616161616161617070707070707070",
    "80808080808080809191919191919191",
    "A1A1A1A1A1A1A1A1B0B0B0B0B0B0B0B0",
    "C1C1010101010101D0D0010101010101",
    "E0E0010101010101F1F1010101010101",
    "1C587F1C13924FEF0101010101010101",
    "01010101010101010101010101010101",
    "02020202020202020404040404040404",
    "07070707070707071010101010101010",
    "13131313131313131515151515151515",
    "16161616161616161919191919191919",
    "1A1A1A1A1A1A1A1A1C1C1C1C1C1C1C1C",
    "23232323232323232525252525252525",
    "26262626262626262929292929292929",
    "2A2A2A2A2A2A2A2A2C2C2C2C2C2C2C2C",
    "2F2F2F2F2F2F2F2F3131313131313131",
    "01010101010101010101010101010101",
)


def pair_for_key_type(key_type: str) -> tuple[str, int]:
    """LMK pair name and key-type variant for a 3H key type code (04 if unknown).

    >>> pair_for_key_type("002"), pair_for_key_type("402")
    (('14-15', 0), ('14-15', 4))
    """
    code = key_type.upper()
    if len(code) != 3 or not code[0].isdigit() or code[1:] not in _PAIR_BY_CODE:
        raise HsmError(INVALID_KEY_TYPE, field="key_type")
    return _PAIR_BY_CODE[code[1:]], int(code[0])


class VariantLmk:
    """The 20 LMK pairs, and encryption of keys and data under them.

    >>> lmk = VariantLmk.test()
    >>> clear = bytes.fromhex("E5DC0880CE4094C21A89FB6EC204B0E6")
    >>> lmk.decrypt_key(lmk.encrypt_key(clear, "002"), "002")
    <Key type=002 kcv=363645>
    """

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Sequence[bytes]) -> None:
        if len(pairs) != len(PAIR_NAMES) or any(len(p) != 16 for p in pairs):
            raise ValueError("a variant LMK is 20 double-length (16-byte) pairs")
        self._pairs = {name: bytes(p) for name, p in zip(PAIR_NAMES, pairs, strict=True)}

    @classmethod
    def test(cls) -> VariantLmk:
        """The published Thales test LMK set (public; for tests and demos only)."""
        return cls([bytes.fromhex(p) for p in _TEST_LMK])

    @classmethod
    def from_mapping(cls, pairs: Mapping[str, str]) -> VariantLmk:
        """Build from ``{"00-01": "32 hex", ...}`` with all 20 pairs."""
        if set(pairs) != set(PAIR_NAMES) or not all(
            len(v) == 32 and is_hex(v) for v in pairs.values()
        ):
            raise ValueError("an LMK file needs the 20 pairs 00-01 .. 38-39, each 32 hex")
        return cls([bytes.fromhex(pairs[name]) for name in PAIR_NAMES])

    @classmethod
    def from_file(cls, path: str | Path) -> VariantLmk:
        """Load an LMK from JSON (``{"00-01": "..."}``) or text lines ``00-01 HEX``.

        Blank lines and ``#`` comments are ignored in the text form.
        """
        text = Path(path).read_text(encoding="utf-8")
        if text.lstrip().startswith("{"):
            return cls.from_mapping(json.loads(text))
        pairs: dict[str, str] = {}
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2:
                raise ValueError("each LMK line is a pair name and 32 hex digits")
            pairs[words[0]] = words[1]
        return cls.from_mapping(pairs)

    @property
    def is_test_lmk(self) -> bool:
        """True for the public test set: callers refuse it in production."""
        return self == VariantLmk.test()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VariantLmk) and self._pairs == other._pairs

    def __hash__(self) -> int:
        return hash(self.check_value())

    def __repr__(self) -> str:
        return f"<VariantLmk check={self.check_value()[:6]}>"

    def pair(self, name: str) -> bytes:
        """The clear 16-byte LMK pair, e.g. ``"02-03"``."""
        return self._pairs[name]

    def check_value(self) -> str:
        """LMK check value as NC reports it: 6 hex digits padded with zeros to 16H.

        Computed by this mock as a zero block encrypted through all 20 pairs in
        order; the real firmware's derivation is not in our sources, so this value
        is this mock's own and is not claimed to match a real payShield.
        """
        block = bytes(tdes.BLOCK_SIZE)
        for name in PAIR_NAMES:
            block = tdes.encrypt_ecb(self._pairs[name], block)
        return block.hex().upper()[:6] + "0" * 10

    def encrypt_key(self, clear: bytes, key_type: str, scheme: str = "U") -> str:
        """Encrypt a clear key under the LMK; returns the field a command carries.

        ``scheme`` is ``Z`` (single, returned as bare 16H), ``U`` (double), ``T``
        (triple), or ``""`` for bare hex with no scheme variant (a PVK pair as 32H).

        >>> VariantLmk.test().encrypt_key(bytes(16), "002")[:1]
        'U'
        """
        length, variants = self._scheme(scheme)
        if len(clear) not in (8, 16, 24) or (length is not None and len(clear) != length):
            raise HsmError(KEY_LENGTH_ERROR, field="key")
        parts = [clear[i : i + 8] for i in range(0, len(clear), 8)]
        encrypted = b"".join(
            tdes.encrypt_ecb(self._variant_key(key_type, variant), part)
            for part, variant in zip(parts, variants, strict=False)
        )
        prefix = "" if scheme in ("Z", "") else scheme
        return prefix + encrypted.hex().upper()

    def decrypt_key(self, encrypted: str | EncryptedKey, key_type: str) -> Key:
        """Decrypt a key field (``16H``, bare ``32H``, ``U``+32H, ``T``+48H).

        Parity is *not* checked here: which error code a parity failure gives
        (10 or 11) depends on the key's place in the command.
        """
        field = encrypted if isinstance(encrypted, EncryptedKey) else EncryptedKey.parse(encrypted)
        scheme = field.scheme or ("Z" if field.length == 8 else "")
        length, variants = self._scheme(scheme)
        if length is not None and field.length != length:
            raise HsmError(KEY_LENGTH_ERROR, field="key")
        data = bytes.fromhex(field.hex)
        parts = [data[i : i + 8] for i in range(0, len(data), 8)]
        clear = b"".join(
            tdes.decrypt_ecb(self._variant_key(key_type, variant), part)
            for part, variant in zip(parts, variants, strict=False)
        )
        return Key(clear, key_type.upper())

    def _variant_key(self, key_type: str, scheme_variant: int) -> bytes:
        pair_name, type_variant = pair_for_key_type(key_type)
        pair = bytearray(self._pairs[pair_name])
        pair[0] ^= _KEY_TYPE_VARIANTS[type_variant]
        pair[8] ^= scheme_variant
        return bytes(pair)

    @staticmethod
    def _scheme(scheme: str) -> tuple[int | None, tuple[int, ...]]:
        # X and Y (ANSI X9.17) exist only under a ZMK; under the LMK they are invalid.
        if scheme not in _SCHEMES:
            raise HsmError(INVALID_KEY_SCHEME, field="key_scheme")
        return _SCHEMES[scheme]
