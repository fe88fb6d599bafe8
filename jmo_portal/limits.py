"""Rate limits of the portal's public forms, per client address: a sliding window of the
last attempts, kept in memory (one portal process; behind several, put them in front).

The numbers (``PORTAL_LIMITS``) keep the forms usable by a person and useless for trying
identities in bulk: a "cek kepesertaan" answers a KPJ for a NIK + birth date + name, so
a stranger who could ask it often could confirm guesses.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Limit", "SlidingWindow", "PORTAL_LIMITS"]


@dataclass(frozen=True)
class Limit:
    attempts: int
    seconds: float


# form -> at most `attempts` per client address within `seconds`
PORTAL_LIMITS = {
    "login": Limit(20, 60.0),  # the account lockout (5 wrong in a row) guards each account
    "register": Limit(10, 600.0),
    "member": Limit(10, 600.0),
}


class SlidingWindow:
    """At most ``limit.attempts`` per key in any ``limit.seconds``.

    >>> now = [0.0]
    >>> window = SlidingWindow(Limit(2, 10.0), clock=lambda: now[0])
    >>> window.allow("a"), window.allow("a"), window.allow("a"), window.allow("b")
    (True, True, False, True)
    >>> now[0] = 10.5
    >>> window.allow("a")
    True
    """

    def __init__(self, limit: Limit, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count an attempt by ``key``; False (and not counted) when over the limit."""
        now = self._clock()
        start = now - self.limit.seconds
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self._max_keys:
                self._forget_idle(start)
            times = self._seen[key] = deque()
        while times and times[0] <= start:
            times.popleft()
        if len(times) >= self.limit.attempts:
            return False
        times.append(now)
        return True

    def _forget_idle(self, start: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= start]:
            del self._seen[key]
        if len(self._seen) >= self._max_keys:  # a flood of addresses: start afresh
            self._seen.clear()
