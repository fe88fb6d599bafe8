"""Thales payShield error codes and the exception that carries one.

Every failure inside the HSM ends up as a 2-digit error code in the reply. Pure
functions raise :class:`HsmError`; the dispatcher turns it into the reply's error
code field. The optional ``field`` names *where* the request went wrong (a field
name, never a field value), so it is safe to log.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COMMAND_DISABLED",
    "DATA_LENGTH_ERROR",
    "DEC_TABLE_ERROR",
    "DESTINATION_KEY_PARITY",
    "INVALID_ACCOUNT",
    "INCOMPATIBLE_LMK_SCHEMES",
    "INVALID_INPUT",
    "INVALID_LMK_IDENTIFIER",
    "INVALID_KEY_LENGTH_FLAG",
    "INVALID_KEY_SCHEME",
    "INVALID_KEY_TYPE",
    "INVALID_PIN_BLOCK_FORMAT",
    "INVALID_PIN_UNDER_LMK",
    "KEY_LENGTH_ERROR",
    "NOT_AUTHORIZED",
    "NO_ERROR",
    "NO_KEYS_IN_USER_STORAGE",
    "PIN_VERIFICATION_WARNINGS",
    "PVK_NOT_SINGLE_LENGTH",
    "WARNINGS",
    "PIN_BLOCK_ERROR",
    "PIN_LENGTH_ERROR",
    "SOURCE_KEY_PARITY",
    "VERIFICATION_FAILURE",
    "Advice",
    "HsmError",
    "is_warning",
    "succeeded",
]

NO_ERROR = "00"
VERIFICATION_FAILURE = "01"
PVK_NOT_SINGLE_LENGTH = "02"
INVALID_KEY_TYPE = "04"
INVALID_KEY_LENGTH_FLAG = "05"
SOURCE_KEY_PARITY = "10"
DESTINATION_KEY_PARITY = "11"
NO_KEYS_IN_USER_STORAGE = "12"
INVALID_LMK_IDENTIFIER = "13"
INVALID_PIN_UNDER_LMK = "14"
INVALID_INPUT = "15"
NOT_AUTHORIZED = "17"
PIN_BLOCK_ERROR = "20"
INVALID_ACCOUNT = "22"
INVALID_PIN_BLOCK_FORMAT = "23"
PIN_LENGTH_ERROR = "24"
DEC_TABLE_ERROR = "25"
INVALID_KEY_SCHEME = "26"
KEY_LENGTH_ERROR = "27"
COMMAND_DISABLED = "68"
DATA_LENGTH_ERROR = "80"
# A command for the other kind of LMK (FY, key-block LMK only, sent to a variant LMK).
INCOMPATIBLE_LMK_SCHEMES = "A1"

# Warnings: the HSM did the work and the reply's fields are valid, but it flags something
# about the request. Which code is a warning depends on the command (01 is a failure for a
# PIN verification and only advice for A6), so the table is per command. A client that
# treats any non-00 as failure turns every right PIN under a double-length PVK into a decline.
WARNINGS: dict[str, dict[str, str]] = {
    # IBM 3624 commands: a double- or triple-length PVK is flagged with 02 and the command
    # goes on with TDES in place of DES (payShield host command reference).
    "DA": {PVK_NOT_SINGLE_LENGTH: "PVK not single length; verified with TDES"},
    "EA": {PVK_NOT_SINGLE_LENGTH: "PVK not single length; verified with TDES"},
    "DE": {PVK_NOT_SINGLE_LENGTH: "PVK not single length; offset generated with TDES"},
    "EE": {PVK_NOT_SINGLE_LENGTH: "PVK not single length; PIN derived with TDES"},
    "CK": {PVK_NOT_SINGLE_LENGTH: "PVK not single length; verified with TDES"},
    "QQ": {PVK_NOT_SINGLE_LENGTH: "PVK not single length; verified with TDES"},
    # Imports force odd parity on a key that lacked it and return it anyway.
    "A6": {VERIFICATION_FAILURE: "imported key had even parity; parity forced"},
}

# The PIN verification commands (DA, EA, DC, EC, CK): 00 and these mean "the PIN is right".
PIN_VERIFICATION_WARNINGS = frozenset({PVK_NOT_SINGLE_LENGTH})


def is_warning(command: str, error_code: str) -> bool:
    """True when ``error_code`` is only a warning for ``command``: its work was done.

    >>> is_warning("DA", "02"), is_warning("DA", "01"), is_warning("A6", "01")
    (True, False, True)
    """
    return error_code in WARNINGS.get(command, {})


def succeeded(command: str, error_code: str) -> bool:
    """True for 00 and for the warnings of ``command``: the reply's fields are valid.

    >>> succeeded("DE", "00"), succeeded("DE", "02"), succeeded("DG", "02")
    (True, True, False)
    """
    return error_code == NO_ERROR or is_warning(command, error_code)


class HsmError(Exception):
    """A request the HSM refuses, with the Thales error code to answer.

    >>> err = HsmError(PIN_LENGTH_ERROR, field="pin_block")
    >>> (err.code, err.field)
    ('24', 'pin_block')
    """

    def __init__(self, code: str, *, field: str = "") -> None:
        if len(code) != 2:
            raise ValueError("a Thales error code has two characters")
        # The message is only the code and field name: never request data, so the
        # exception is safe to log wherever it ends up.
        super().__init__(f"error {code}" + (f" in {field}" if field else ""))
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Advice:
    """A reply that carries response fields *and* a non-zero error code.

    Some errors are advice only: A6 imports a key with bad parity, forces odd
    parity and answers 01 together with the key. A handler returns an
    :class:`Advice` instead of plain response fields in that case.
    """

    code: str
    fields: bytes
