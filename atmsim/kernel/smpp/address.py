"""Phone numbers as SMPP carries them: international digits without the plus (``62812...``).

>>> normalize_msisdn("0812-3456-7890"), normalize_msisdn("+62 812 3456 7890")
('6281234567890', '6281234567890')
"""

from __future__ import annotations

__all__ = ["COUNTRY_CODE", "normalize_msisdn"]

COUNTRY_CODE = "62"  # Indonesia


def normalize_msisdn(text: str) -> str:
    """``0812...``, ``+62812...``, ``62812...`` (spaces, dashes and dots aside) as
    ``62812...``; ``ValueError`` for anything that is not 8 to 15 digits then."""
    digits = "".join(c for c in text.strip() if c not in " -.()")
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = COUNTRY_CODE + digits[1:]
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15):
        raise ValueError(f"{text!r} is not a phone number (e.g. 081234567890)")
    return digits


