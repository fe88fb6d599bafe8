"""PIN issuing commands: BA (encrypt a clear PIN), DE (IBM offset), DG (Visa PVV).

Card issuance stores, per card, a PIN offset or PVV computed from the PIN. The
host holds PINs only encrypted under LMK pair 02-03 (see
:mod:`hsm_mock.pin_under_lmk`), so BA comes first and DE/DG take its output.
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import SOURCE_KEY_PARITY, Advice
from hsm_mock.commands import Command
from hsm_mock.commands.pin_verify import ibm_pvk_warning
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.lmk import KEY_TYPE_PVK
from hsm_mock.pin_under_lmk import (
    ENCRYPTED_PIN_LENGTH,
    decrypt_pin,
    encrypt_pin,
    parse_clear_pin_field,
)
from hsm_mock.pin_verification import check_dec_table, ibm3624_offset, visa_pvv_for_account

__all__ = ["COMMANDS", "encrypt_clear_pin", "generate_ibm_offset", "generate_pvv"]


def encrypt_clear_pin(fields: FieldReader, ctx: HsmContext) -> bytes:
    """BA: clear PIN (F-padded to 13) + account -> PIN under LMK 02-03 (13N)."""
    pin_field = fields.text(ENCRYPTED_PIN_LENGTH, "pin")
    account = fields.numeric(12, "account")
    fields.finish()
    pin = parse_clear_pin_field(pin_field)
    return encrypt_pin(ctx.lmk, pin, account).encode("ascii")


def generate_ibm_offset(fields: FieldReader, ctx: HsmContext) -> bytes | Advice:
    """DE: IBM 3624 offset (12, F-padded) for a PIN held under the LMK; 02 (warning) with
    the offset when the PVK is not single length."""
    pvk_field = fields.key("pvk")
    encrypted_pin = fields.text(ENCRYPTED_PIN_LENGTH, "pin")
    check_length = fields.number(2, "check_length")
    account = fields.numeric(12, "account")
    dec_table = fields.text(16, "dec_table")
    validation_data = fields.text(12, "validation_data")
    fields.finish()
    pvk = ctx.key(pvk_field, KEY_TYPE_PVK, parity_error=SOURCE_KEY_PARITY)
    check_dec_table(dec_table)
    pin = decrypt_pin(ctx.lmk, encrypted_pin, account)
    offset = ibm3624_offset(pvk.material, pin, validation_data, account, dec_table, check_length)
    return ibm_pvk_warning(pvk, offset.encode("ascii"))


def generate_pvv(fields: FieldReader, ctx: HsmContext) -> bytes:
    """DG: Visa PVV (4N) for a PIN held under the LMK."""
    pvk_field = fields.key("pvk_pair", bare_hex=32)
    encrypted_pin = fields.text(ENCRYPTED_PIN_LENGTH, "pin")
    account = fields.numeric(12, "account")
    pvki = fields.number(1, "pvki")
    fields.finish()
    pvk = ctx.key(pvk_field, KEY_TYPE_PVK, parity_error=SOURCE_KEY_PARITY, lengths=(16,))
    pin = decrypt_pin(ctx.lmk, encrypted_pin, account)
    return visa_pvv_for_account(pvk.material, account, pvki, pin).encode("ascii")


COMMANDS = (
    Command("BA", "encrypt a clear PIN", encrypt_clear_pin),
    Command("DE", "generate an IBM PIN offset", generate_ibm_offset),
    Command("DG", "generate a Visa PVV", generate_pvv),
)
