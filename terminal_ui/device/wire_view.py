"""ISO 8583 messages as engineers read them: one line per field, secrets hidden.

Used by ``atmsim inquire`` and the ATM's wire panel. PANs are masked (first 6, last 4),
track 2 keeps only the masked PAN, and PIN data is never shown, only its length.
"""

from __future__ import annotations

from atmsim.kernel.masking import mask_pan, mask_track2
from atmsim.kernel.wire import IsoMessage, default_profile

__all__ = ["masked_value", "field_lines"]


def masked_value(number: str, value: str) -> str:
    """A field's value as atmsim shows it.

    >>> masked_value("2", "5264220000100010")
    '526422******0010'
    >>> masked_value("52", "0123456789ABCDEF")
    '[8 bytes, not shown]'
    """
    if number == "2":
        return mask_pan(value)
    if number == "35":
        return mask_track2(value)
    if number in ("52", "53", "55"):
        return f"[{len(value) // 2} bytes, not shown]"
    return value


def field_lines(message: IsoMessage, name_width: int = 42) -> list[str]:
    profile = default_profile()
    lines = []
    for key, value in message.items():
        if key == "t":
            lines.append(f"  {'MTI':>4}  {'Message type':<{name_width}} {value}")
            continue
        name = profile.fields[int(key)].name[:name_width]
        lines.append(f"  {key:>4}  {name:<{name_width}} {masked_value(key, value)}")
    return lines
