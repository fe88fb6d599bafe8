"""The ATM's encrypting PIN pad: PIN in, ISO 9564 format 0 block under the TPK out.

A real EPP keeps its terminal PIN key in tamper-responsive hardware; here it is the demo
TPK of docs/demo-data.md (test only), held in memory and never shown. The clear PIN exists
only for the duration of ``encrypt_pin``. The format-0 layout and TDES come from the
kernel's pure modules (``atmsim.kernel.crypto``), which the HSM uses too, so both ends share
one implementation (checked against psec in the tests)."""

from __future__ import annotations

from atmsim.kernel.crypto.errors import HsmError
from atmsim.kernel.crypto.pin_blocks import FORMAT_ISO0, account_number_12, build_pin_block
from atmsim.kernel.crypto.tdes import encrypt_ecb

__all__ = ["PinPad", "PinEntryError"]


class PinEntryError(ValueError):
    """The digits typed cannot form a PIN block (the message never contains them)."""


class PinPad:
    def __init__(self, tpk_hex: str) -> None:
        self._tpk = bytearray.fromhex(tpk_hex)

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
