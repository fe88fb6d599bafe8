"""PIN translation commands: a PIN block re-encrypted for the next hop.

* CA: from a terminal PIN key (TPK) to a zone PIN key (ZPK);
* CC: from one ZPK to another (or the same ZPK, changing the format);
* CI and G0: from a DUKPT PIN pad (BDK + KSN) to a ZPK.

The PIN is extracted inside the HSM and rebuilt in the destination format; only
the PIN length and the new block leave. Format conversions that PCI PIN 3-3
forbids (e.g. ISO 0 to ISO 1, or any standard format to IBM 3624) answer 23, as
a payShield with its PCI HSM settings does. ISO 4 (48) needs AES keys, which a
variant LMK cannot hold: it answers 23 too.
"""

from __future__ import annotations

from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.errors import (
    DESTINATION_KEY_PARITY,
    INVALID_INPUT,
    INVALID_PIN_BLOCK_FORMAT,
    PIN_LENGTH_ERROR,
    SOURCE_KEY_PARITY,
    HsmError,
)
from atmsim.kernel.crypto.pin_blocks import (
    FORMAT_ISO0,
    MAX_PIN_LENGTH,
    MIN_PIN_LENGTH,
    SUPPORTED_FORMATS,
    build_pin_block,
    check_account,
    check_translation,
    extract_pin,
)
from hsm_mock import dukpt
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.keys import Key
from hsm_mock.lmk import KEY_TYPE_BDK, KEY_TYPE_TPK, KEY_TYPE_ZPK

__all__ = [
    "COMMANDS",
    "translate_dukpt_tdes",
    "translate_dukpt_to_zpk",
    "translate_tpk_to_zpk",
    "translate_zpk_to_zpk",
]


def translate_tpk_to_zpk(fields: FieldReader, ctx: HsmContext) -> bytes:
    """CA: TPK, ZPK, max PIN length, PIN block, source and destination formats, account."""
    return _translate(fields, ctx, KEY_TYPE_TPK)


def translate_zpk_to_zpk(fields: FieldReader, ctx: HsmContext) -> bytes:
    """CC: source ZPK, destination ZPK, then the same fields as CA."""
    return _translate(fields, ctx, KEY_TYPE_ZPK)


def translate_dukpt_to_zpk(fields: FieldReader, ctx: HsmContext) -> bytes:
    """CI: BDK, ZPK, KSN descriptor, KSN, ISO 0 block, destination format, account."""
    return _translate_dukpt(fields, ctx, source_format_field=False)


def translate_dukpt_tdes(fields: FieldReader, ctx: HsmContext) -> bytes:
    """G0: as CI with a source format field (only 01, ISO 0) before the destination's."""
    return _translate_dukpt(fields, ctx, source_format_field=True)


def _translate(fields: FieldReader, ctx: HsmContext, source_type: str) -> bytes:
    source_field = fields.key("source_key")
    destination_field = fields.key("destination_zpk")
    max_pin_length = fields.number(2, "max_pin_length")
    pin_block = fields.hex(16, "pin_block")
    source_format = fields.numeric(2, "source_format")
    destination_format = fields.numeric(2, "destination_format")
    account = fields.text(12, "account")
    fields.finish()
    if not MIN_PIN_LENGTH <= max_pin_length <= MAX_PIN_LENGTH:
        raise HsmError(INVALID_INPUT, field="max_pin_length")
    source = ctx.key(source_field, source_type, parity_error=SOURCE_KEY_PARITY)
    destination = ctx.key(destination_field, KEY_TYPE_ZPK, parity_error=DESTINATION_KEY_PARITY)
    _check_formats(source_format, destination_format)
    check_account(account)
    pin = extract_pin(source.decrypt(bytes.fromhex(pin_block)), source_format, account)
    if len(pin) > max_pin_length:
        raise HsmError(PIN_LENGTH_ERROR, field="pin_block")
    return _answer(pin, destination, destination_format, account, ctx)


def _translate_dukpt(fields: FieldReader, ctx: HsmContext, *, source_format_field: bool) -> bytes:
    bdk_field = fields.key("bdk", bare_hex=32)
    zpk_field = fields.key("zpk")
    descriptor = fields.hex(3, "ksn_descriptor")
    ksn = fields.hex(dukpt.ksn_length(descriptor), "ksn")
    pin_block = fields.hex(16, "pin_block")
    source_format = fields.numeric(2, "source_format") if source_format_field else FORMAT_ISO0
    destination_format = fields.numeric(2, "destination_format")
    account = fields.text(12, "account")
    fields.finish()
    bdk = ctx.key(bdk_field, KEY_TYPE_BDK, parity_error=SOURCE_KEY_PARITY, lengths=(16,))
    zpk = ctx.key(zpk_field, KEY_TYPE_ZPK, parity_error=DESTINATION_KEY_PARITY)
    if source_format != FORMAT_ISO0:
        raise HsmError(INVALID_PIN_BLOCK_FORMAT, field="source_format")
    _check_formats(source_format, destination_format)
    check_account(account)
    pin_key = dukpt.tdes_pin_key(bdk.material, dukpt.parse_ksn(ksn))
    clear_block = tdes.decrypt_ecb(pin_key, bytes.fromhex(pin_block))
    pin = extract_pin(clear_block, FORMAT_ISO0, account)
    return _answer(pin, zpk, destination_format, account, ctx)


def _check_formats(source_format: str, destination_format: str) -> None:
    if source_format not in SUPPORTED_FORMATS:
        raise HsmError(INVALID_PIN_BLOCK_FORMAT, field="source_format")
    if destination_format not in SUPPORTED_FORMATS:
        raise HsmError(INVALID_PIN_BLOCK_FORMAT, field="destination_format")
    check_translation(source_format, destination_format)


def _answer(pin: str, key: Key, destination_format: str, account: str, ctx: HsmContext) -> bytes:
    block = build_pin_block(pin, destination_format, account, rng=ctx.rng)
    encrypted = key.encrypt(block).hex().upper()
    return f"{len(pin):02d}{encrypted}{destination_format}".encode("ascii")


COMMANDS = (
    Command("CA", "translate a PIN from TPK to ZPK", translate_tpk_to_zpk),
    Command("CC", "translate a PIN from ZPK to ZPK", translate_zpk_to_zpk),
    Command("CI", "translate a PIN from DUKPT (BDK) to ZPK", translate_dukpt_to_zpk),
    Command("G0", "translate a PIN from TDES DUKPT (BDK) to ZPK", translate_dukpt_tdes),
)
