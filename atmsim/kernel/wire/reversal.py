"""Reversals on the wire: field 90 (original data elements) and the reasons an 0420 gives.

The ATM builds field 90 from the request it reverses; the switch reads it back to find that
request in its journal. Both ends share this module so they agree on every digit
(docs/wire.md, "0420 / 0421 reversal").

Field 90 is n42: original MTI (4), original STAN (6), original transmission date and time
(field 7, 10), original acquirer id (field 32, 11, zero-padded left) and forwarding
institution id (11, zeros: this network forwards nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from atmsim.kernel.wire.fields import IsoMessage

__all__ = ["OriginalData", "REVERSAL_REASONS", "REASON_LATE_RESPONSE",
           "REASON_CUSTOMER_CANCELLED", "REASON_MALFUNCTION", "REVERSAL_MTI", "REPEAT_MTI",
           "RESPONSE_MTI"]

REVERSAL_MTI, REPEAT_MTI, RESPONSE_MTI = "0420", "0421", "0430"

# Field 39 of an 0420: why the acquirer reverses (ISO 8583:1987 response codes, as
# acquirers put them in reversal advices).
REASON_LATE_RESPONSE = "68"  # no 0210 within the ATM's timeout (or it came too late)
REASON_CUSTOMER_CANCELLED = "17"  # the customer cancelled before the answer was used
REASON_MALFUNCTION = "22"  # suspected malfunction: the answer could not be used
REVERSAL_REASONS: Mapping[str, str] = {
    REASON_LATE_RESPONSE: "response received too late",
    REASON_CUSTOMER_CANCELLED: "customer cancellation",
    REASON_MALFUNCTION: "suspected malfunction",
}


@dataclass(frozen=True)
class OriginalData:
    """The parts of field 90: which request a reversal is about."""

    mti: str
    stan: str
    transmission_time: str  # the original's field 7, MMDDhhmmss
    acquirer_id: str  # the original's field 32, without its padding
    forwarding_id: str = ""

    @classmethod
    def of(cls, original: IsoMessage) -> OriginalData:
        """Field 90's parts for the request ``original`` (it must carry 11 and 7).

        >>> OriginalData.of({"t": "0200", "7": "1201093000", "11": "000123", "32": "009"}).stan
        '000123'
        """
        return cls(original["t"], original["11"], original["7"], original.get("32", ""))

    def encode(self) -> str:
        """Field 90 as 42 digits.

        >>> OriginalData("0200", "000123", "1201093000", "009").encode()
        '020000012312010930000000000000900000000000'
        """
        text = (f"{self.mti:>04}{self.stan:>06}{self.transmission_time:>010}"
                f"{self.acquirer_id:0>11}{self.forwarding_id:0>11}")
        if len(text) != 42 or not (text.isascii() and text.isdigit()):
            raise ValueError("field 90: the original's MTI, STAN, field 7 and acquirer id "
                             "do not make 42 digits")
        return text

    @classmethod
    def decode(cls, text: str) -> OriginalData:
        """Field 90 read back; a ValueError saying what is wrong with it.

        >>> OriginalData.decode("020000012312010930000000000000900000000000").padded_acquirer_id
        '00000000009'
        >>> OriginalData.decode("0200")
        Traceback (most recent call last):
        ValueError: field 90 is 4 digits, not 42
        """
        if len(text) != 42 or not (text.isascii() and text.isdigit()):
            raise ValueError(f"field 90 is {len(text)} digits, not 42" if text.isdigit()
                             else "field 90 must hold 42 digits")
        return cls(text[0:4], text[4:10], text[10:20], text[20:31].lstrip("0"),
                   text[31:42].lstrip("0"))

    @property
    def padded_acquirer_id(self) -> str:
        """The acquirer id as field 90 carries it, for comparing with a field 32.

        >>> OriginalData("0200", "000001", "1201093000", "9").padded_acquirer_id
        '00000000009'
        """
        return f"{self.acquirer_id:0>11}"
