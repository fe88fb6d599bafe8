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
from atmsim.kernel.crypto.tdes import decrypt_ecb, encrypt_ecb
from atmsim.kernel.wire.message_mac import message_mac

__all__ = ["PinPad", "PinEntryError", "KeyInstallError"]

_KEY_TAGS = (("PK", "PC", "_tpk"), ("AK", "AC", "_tak"))  # field 48 of a key change


class PinEntryError(ValueError):
    """The digits typed cannot form a PIN block (the message never contains them)."""


class KeyInstallError(ValueError):
    """New keys from the switch were refused: the PIN pad keeps the keys it had."""


def _check_value(key: bytes) -> str:
    return encrypt_ecb(key, bytes(8))[:3].hex().upper()


class PinPad:
    def __init__(self, tpk_hex: str, tak_hex: str | None = None,
                 tmk_hex: str | None = None) -> None:
        self._tpk = bytearray.fromhex(tpk_hex)
        self._tak = bytearray.fromhex(tak_hex) if tak_hex else None
        self._tmk = bytearray.fromhex(tmk_hex) if tmk_hex else None
        self.key_generation = 0  # the last generation installed by a key change (0: none)

    def install_keys(self, data: dict[str, str]) -> int:
        """Install the TPK and TAK of a key change (field 48: ``PK``/``AK`` each key under
        the TMK, scheme ``X`` + 32H; ``PC``/``AC`` its check value; ``KG`` the generation).

        Both keys are decrypted under the TMK and their check values compared before
        either is installed: a wrong check value (or a malformed key) raises
        :class:`KeyInstallError` and the PIN pad keeps its old keys.
        """
        if self._tmk is None:
            raise KeyInstallError("this PIN pad holds no TMK")
        new: dict[str, bytes] = {}
        for key_tag, kcv_tag, slot in _KEY_TAGS:
            field = data.get(key_tag, "")
            if not field:
                continue
            cryptogram = field[1:] if field[:1] == "X" else ""
            try:
                clear = decrypt_ecb(bytes(self._tmk), bytes.fromhex(cryptogram))
            except ValueError:
                raise KeyInstallError(f"{key_tag} is not a key under the TMK") from None
            if len(clear) != 16:
                raise KeyInstallError(f"{key_tag} is not a double-length key")
            if _check_value(clear) != data.get(kcv_tag, "").upper():
                raise KeyInstallError(f"{key_tag}: check value {data.get(kcv_tag)!r} does not "
                                      "match the key received")
            new[slot] = clear
        if "_tpk" not in new:
            raise KeyInstallError("no TPK in the key change")
        self._tpk = bytearray(new["_tpk"])
        if "_tak" in new:
            self._tak = bytearray(new["_tak"])
        generation = data.get("KG", "")
        self.key_generation = int(generation) if generation.isdigit() else self.key_generation + 1
        return self.key_generation

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
