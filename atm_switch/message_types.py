"""Message type indicators: which MTI answers which, and which messages get no answer.

An MTI is four digits: version (0 = ISO 8583:1987, 1 = 1993, 2 = 2003, 9 = private),
class (1 authorization, 2 financial, 4 reversal, 8 network management, ...), function
(0 request, 1 request response, 2 advice, 3 advice response, 4 notification, ...) and
origin (0 acquirer, 1 acquirer repeat, 2 issuer, 3 issuer repeat, 4 other, 5 other
repeat). A request or an advice is answered with the response of the same version and
class, from the original origin (a repeat 0201 is answered 0210, as its original 0200
would be); anything else is not a request and gets no answer.
"""

from __future__ import annotations

__all__ = ["response_mti"]


def response_mti(mti: str) -> str | None:
    """The MTI that answers ``mti``, or None when ``mti`` is not a request or advice.

    >>> response_mti("0200"), response_mti("0421"), response_mti("9200")
    ('0210', '0430', '9210')
    >>> response_mti("0210") is None, response_mti("02X0") is None
    (True, True)
    """
    if len(mti) != 4 or not (mti.isascii() and mti.isdigit()):
        return None
    version, klass, function, origin = mti[0], mti[1], mti[2], mti[3]
    if function not in "02" or origin not in "012345":
        return None
    return f"{version}{klass}{int(function) + 1}{int(origin) & ~1}"
