"""ISO 8583 field 39 response codes of the BNI switch, and the one place that maps an
outcome (HSM error, ledger result, card state) to a code."""

from __future__ import annotations

from enum import StrEnum

from atmsim.kernel.crypto.errors import NO_ERROR, PIN_VERIFICATION_WARNINGS

__all__ = ["ResponseCode", "from_ledger_result", "from_hsm_error"]


class ResponseCode(StrEnum):
    APPROVED = "00"
    UNSUPPORTED_TRANSACTION = "12"
    UNKNOWN_CARD = "14"
    PARTICIPANT_NOT_FOUND = "25"
    FORMAT_ERROR = "30"
    EXPIRED_CARD = "54"
    WRONG_PIN = "55"
    NOT_PERMITTED = "57"
    TERMINAL_NOT_PERMITTED = "58"
    RESTRICTED_CARD = "62"
    SECURITY_VIOLATION = "63"
    PIN_TRIES_EXCEEDED = "75"
    UNAVAILABLE = "91"
    DUPLICATE = "94"
    INTERNAL_ERROR = "96"

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]

    # The families a terminal decides on: what the cardholder sees next depends on them.

    @property
    def is_approved(self) -> bool:
        return self is ResponseCode.APPROVED

    @property
    def is_card_problem(self) -> bool:
        """The card itself cannot be used (unknown, expired, restricted): the session ends
        and the card is returned.

        >>> ResponseCode.EXPIRED_CARD.is_card_problem, ResponseCode.WRONG_PIN.is_card_problem
        (True, False)
        """
        return self in _CARD_PROBLEMS

    @property
    def is_pin_problem(self) -> bool:
        """A wrong PIN (the cardholder may try again) or tries exceeded (the card is kept)."""
        return self in (ResponseCode.WRONG_PIN, ResponseCode.PIN_TRIES_EXCEEDED)

    @property
    def is_participant_problem(self) -> bool:
        """The card is fine but the ledger has no answer for this KPJ (25) or refuses it
        (57): another KPJ may be tried."""
        return self in (ResponseCode.PARTICIPANT_NOT_FOUND, ResponseCode.NOT_PERMITTED)

    @property
    def is_system_problem(self) -> bool:
        """Our side failed (format, terminal, unavailable, duplicate, internal): nothing
        the cardholder did, and worth trying later.

        >>> ResponseCode("91").is_system_problem
        True
        """
        return self in _SYSTEM_PROBLEMS

    @classmethod
    def describe(cls, code: str) -> str:
        """The meaning of any code, including ones this switch never sends."""
        try:
            return cls(code).meaning
        except ValueError:
            return "unknown response code"


_CARD_PROBLEMS = frozenset({ResponseCode.UNKNOWN_CARD, ResponseCode.EXPIRED_CARD,
                            ResponseCode.RESTRICTED_CARD})
_SYSTEM_PROBLEMS = frozenset({ResponseCode.UNSUPPORTED_TRANSACTION, ResponseCode.FORMAT_ERROR,
                              ResponseCode.TERMINAL_NOT_PERMITTED, ResponseCode.UNAVAILABLE,
                              ResponseCode.DUPLICATE, ResponseCode.INTERNAL_ERROR,
                              ResponseCode.SECURITY_VIOLATION})

_MEANINGS = {
    ResponseCode.APPROVED: "approved",
    ResponseCode.UNSUPPORTED_TRANSACTION: "unsupported transaction",
    ResponseCode.UNKNOWN_CARD: "unknown card",
    ResponseCode.PARTICIPANT_NOT_FOUND: "KPJ or participant not found",
    ResponseCode.FORMAT_ERROR: "format error",
    ResponseCode.EXPIRED_CARD: "expired card",
    ResponseCode.WRONG_PIN: "wrong PIN",
    ResponseCode.NOT_PERMITTED: "KPJ belongs to someone else",
    ResponseCode.TERMINAL_NOT_PERMITTED: "unknown terminal",
    ResponseCode.RESTRICTED_CARD: "restricted or blocked card",
    ResponseCode.SECURITY_VIOLATION: "security violation (MAC missing or wrong)",
    ResponseCode.PIN_TRIES_EXCEEDED: "PIN tries exceeded, card blocked",
    ResponseCode.UNAVAILABLE: "HSM, broker or ledger unavailable",
    ResponseCode.DUPLICATE: "duplicate transmission",
    ResponseCode.INTERNAL_ERROR: "internal error",
}


def from_ledger_result(result: str) -> ResponseCode:
    """The ledger's reply ``result`` to a response code."""
    return {
        "OK": ResponseCode.APPROVED,
        "NOT_FOUND": ResponseCode.PARTICIPANT_NOT_FOUND,
        "FORBIDDEN": ResponseCode.NOT_PERMITTED,
    }.get(result, ResponseCode.INTERNAL_ERROR)


def from_hsm_error(error_code: str) -> ResponseCode:
    """A PIN verification's HSM error code to a response code.

    00 and the warnings (02: the PVK is not single length, the HSM verified with TDES)
    mean the PIN is right. 01 is a verification failure; 20 and 24 mean the block does
    not hold a valid PIN of a valid length, which for the cardholder is a wrong PIN as
    well. Anything else is a key or configuration fault on our side.

    >>> from_hsm_error("02").value
    '00'
    """
    if error_code == NO_ERROR or error_code in PIN_VERIFICATION_WARNINGS:
        return ResponseCode.APPROVED
    if error_code in ("01", "20", "24"):
        return ResponseCode.WRONG_PIN
    return ResponseCode.INTERNAL_ERROR
