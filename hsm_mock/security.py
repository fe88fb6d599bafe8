"""The HSM's security settings: the switches of a payShield's Configure Security (CS)
that change how host commands read keys, with a factory payShield's values as defaults.

* ``zmk_length`` ("Single/double length ZMKs [S/D]"): with ``D`` a ZMK may arrive as a
  bare 32H cryptogram (no scheme letter), which the manual allows when the HSM is set
  up for double-length ZMKs; with ``S`` a bare ZMK is 16H (single length) and a 32H
  one is refused (15). Either way a ZMK with a scheme letter (``U``/``T``) is read.
* ``x917_under_lmk``: whether a key *under the LMK* may carry the ANSI X9.17 tags ``X``
  (double) or ``Y`` (triple). A payShield has no such switch and answers 26 (invalid key
  scheme): X and Y exist only under a ZMK. ThalesSimulator and jPOS read them as the bare
  double/triple cryptogram (no scheme variant); turn this on for clients written against
  them. Off by default, as on a payShield.
* ``single_des`` ("Enable single-DES [Y/N]"): whether single-length (16H) DES keys are
  accepted; off answers 26 for them.

:attr:`SecuritySettings.pci_hsm_compliant` is what NO mode 01 reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from atmsim.kernel.crypto.errors import INVALID_KEY_SCHEME, HsmError
from hsm_mock.keys import EncryptedKey

__all__ = ["ZMK_LENGTHS", "SecuritySettings"]

ZMK_LENGTHS = ("S", "D")
_X917_BARE_LENGTH = {"X": 16, "Y": 24}


@dataclass(frozen=True)
class SecuritySettings:
    """Key-scheme settings of the HSM.

    >>> SecuritySettings().bare_zmk_hex, SecuritySettings(zmk_length="S").bare_zmk_hex
    (32, 16)
    """

    zmk_length: str = "D"
    x917_under_lmk: bool = False
    single_des: bool = True

    def __post_init__(self) -> None:
        if self.zmk_length not in ZMK_LENGTHS:
            raise ValueError("zmk_length is S (single) or D (double)")

    @property
    def bare_zmk_hex(self) -> int:
        """Hex digits of a ZMK field given without a scheme letter."""
        return 32 if self.zmk_length == "D" else 16

    @property
    def pci_hsm_compliant(self) -> bool:
        """PCI HSM wants no single-DES keys and no scheme masquerading under the LMK."""
        return not self.single_des and not self.x917_under_lmk

    def key_under_lmk(self, key: EncryptedKey) -> EncryptedKey:
        """A key field from a request as the LMK decryption reads it.

        >>> k = EncryptedKey.parse("X" + "0" * 32)
        >>> SecuritySettings(x917_under_lmk=True).key_under_lmk(k).scheme
        ''
        >>> SecuritySettings().key_under_lmk(k)
        Traceback (most recent call last):
        ...
        atmsim.kernel.crypto.errors.HsmError: error 26 in key_scheme
        """
        if key.scheme in _X917_BARE_LENGTH:
            if not self.x917_under_lmk or key.length != _X917_BARE_LENGTH[key.scheme]:
                raise HsmError(INVALID_KEY_SCHEME, field="key_scheme")
            return EncryptedKey("", key.hex)
        if key.length == 8 and not self.single_des:
            raise HsmError(INVALID_KEY_SCHEME, field="key_scheme")
        return key
