"""Per-key rate limits kept in memory (pure: the clock is passed in), for the channels
that must not become a way to try identities in bulk: the SMS gateway (per number), the
WhatsApp bot (per wa_id) and the portal's public forms (per client address).

Two rules, because the channels document two different promises:

* :class:`SlidingWindow`: at most ``attempts`` events per key in *any* ``seconds``
  (the SMS limits, the portal forms);
* :class:`TokenBucket`: a burst of ``capacity``, then one more every ``seconds /
  capacity`` (the WhatsApp bot: "``rate_per_minute`` a minute, a token bucket").

Both remember at most ``max_keys`` keys, the least recently seen forgotten first (a
forgotten key starts afresh: a flood of new keys cannot grow the memory).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["SlidingWindow", "TokenBucket"]

Clock = Callable[[], float]
_State = TypeVar("_State")


class _Keys(Generic[_State]):
    """The per-key states, least recently seen first, at most ``max_keys`` of them."""

    def __init__(self, new: Callable[[float], _State], clock: Clock, max_keys: int) -> None:
        self._new, self._clock, self._max_keys = new, clock, max_keys
        self._states: OrderedDict[str, _State] = OrderedDict()

    def state(self, key: str) -> tuple[_State, float]:
        """``key``'s state (a new one when unknown or forgotten) and the time now."""
        now = self._clock()
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = self._new(now)
            while len(self._states) > self._max_keys:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        return state, now

    def get(self, key: str) -> _State | None:
        """``key``'s state as it is (None: unknown), without reading the clock."""
        return self._states.get(key)


class SlidingWindow:
    """At most ``attempts`` events per key in any ``seconds``.

    >>> now = [0.0]
    >>> window = SlidingWindow(2, 10.0, clock=lambda: now[0])
    >>> window.allow("a"), window.allow("b")
    (True, True)
    >>> now[0] = 4.0
    >>> window.allow("a"), window.allow("a"), window.retry_after("a")
    (True, False, 6.0)
    >>> now[0] = 10.0  # the first "a" has left the window, the second not yet
    >>> window.retry_after("a"), window.allow("a"), window.allow("a")
    (0.0, True, False)

    ``record`` counts an event whatever the count (a failure that has happened):

    >>> failures = SlidingWindow(1, 60.0, clock=lambda: now[0])
    >>> failures.record("628"); failures.retry_after("628")
    60.0
    """

    def __init__(self, attempts: int, seconds: float, *, clock: Clock = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.attempts, self.seconds = attempts, seconds
        self._keys: _Keys[deque[float]] = _Keys(lambda now: deque(), clock, max_keys)

    def _times(self, key: str) -> tuple[deque[float], float]:
        times, now = self._keys.state(key)
        start = now - self.seconds
        while times and times[0] <= start:
            times.popleft()
        return times, now

    def allow(self, key: str) -> bool:
        """Count an event by ``key``; False (and not counted) when the window is full."""
        times, now = self._times(key)
        if len(times) >= self.attempts:
            return False
        times.append(now)
        return True

    def record(self, key: str) -> None:
        """Count an event by ``key``, full or not."""
        times, now = self._times(key)
        times.append(now)

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has room again (0.0: it has room now)."""
        times, now = self._times(key)
        if len(times) < self.attempts:
            return 0.0
        oldest = times[-self.attempts] if times else now
        return max(oldest + self.seconds - now, 0.0)


@dataclass
class _Bucket:
    tokens: float
    at: float
    refused: int = 0  # refusals since the last event let through


class TokenBucket:
    """A burst of ``capacity`` events per key, refilled at ``capacity`` per ``seconds``.

    >>> now = [0.0]
    >>> bucket = TokenBucket(2, 60.0, clock=lambda: now[0])
    >>> [bucket.allow("a") for _ in range(4)], bucket.refused("a")
    ([True, True, False, False], 2)
    >>> now[0] = 30.0  # one token back
    >>> bucket.allow("a"), bucket.refused("a"), bucket.allow("a")
    (True, 0, False)
    """

    def __init__(self, capacity: int, seconds: float, *, clock: Clock = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.capacity, self.seconds = capacity, seconds
        self._keys: _Keys[_Bucket] = _Keys(lambda now: _Bucket(float(capacity), now),
                                           clock, max_keys)

    def allow(self, key: str) -> bool:
        """Take a token for ``key``; False when the bucket is empty."""
        bucket, now = self._keys.state(key)
        bucket.tokens = min(self.capacity,
                            bucket.tokens + (now - bucket.at) * self.capacity / self.seconds)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.refused = 0
            return True
        bucket.refused += 1
        return False

    def refused(self, key: str) -> int:
        """How many of ``key``'s events were refused since the last one let through (1:
        the first refusal of a spell, the one to tell the user about)."""
        bucket = self._keys.get(key)
        return 0 if bucket is None else bucket.refused
