"""Key management commands: A0 (generate a key) and BU (key check value).

Keys live under the LMK outside the HSM; these commands create them and let the
host confirm, by check value, which clear key an encrypted field holds.
"""

from __future__ import annotations

from collections.abc import Callable

from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.errors import (
    INVALID_INPUT,
    INVALID_KEY_LENGTH_FLAG,
    INVALID_KEY_SCHEME,
    SOURCE_KEY_PARITY,
    HsmError,
)
from hsm_mock.fields import FieldReader
from hsm_mock.keys import KCV_LEGACY, KCV_SIX, force_odd_parity, is_hex, kcv
from hsm_mock.lmk import pair_for_key_type

__all__ = ["COMMANDS", "generate_key", "key_check_value"]

# BU key length flag -> clear key length (bytes).
_LENGTH_BY_FLAG = {"0": 8, "1": 16, "2": 24}
# A0 key scheme under the LMK -> clear key length (bytes).
_LENGTH_BY_SCHEME = {"Z": 8, "U": 16, "T": 24}
_ALL_OPTIONS = "FF"  # BU: "use key type specified after delimiter"


def generate_key(fields: FieldReader, ctx: HsmContext) -> bytes:
    """A0 mode 0: a random key of a key type, under the LMK, with its 6H KCV.

    Mode 1 (also export under a ZMK) is not implemented yet and answers 15.
    """
    mode = fields.text(1, "mode")
    key_type = fields.hex(3, "key_type")
    scheme = fields.text(1, "key_scheme").upper()
    fields.finish()
    if mode != "0":
        raise HsmError(INVALID_INPUT, field="mode")
    pair_for_key_type(key_type)
    if scheme not in _LENGTH_BY_SCHEME:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme")
    clear = _random_key(ctx.rng, _LENGTH_BY_SCHEME[scheme])
    return (ctx.lmk.encrypt_key(clear, key_type, scheme) + kcv(clear)).encode("ascii")


def key_check_value(fields: FieldReader, ctx: HsmContext) -> bytes:
    """BU: check value of a key under the LMK; 16H unless KCV type 1 asks for 6H.

    Request: key type code 2 (variant digit + pair code, or FF), key length flag
    1N, key, then optionally ``;`` + key type 3H and ``;`` + ZMK scheme, LMK
    scheme and KCV type.
    """
    code = fields.text(2, "key_type_code").upper()
    flag = fields.text(1, "key_length_flag")
    if flag not in _LENGTH_BY_FLAG:
        raise HsmError(INVALID_KEY_LENGTH_FLAG, field="key_length_flag")
    encrypted = fields.key("key", bare_hex=2 * _LENGTH_BY_FLAG[flag])
    key_type = None if code == _ALL_OPTIONS else code[0] + "0" + code[1]
    options: list[str] = []
    while len(options) < 2 and fields.optional(b";"):
        options.append(fields.text(3, "options"))
    fields.finish()
    kcv_type = KCV_LEGACY
    # Both option groups are 3 characters; with one group only, "FF" says it
    # is the key type, any other code says it is the scheme/KCV options.
    if options and (len(options) == 2 or key_type is None):
        key_type = options.pop(0)
        if not is_hex(key_type):
            raise HsmError(INVALID_INPUT, field="key_type")
    if options:
        kcv_type = options.pop()[2]
        if kcv_type not in (KCV_LEGACY, KCV_SIX):
            raise HsmError(INVALID_INPUT, field="kcv_type")
    if key_type is None:
        raise HsmError(INVALID_INPUT, field="key_type")
    if encrypted.length != _LENGTH_BY_FLAG[flag]:
        raise HsmError(INVALID_INPUT, field="key")
    key = ctx.key(encrypted, key_type, parity_error=SOURCE_KEY_PARITY)
    return key.kcv(kcv_type).encode("ascii")


def _random_key(rng: Callable[[int], bytes], length: int) -> bytes:
    while True:
        key = force_odd_parity(rng(length))
        parts = {key[i : i + 8] for i in range(0, length, 8)}
        # Equal halves would make a double key a single key in disguise.
        if len(parts) == length // 8:
            return key


COMMANDS = (
    Command("A0", "generate a key", generate_key),
    Command("BU", "generate a key check value", key_check_value),
)
