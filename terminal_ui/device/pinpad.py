"""The ATM's encrypting PIN pad: PIN in, ISO 9564 format 0 block under the TPK out; and
the MAC of the ATM's messages under its TAK (ISO 9797-1 algorithm 3, docs/wire.md).

A real EPP keeps its terminal PIN key in tamper-responsive hardware; here it is the demo
TPK of docs/demo-data.md (test only), held in memory and never shown. The clear PIN exists
only for the duration of ``encrypt_pin``. The format-0 layout and TDES come from the
kernel's pure modules (``atmsim.kernel.crypto``), which the HSM uses too, so both ends share
one implementation (checked against psec in the tests)."""

from __future__ import annotations

from atmsim.kernel.crypto.errors import HsmError
from atmsim.kernel.crypto.pin_blocks import FORMAT_ISO0, account_number_12, build_pin_block
from atmsim.kernel.crypto.tdes import encrypt_ecb
from atmsim.kernel.wire.message_mac import message_mac

__all__ = ["PinPad", "PinEntryError"]


class PinEntryError(ValueError):
    """The digits typed cannot form a PIN block (the message never contains them)."""


class PinPad:
    def __init__(self, tpk_hex: str, tak_hex: str | None = None) -> None:
        self._tpk = bytearray.fromhex(tpk_hex)
        self._tak = bytearray.fromhex(tak_hex) if tak_hex else None

    @property
    def has_tak(self) -> bool:
        return self._tak is not None

    def mac(self, data: bytes) -> str:
        """The 8-hex MAC of ``data`` (the message's MAC input) under the TAK."""
        if self._tak is None:
            raise PinEntryError("this PIN pad holds no TAK")
        return message_mac(bytes(self._tak), data)

    def __repr__(self) -> str:
        return "<PinPad>"

    def encrypt_pin(self, pin: str, pan: str) -> str:
        """The encrypted format-0 PIN block for ``pin`` on card ``pan``, as 16 hex chars."""
        if not (4 <= len(pin) <= 12 and pin.isascii() and pin.isdigit()):
            raise PinEntryError("a PIN is 4 to 12 digits")
        try:
            clear = build_pin_block(pin, FORMAT_ISO0, account_number_12(pan))
        except HsmError:
            raise PinEntryError("the PIN cannot be formatted") from None
        return encrypt_ecb(bytes(self._tpk), clear).hex().upper()
