"""Per-number rate limits of the SMS channel (pure; the clock is passed in).

Two limits per MSISDN, so that 2757 cannot be used to try KPJs and NIKs one by one:

* ``per_minute`` commands in any 60 seconds (default 5);
* ``failures_per_day`` failed attempts in any 24 hours (default 5): a registration whose
  data do not match, a SALDO or CEK for a KPJ or NIK not registered to the number.

A limited number gets one SMS saying so per minute; what it sends meanwhile is not
answered (and not sent to the ledger). The counts live in the gateway's memory (at most
``max_numbers`` numbers, the least recently seen forgotten first).

>>> now = [0.0]
>>> limits = RateLimits(per_minute=2, failures_per_day=1, clock=lambda: now[0])
>>> [limits.admit("628").allowed for now[0] in (0, 1, 2)]
[True, True, False]
>>> now[0] = 61; limits.admit("628").allowed
True
>>> limits.record_failure("628"); now[0] = 63; limits.admit("628").reason
'failures'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from atmsim.kernel.rate_limits import SlidingWindow

__all__ = ["Admission", "RateLimits"]

_MINUTE, _DAY = 60.0, 86400.0


@dataclass(frozen=True)
class Admission:
    allowed: bool
    reason: str | None = None  # "rate" or "failures"
    retry_after: float = 0.0  # seconds
    notify: bool = False  # refused: whether to send the "limited" SMS this time


class RateLimits:
    def __init__(self, per_minute: int = 5, failures_per_day: int = 5,
                 max_numbers: int = 100_000, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.failures_per_day = failures_per_day
        self.max_numbers = max_numbers
        self._limits = {
            "failures": SlidingWindow(failures_per_day, _DAY, clock=clock,
                                      max_keys=max_numbers),
            "rate": SlidingWindow(per_minute, _MINUTE, clock=clock, max_keys=max_numbers)}
        # the "limited" SMS: at most one per number in any minute
        self._notices = SlidingWindow(1, _MINUTE, clock=clock, max_keys=max_numbers)

    def admit(self, msisdn: str) -> Admission:
        """Whether a message from ``msisdn`` is answered now (and count it if so)."""
        for reason, window in self._limits.items():
            retry_after = window.retry_after(msisdn)
            if retry_after > 0:
                return Admission(False, reason, retry_after, self._notices.allow(msisdn))
        self._limits["rate"].record(msisdn)
        return Admission(True)

    def record_failure(self, msisdn: str) -> None:
        """A failed attempt (mismatch, or a KPJ/NIK not registered to this number)."""
        self._limits["failures"].record(msisdn)
