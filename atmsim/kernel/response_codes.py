"""ISO 8583 field 39 response codes of the BNI switch, and the one place that maps an
outcome (HSM error, ledger result, card state) to a code."""

from __future__ import annotations

from enum import StrEnum

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
    PIN_TRIES_EXCEEDED = "75"
    UNAVAILABLE = "91"
    DUPLICATE = "94"
    INTERNAL_ERROR = "96"

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]

    @classmethod
    def describe(cls, code: str) -> str:
        """The meaning of any code, including ones this switch never sends."""
        try:
            return cls(code).meaning
        except ValueError:
            return "unknown response code"


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

    01 is a verification failure; 20 and 24 mean the block does not hold a valid PIN of
    a valid length, which for the cardholder is a wrong PIN as well. Anything else is a
    key or configuration fault on our side.
    """
    if error_code == "00":
        return ResponseCode.APPROVED
    if error_code in ("01", "20", "24"):
        return ResponseCode.WRONG_PIN
    return ResponseCode.INTERNAL_ERROR
