"""Money and dates as an Indonesian (or English) screen writes them: the ATM, the portal,
the command line.

PUEBI writes rupiah as ``Rp12.345.678,00``: no space after Rp, full stops for thousands, a
comma before the two decimals. English screens write ``IDR 12,345,678.00``.
"""

from __future__ import annotations

from datetime import date

__all__ = ["format_rupiah", "format_date"]


def format_rupiah(sen: int, language: str = "id") -> str:
    """Format an amount held in sen.

    >>> format_rupiah(1234567800)
    'Rp12.345.678,00'
    >>> format_rupiah(1234567899, "en")
    'IDR 12,345,678.99'
    """
    if isinstance(sen, bool) or not isinstance(sen, int):
        raise TypeError("money is integer sen")
    sign = "-" if sen < 0 else ""
    rupiah, cents = divmod(abs(sen), 100)
    grouped = f"{rupiah:,}"
    if language == "en":
        return f"{sign}IDR {grouped}.{cents:02d}"
    return f"{sign}Rp{grouped.replace(',', '.')},{cents:02d}"


def format_date(day: date, language: str = "id") -> str:
    """The balance date as ``DD/MM/YYYY`` (BNI screens; the same in English).

    >>> format_date(date(2026, 10, 31))
    '31/10/2026'
    """
    return day.strftime("%d/%m/%Y")
