"""PIN issuing commands: BA (encrypt a clear PIN), JA (generate a random PIN), DE (IBM
offset), EE (derive a PIN from an IBM offset), DG (Visa PVV).

Card issuance stores, per card, a PIN offset or PVV computed from the PIN. The
host holds PINs only encrypted under LMK pair 02-03 (see
:mod:`hsm_mock.pin_under_lmk`), so BA comes first and DE/DG take its output.
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import INVALID_INPUT, SOURCE_KEY_PARITY, Advice, HsmError
from atmsim.kernel.crypto.pin_blocks import MAX_PIN_LENGTH, MIN_PIN_LENGTH
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
from hsm_mock.pin_verification import (
    check_dec_table,
    ibm3624_offset,
    ibm3624_pin_from_offset,
    visa_pvv_for_account,
)

__all__ = [
    "COMMANDS",
    "derive_ibm_pin",
    "encrypt_clear_pin",
    "generate_ibm_offset",
    "generate_pvv",
    "generate_random_pin",
]

_DEFAULT_RANDOM_PIN_LENGTH = 4


def encrypt_clear_pin(fields: FieldReader, ctx: HsmContext) -> bytes:
    """BA: clear PIN (F-padded to 13) + account -> PIN under LMK 02-03 (13N)."""
    pin_field = fields.text(ENCRYPTED_PIN_LENGTH, "pin")
    account = fields.numeric(12, "account")
    fields.finish()
    pin = parse_clear_pin_field(pin_field)
    return encrypt_pin(ctx.lmk, pin, account).encode("ascii")


def generate_random_pin(fields: FieldReader, ctx: HsmContext) -> bytes:
    """JA: a random PIN (4 digits unless a length 04-12 is given) under LMK 02-03.

    The account is the manual's 12N (12 right-most digits without the check digit),
    optionally followed by the PIN length 2N. The payShield 10K also takes the whole PAN
    (13-19 digits, check digit included) ended by ``;`` and then the PIN length, as
    clients send it (``JA1234567890128;05``); the 12 account digits are cut from it.
    """
    digits = fields.digits(19, "account")
    if fields.optional(b";"):
        if not 13 <= len(digits) <= 19:
            raise HsmError(INVALID_INPUT, field="account")
        account, pin_length = digits[-13:-1], fields.number(2, "pin_length")
    elif len(digits) in (12, 14):
        account = digits[:12]
        pin_length = int(digits[12:]) if len(digits) == 14 else _DEFAULT_RANDOM_PIN_LENGTH
    else:
        raise HsmError(INVALID_INPUT, field="account")
    fields.finish()
    if not MIN_PIN_LENGTH <= pin_length <= MAX_PIN_LENGTH:
        raise HsmError(INVALID_INPUT, field="pin_length")
    pin = "".join(str(byte % 10) for byte in _uniform_bytes(ctx, pin_length))
    return encrypt_pin(ctx.lmk, pin, account).encode("ascii")


def _uniform_bytes(ctx: HsmContext, count: int) -> list[int]:
    # Bytes below 250 only, so that "% 10" gives every digit the same chance.
    out: list[int] = []
    while len(out) < count:
        out.extend(b for b in ctx.rng(count) if b < 250)
    return out[:count]


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


def derive_ibm_pin(fields: FieldReader, ctx: HsmContext) -> bytes | Advice:
    """EE: the PIN (under LMK 02-03) that an IBM 3624 offset stands for; 02 (warning)
    with the PIN when the PVK is not single length.

    Request: PVK, offset 12H (F-padded), check length 2N, account 12N, decimalisation
    table 16N, PIN validation data 12A.
    """
    pvk_field = fields.key("pvk")
    offset = fields.hex(12, "offset")
    check_length = fields.number(2, "check_length")
    account = fields.numeric(12, "account")
    dec_table = fields.text(16, "dec_table")
    validation_data = fields.text(12, "validation_data")
    fields.finish()
    pvk = ctx.key(pvk_field, KEY_TYPE_PVK, parity_error=SOURCE_KEY_PARITY)
    check_dec_table(dec_table)
    pin = ibm3624_pin_from_offset(
        pvk.material, offset, validation_data, account, dec_table, check_length)
    return ibm_pvk_warning(pvk, encrypt_pin(ctx.lmk, pin, account).encode("ascii"))


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
    Command("JA", "generate a random PIN", generate_random_pin),
    Command("DE", "generate an IBM PIN offset", generate_ibm_offset),
    Command("EE", "derive a PIN from an IBM offset", derive_ibm_pin),
    Command("DG", "generate a Visa PVV", generate_pvv),
)
