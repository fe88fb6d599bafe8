"""The ATM's local time: one terminal time zone for the 0200 (fields 12, 13, 37), the
receipt and the clock on the screen.

A BNI ATM in Jakarta runs on WIB (``Asia/Jakarta``, UTC+7, no daylight saving); an ATM in
Makassar or Jayapura would be configured ``Asia/Makassar`` (WITA) or ``Asia/Jayapura`` (WIT).
Zones come from the IANA database through ``zoneinfo`` (the system's, or the ``tzdata``
package where it is installed). Without either, Jakarta still works: WIB has been a fixed
UTC+7 without daylight saving since 1964.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TIME_ZONE", "Clock", "terminal_zone", "utc_now", "zone_label"]

DEFAULT_TIME_ZONE = "Asia/Jakarta"

Clock = Callable[[], datetime]  # returns an aware datetime (any zone)


def utc_now() -> datetime:
    return datetime.now(UTC)


_WIB = timezone(timedelta(hours=7), "WIB")


def terminal_zone(name: str) -> tzinfo:
    """The IANA zone ``name``; a ValueError with one clear line when there is none.

    >>> terminal_zone("Asia/Jakarta").key  # type: ignore[attr-defined]
    'Asia/Jakarta'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == DEFAULT_TIME_ZONE:
            return _WIB  # no zone database on this system
        raise ValueError(f"atm.time_zone: {name!r} is not a known time zone "
                         f"(an IANA name such as Asia/Jakarta)") from None


def zone_label(moment: datetime) -> str:
    """What the screen writes after the time: ``WIB`` for Jakarta, else the UTC offset.

    >>> zone_label(datetime(2026, 12, 1, 5, 0, tzinfo=terminal_zone("Asia/Jakarta")))
    'WIB'
    """
    name = moment.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
