"""PIN verification commands: the HSM's answer to "is this PIN right?".

* DA (terminal, TPK) and EA (interchange, ZPK): IBM 3624 offset method.
* DC (terminal, TPK) and EC (interchange, ZPK): Visa PVV method.

The PIN block arrives encrypted under the PIN key; it is decrypted, its PIN
extracted and checked here, and only the error code leaves: 00 verified, 01 not.
IBM 3624 with a double- or triple-length PVK answers 02, a warning: as the manual
says, the HSM verifies with TDES in place of DES and the PIN is right.
"""

from __future__ import annotations

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import (
    DESTINATION_KEY_PARITY,
    INVALID_INPUT,
    PIN_LENGTH_ERROR,
    PVK_NOT_SINGLE_LENGTH,
    SOURCE_KEY_PARITY,
    VERIFICATION_FAILURE,
    Advice,
    HsmError,
)
from atmsim.kernel.crypto.pin_blocks import MAX_PIN_LENGTH, MIN_PIN_LENGTH, extract_pin
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.keys import Key
from hsm_mock.lmk import KEY_TYPE_PVK, KEY_TYPE_TPK, KEY_TYPE_ZPK
from hsm_mock.pin_verification import check_dec_table, ibm3624_verify, visa_pvv_verify

__all__ = [
    "COMMANDS",
    "ibm_pvk_warning",
    "verify_ibm_tpk",
    "verify_ibm_zpk",
    "verify_pvv_tpk",
    "verify_pvv_zpk",
]


def verify_ibm_tpk(fields: FieldReader, ctx: HsmContext) -> bytes | Advice:
    """DA: verify a terminal PIN (TPK) with the IBM 3624 offset method."""
    return _verify_ibm(fields, ctx, KEY_TYPE_TPK)


def verify_ibm_zpk(fields: FieldReader, ctx: HsmContext) -> bytes | Advice:
    """EA: verify an interchange PIN (ZPK) with the IBM 3624 offset method."""
    return _verify_ibm(fields, ctx, KEY_TYPE_ZPK)


def verify_pvv_tpk(fields: FieldReader, ctx: HsmContext) -> bytes:
    """DC: verify a terminal PIN (TPK) with the Visa PVV method."""
    return _verify_pvv(fields, ctx, KEY_TYPE_TPK)


def verify_pvv_zpk(fields: FieldReader, ctx: HsmContext) -> bytes:
    """EC: verify an interchange PIN (ZPK) with the Visa PVV method."""
    return _verify_pvv(fields, ctx, KEY_TYPE_ZPK)


def _verify_ibm(fields: FieldReader, ctx: HsmContext, pin_key_type: str) -> bytes | Advice:
    # Every field is parsed before any is acted on, so a malformed request
    # answers 15 whatever else is wrong with it.
    pin_key_field = fields.key("pin_key")
    pvk_field = fields.key("pvk")
    max_pin_length = fields.number(2, "max_pin_length")
    pin_block = fields.hex(16, "pin_block")
    format_code = fields.numeric(2, "pin_block_format")
    check_length = fields.number(2, "check_length")
    account = fields.numeric(12, "account")
    dec_table = fields.text(16, "dec_table")
    validation_data = fields.text(12, "validation_data")
    offset = fields.hex(12, "offset")
    fields.finish()
    if not MIN_PIN_LENGTH <= max_pin_length <= MAX_PIN_LENGTH:
        raise HsmError(INVALID_INPUT, field="max_pin_length")
    pin_key = ctx.key(pin_key_field, pin_key_type, parity_error=SOURCE_KEY_PARITY)
    pvk = ctx.key(pvk_field, KEY_TYPE_PVK, parity_error=DESTINATION_KEY_PARITY)
    check_dec_table(dec_table)
    pin = _pin_from_block(pin_key, pin_block, format_code, account, max_pin_length)
    verified = ibm3624_verify(
        pvk.material, pin, offset, validation_data, account, dec_table, check_length
    )
    if not verified:
        raise HsmError(VERIFICATION_FAILURE)
    return ibm_pvk_warning(pvk, b"")


def ibm_pvk_warning(pvk: Key, out: bytes) -> bytes | Advice:
    """The IBM 3624 commands' reply: 02 (a warning) when the PVK is not single length."""
    return Advice(PVK_NOT_SINGLE_LENGTH, out) if len(pvk.material) > 8 else out


def _verify_pvv(fields: FieldReader, ctx: HsmContext, pin_key_type: str) -> bytes:
    pin_key_field = fields.key("pin_key")
    # The PVK pair is two single keys (32H) or one double key (U + 32H).
    pvk_field = fields.key("pvk_pair", bare_hex=32)
    pin_block = fields.hex(16, "pin_block")
    format_code = fields.numeric(2, "pin_block_format")
    account = fields.numeric(12, "account")
    pvki = fields.number(1, "pvki")
    pvv = fields.numeric(4, "pvv")
    fields.finish()
    pin_key = ctx.key(pin_key_field, pin_key_type, parity_error=SOURCE_KEY_PARITY)
    pvk = ctx.key(pvk_field, KEY_TYPE_PVK, parity_error=DESTINATION_KEY_PARITY, lengths=(16,))
    pin = _pin_from_block(pin_key, pin_block, format_code, account, MAX_PIN_LENGTH)
    if not visa_pvv_verify(pvk.material, account, pvki, pin, pvv):
        raise HsmError(VERIFICATION_FAILURE)
    return b""


def _pin_from_block(
    pin_key: Key, pin_block: str, format_code: str, account: str, max_pin_length: int
) -> str:
    clear_block = tdes.decrypt_ecb(pin_key.material, bytes.fromhex(pin_block))
    pin = extract_pin(clear_block, format_code, account)
    if len(pin) > max_pin_length:
        raise HsmError(PIN_LENGTH_ERROR, field="pin_block")
    return pin


COMMANDS = (
    Command("DA", "verify terminal PIN, IBM 3624", verify_ibm_tpk),
    Command("EA", "verify interchange PIN, IBM 3624", verify_ibm_zpk),
    Command("DC", "verify terminal PIN, Visa PVV", verify_pvv_tpk),
    Command("EC", "verify interchange PIN, Visa PVV", verify_pvv_zpk),
)
