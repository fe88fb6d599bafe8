"""Masking of card and personal data for anything a person or a log may read.

PCI DSS 3.4.1: a displayed PAN shows at most the BIN (first 6) and the last 4 digits.
"""

from __future__ import annotations

import re

__all__ = ["mask_pan", "mask_kpj", "mask_phone", "mask_name", "mask_track2", "mask_digits_in_text",
           "mask_url_passwords"]

_LONG_DIGIT_RUN = re.compile(r"(?<!\d)(\d{6})(\d{3,9})(\d{4})(?!\d)")


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, the rest as ``*``.

    >>> mask_pan("5264220000100010")
    '526422******0010'
    """
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def mask_kpj(kpj: str) -> str:
    """A KPJ as BPJS channels print it: the first 6 and the last digit.

    >>> mask_kpj("10012345678")
    '100123****8'
    """
    if len(kpj) < 8:
        return "*" * len(kpj)
    return kpj[:6] + "*" * (len(kpj) - 7) + kpj[-1]


def mask_phone(number: str) -> str:
    """A phone number (an MSISDN, a WhatsApp id): the first 5 and last 3 digits.

    >>> mask_phone("6281234567890")
    '62812*****890'
    """
    if len(number) <= 8:
        return "*" * len(number)
    return number[:5] + "*" * (len(number) - 8) + number[-3:]


def mask_track2(track2: str) -> str:
    """Mask the PAN part of track 2 and hide everything after the separator.

    >>> mask_track2("5264220000100010=3012101")
    '526422******0010=*******'
    """
    for sep in ("=", "D", "d"):
        if sep in track2:
            pan, rest = track2.split(sep, 1)
            return mask_pan(pan) + "=" + "*" * len(rest)
    return mask_pan(track2)


def mask_name(name: str) -> str:
    """Keep the first and last letter of each word, as BPJS channels print names.

    >>> mask_name("Budi Santoso")
    'B**i S*****o'
    """
    def word(w: str) -> str:
        if len(w) <= 2:
            return w[0] + "*" * (len(w) - 1)
        return w[0] + "*" * (len(w) - 2) + w[-1]

    return " ".join(word(w) for w in name.split())


def mask_digits_in_text(text: str) -> str:
    """Mask every run of 13 to 19 digits (PANs, NIKs) in free text.

    >>> mask_digits_in_text("pan=5264220000100010 ok")
    'pan=526422******0010 ok'
    """
    return _LONG_DIGIT_RUN.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


# user:password@ in a URL (mqtt://, mqtts://, postgresql://...): the password goes.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@", re.IGNORECASE)


def mask_url_passwords(text: str) -> str:
    """Replace the password of every ``scheme://user:password@`` in free text.

    >>> mask_url_passwords("cannot reach mqtt://switch:s3cr3t@10.0.0.5:1883")
    'cannot reach mqtt://switch:***@10.0.0.5:1883'
    """
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", text)
