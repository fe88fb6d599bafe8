"""Per-number rate limits of the SMS channel (pure; the clock is passed in).

Two limits per MSISDN, so that 2757 cannot be used to try KPJs and NIKs one by one:

* ``per_minute`` commands in any 60 seconds (default 5);
* ``failures_per_day`` failed attempts in any 24 hours (default 5): a registration whose
  data do not match, a SALDO or CEK for a KPJ or NIK not registered to the number.

A limited number gets one SMS saying so per minute; what it sends meanwhile is not
answered (and not sent to the ledger). The counts live in the gateway's memory (at most
``max_numbers`` numbers, the least recently seen forgotten first).

>>> limits = RateLimits(per_minute=2, failures_per_day=1)
>>> [limits.admit("628", now=t).allowed for t in (0, 1, 2)]
[True, True, False]
>>> limits.admit("628", now=61).allowed
True
>>> limits.record_failure("628", now=62); limits.admit("628", now=63).reason
'failures'
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

__all__ = ["Admission", "RateLimits"]

_MINUTE, _DAY = 60.0, 86400.0


@dataclass(frozen=True)
class Admission:
    allowed: bool
    reason: str | None = None  # "rate" or "failures"
    retry_after: float = 0.0  # seconds
    notify: bool = False  # refused: whether to send the "limited" SMS this time


@dataclass
class _Number:
    commands: deque[float] = field(default_factory=deque)
    failures: deque[float] = field(default_factory=deque)
    notified_at: float = float("-inf")


class RateLimits:
    def __init__(self, per_minute: int = 5, failures_per_day: int = 5,
                 max_numbers: int = 100_000) -> None:
        self.per_minute = per_minute
        self.failures_per_day = failures_per_day
        self.max_numbers = max_numbers
        self._numbers: OrderedDict[str, _Number] = OrderedDict()

    def _number(self, msisdn: str) -> _Number:
        number = self._numbers.get(msisdn)
        if number is None:
            number = self._numbers[msisdn] = _Number()
            while len(self._numbers) > self.max_numbers:
                self._numbers.popitem(last=False)
        else:
            self._numbers.move_to_end(msisdn)
        return number

    def admit(self, msisdn: str, *, now: float) -> Admission:
        """Whether a message from ``msisdn`` is answered now (and count it if so)."""
        number = self._number(msisdn)
        _trim(number.commands, now - _MINUTE)
        _trim(number.failures, now - _DAY)
        if len(number.failures) >= self.failures_per_day:
            return self._refuse(number, "failures", number.failures[0] + _DAY - now, now)
        if len(number.commands) >= self.per_minute:
            return self._refuse(number, "rate", number.commands[0] + _MINUTE - now, now)
        number.commands.append(now)
        return Admission(True)

    def _refuse(self, number: _Number, reason: str, retry_after: float,
                now: float) -> Admission:
        notify = now - number.notified_at >= _MINUTE
        if notify:
            number.notified_at = now
        return Admission(False, reason, max(retry_after, 0.0), notify)

    def record_failure(self, msisdn: str, *, now: float) -> None:
        """A failed attempt (mismatch, or a KPJ/NIK not registered to this number)."""
        self._number(msisdn).failures.append(now)


def _trim(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()
