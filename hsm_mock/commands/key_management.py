"""Key management commands: A0 (generate a key) and BU (key check value).

Keys live under the LMK outside the HSM; these commands create them and let the
host confirm, by check value, which clear key an encrypted field holds. A0 mode 1
also returns the new key under a ZMK (or, with the ZMK/TMK flag 1, under a TMK),
ready to send to the other party.
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import (
    INVALID_INPUT,
    INVALID_KEY_LENGTH_FLAG,
    INVALID_KEY_SCHEME,
    SOURCE_KEY_PARITY,
    HsmError,
)
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.keys import KCV_LEGACY, KCV_SIX, is_hex, kcv, random_key
from hsm_mock.lmk import KEY_TYPE_TPK, KEY_TYPE_ZMK, LMK_SCHEME_KEY_LENGTH, pair_for_key_type
from hsm_mock.zmk import SCHEMES_UNDER_ZMK, encrypt_under_zmk

__all__ = ["COMMANDS", "generate_key", "key_check_value"]

# BU key length flag -> clear key length (bytes).
_LENGTH_BY_FLAG = {"0": 8, "1": 16, "2": 24}
_ALL_OPTIONS = "FF"  # BU: "use key type specified after delimiter"


def generate_key(fields: FieldReader, ctx: HsmContext) -> bytes:
    """A0: a random key of a key type, under the LMK, with its 6H KCV.

    Request: mode 1N (0 generate, 1 generate and also encrypt under a ZMK), key
    type 3H, key scheme (LMK) 1A; for mode 1 then optionally ``;`` + ZMK/TMK flag
    1N (0 ZMK, 1 TMK), the ZMK (or TMK), and the key scheme (ZMK) 1A.
    Response: key under the LMK [, key under the ZMK], KCV 6H.
    """
    mode = fields.text(1, "mode")
    key_type = fields.hex(3, "key_type")
    scheme = fields.text(1, "key_scheme").upper()
    encrypting_type = KEY_TYPE_ZMK
    if mode == "1":
        if fields.optional(b";"):
            flag = fields.text(1, "zmk_tmk_flag")
            if flag not in ("0", "1"):
                raise HsmError(INVALID_INPUT, field="zmk_tmk_flag")
            encrypting_type = KEY_TYPE_ZMK if flag == "0" else KEY_TYPE_TPK
        # The ZMK-length setting is about ZMKs: a bare TMK stays 16H.
        bare_hex = ctx.security.bare_zmk_hex if encrypting_type == KEY_TYPE_ZMK else 16
        zmk_field = fields.key("zmk", bare_hex=bare_hex)
        zmk_scheme = fields.text(1, "key_scheme_zmk").upper()
    elif mode != "0":
        raise HsmError(INVALID_INPUT, field="mode")
    fields.finish()
    pair_for_key_type(key_type)
    if scheme not in LMK_SCHEME_KEY_LENGTH:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme")
    clear = random_key(LMK_SCHEME_KEY_LENGTH[scheme], ctx.rng)
    under_lmk = ctx.lmk.encrypt_key(clear, key_type, scheme)
    if mode == "0":
        return (under_lmk + kcv(clear)).encode("ascii")
    zmk = ctx.key(zmk_field, encrypting_type, parity_error=SOURCE_KEY_PARITY)
    if zmk_scheme not in SCHEMES_UNDER_ZMK:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme_zmk")
    under_zmk = encrypt_under_zmk(zmk.material, clear, zmk_scheme)
    return (under_lmk + under_zmk + kcv(clear)).encode("ascii")


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


_SCHEME_FOR_LENGTH = {8: "Z", 16: "U", 24: "T"}


def generate_terminal_key(fields: FieldReader, ctx: HsmContext) -> bytes:
    """HC: a new TMK, TPK or PVK, under the current one and under LMK pair 14-15.

    Request: the current key (LMK 14-15), then optionally ``;`` + key scheme (TMK) 1A,
    key scheme (LMK) 1A and KCV type 1N. Response: the new key under the current key, the
    new key under the LMK, and, when the options were given, its check value (6H for
    type 1, 16H for type 0). Without options the new key has the current key's length.
    This is the key change of an ATM: the switch sends the first key to the terminal,
    which decrypts it with its current key, and keeps the second in its database.
    """
    current_field = fields.key("current_key")
    options = None
    if fields.optional(b";"):
        options = (fields.text(1, "key_scheme_tmk").upper(),
                   fields.text(1, "key_scheme_lmk").upper(), fields.text(1, "kcv_type"))
    fields.finish()
    current = ctx.key(current_field, KEY_TYPE_TPK, parity_error=SOURCE_KEY_PARITY)
    default = _SCHEME_FOR_LENGTH[len(current.material)]
    tmk_scheme, lmk_scheme, kcv_type = options or (default, default, KCV_SIX)
    if tmk_scheme not in SCHEMES_UNDER_ZMK:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme_tmk")
    if lmk_scheme not in LMK_SCHEME_KEY_LENGTH:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme_lmk")
    if kcv_type not in (KCV_LEGACY, KCV_SIX):
        raise HsmError(INVALID_INPUT, field="kcv_type")
    clear = random_key(LMK_SCHEME_KEY_LENGTH[lmk_scheme], ctx.rng)
    under_current = encrypt_under_zmk(current.material, clear, tmk_scheme)
    under_lmk = ctx.lmk.encrypt_key(clear, KEY_TYPE_TPK, lmk_scheme)
    check = kcv(clear, kcv_type) if options else ""
    return (under_current + under_lmk + check).encode("ascii")


COMMANDS = (
    Command("A0", "generate a key", generate_key),
    Command("HC", "generate a TMK, TPK or PVK under a TMK", generate_terminal_key),
    Command("BU", "generate a key check value", key_check_value),
)
