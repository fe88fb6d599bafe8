"""Key exchange commands: A6 (import a key from a ZMK) and A8 (export it to a ZMK).

Two banks share a Zone Master Key, set up once in a key ceremony from clear
components. Working keys (ZPKs, ZAKs, ...) then travel encrypted under the ZMK:
the sender exports them from its LMK (A8), the receiver imports them into its own
(A6). Key schemes under the ZMK are in :mod:`hsm_mock.zmk`.
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import (
    DESTINATION_KEY_PARITY,
    INVALID_KEY_SCHEME,
    KEY_LENGTH_ERROR,
    SOURCE_KEY_PARITY,
    VERIFICATION_FAILURE,
    Advice,
    HsmError,
)
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.keys import force_odd_parity, has_odd_parity, kcv
from hsm_mock.lmk import KEY_TYPE_ZMK, LMK_SCHEME_KEY_LENGTH, pair_for_key_type
from hsm_mock.zmk import SCHEMES_UNDER_ZMK, decrypt_under_zmk, encrypt_under_zmk

__all__ = ["COMMANDS", "export_key", "import_key"]


def import_key(fields: FieldReader, ctx: HsmContext) -> bytes | Advice:
    """A6: key type 3H, ZMK, key under ZMK, key scheme (LMK) 1A -> key under LMK + KCV.

    A key with even-parity bytes is imported with its parity forced odd and
    answered with error 01: advice, as on a payShield, with the key and KCV.
    """
    key_type = fields.hex(3, "key_type")
    zmk_field = fields.key("zmk", bare_hex=ctx.security.bare_zmk_hex)
    key_field = fields.key("key_under_zmk")
    lmk_scheme = fields.text(1, "key_scheme_lmk").upper()
    fields.finish()
    pair_for_key_type(key_type)
    if lmk_scheme not in LMK_SCHEME_KEY_LENGTH:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme_lmk")
    zmk = ctx.key(zmk_field, KEY_TYPE_ZMK, parity_error=SOURCE_KEY_PARITY)
    clear = decrypt_under_zmk(zmk.material, key_field)
    if len(clear) != LMK_SCHEME_KEY_LENGTH[lmk_scheme]:
        raise HsmError(KEY_LENGTH_ERROR, field="key_scheme_lmk")
    parity_ok = has_odd_parity(clear)
    clear = force_odd_parity(clear)
    out = (ctx.lmk.encrypt_key(clear, key_type, lmk_scheme) + kcv(clear)).encode("ascii")
    return out if parity_ok else Advice(VERIFICATION_FAILURE, out)


def export_key(fields: FieldReader, ctx: HsmContext) -> bytes:
    """A8: key type 3H, ZMK, key under LMK, key scheme (ZMK) 1A -> key under ZMK + KCV."""
    key_type = fields.hex(3, "key_type")
    zmk_field = fields.key("zmk", bare_hex=ctx.security.bare_zmk_hex)
    key_field = fields.key("key")
    zmk_scheme = fields.text(1, "key_scheme_zmk").upper()
    fields.finish()
    pair_for_key_type(key_type)
    if zmk_scheme not in SCHEMES_UNDER_ZMK:
        raise HsmError(INVALID_KEY_SCHEME, field="key_scheme_zmk")
    zmk = ctx.key(zmk_field, KEY_TYPE_ZMK, parity_error=SOURCE_KEY_PARITY)
    key = ctx.key(key_field, key_type, parity_error=DESTINATION_KEY_PARITY)
    under_zmk = encrypt_under_zmk(zmk.material, key.material, zmk_scheme)
    return (under_zmk + key.kcv()).encode("ascii")


COMMANDS = (
    Command("A6", "import a key from ZMK to LMK", import_key),
    Command("A8", "export a key from LMK to ZMK", export_key),
)
