"""Card verification commands: CW (generate a CVV/CVC) and CY (verify one).

An issuer host asks CW for the value to encode on a new card's stripe (and CVV2, iCVV
with their service codes) and CY to check the value a transaction carries. The CVK pair
is held under LMK pair 14-15 variant 4 (key type 402), as two single keys (32H) or one
double key (U + 32H). The algorithm is in :mod:`hsm_mock.card_verification`.
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import (
    INVALID_INPUT,
    SOURCE_KEY_PARITY,
    VERIFICATION_FAILURE,
    HsmError,
)
from hsm_mock.card_verification import cvv, verify_cvv
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.keys import EncryptedKey, Key

__all__ = ["COMMANDS", "KEY_TYPE_CVK", "generate_cvv", "verify_card_value"]

KEY_TYPE_CVK = "402"
_MAX_PAN = 19


def generate_cvv(fields: FieldReader, ctx: HsmContext) -> bytes:
    """CW: CVK pair, PAN (up to 19N) ``;`` expiry 4N, service code 3N -> CVV 3N."""
    cvk_field = fields.key("cvk_pair", bare_hex=32)
    pan, expiry, service_code = _card_data(fields)
    fields.finish()
    cvk = _cvk(cvk_field, ctx)
    return cvv(cvk.material, pan, expiry, service_code).encode("ascii")


def verify_card_value(fields: FieldReader, ctx: HsmContext) -> bytes:
    """CY: CVK pair, CVV 3N, PAN ``;`` expiry, service code -> 00 or 01 (no match)."""
    cvk_field = fields.key("cvk_pair", bare_hex=32)
    value = fields.numeric(3, "cvv")
    pan, expiry, service_code = _card_data(fields)
    fields.finish()
    cvk = _cvk(cvk_field, ctx)
    if not verify_cvv(cvk.material, value, pan, expiry, service_code):
        raise HsmError(VERIFICATION_FAILURE)
    return b""


def _cvk(cvk_field: EncryptedKey, ctx: HsmContext) -> Key:
    # Two single keys or one double key: 16 bytes either way; other lengths answer 27.
    return ctx.key(cvk_field, KEY_TYPE_CVK, parity_error=SOURCE_KEY_PARITY, lengths=(16,))


def _card_data(fields: FieldReader) -> tuple[str, str, str]:
    pan = fields.digits(_MAX_PAN, "pan")
    if not fields.optional(b";"):
        raise HsmError(INVALID_INPUT, field="pan")
    return pan, fields.numeric(4, "expiry"), fields.numeric(3, "service_code")


COMMANDS = (
    Command("CW", "generate a card verification value", generate_cvv),
    Command("CY", "verify a card verification value", verify_card_value),
)
