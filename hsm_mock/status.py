"""What the HSM knows about itself: uptime, command volumes, load, connections.

A payShield answers status commands (NO, NI, J2, J4, J8, JK) from counters its
firmware keeps. This mock keeps the same counters from the running process: the
server records every command it answers (code, error, time spent) and every
connection it holds; the status handlers in :mod:`hsm_mock.commands.status` only
format them. Nothing here holds request data: counts, times and peer addresses.

Utilisation is measured the way the J2 report presents it: the time is cut into
one-second periods, and each period is put in a 10 %-wide band by the share of that
second spent handling commands.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "LOAD_BANDS",
    "PIN_VERIFY_COMMANDS",
    "UNKNOWN_COMMAND_CODE",
    "ConnectionStats",
    "HsmStatus",
]

# Commands whose count is a "PIN verification" in the J8 health check.
PIN_VERIFY_COMMANDS = frozenset({"DA", "EA", "DC", "EC", "CK", "CM", "GO", "GQ", "GS", "GU"})
# How a request with a command code this HSM does not implement is counted (J4 omits it).
UNKNOWN_COMMAND_CODE = "??"
# J2 bands: (starting %, ending %), 10 % wide.
LOAD_BANDS = tuple((start, start + 10) for start in range(0, 100, 10))
_PERIOD = 1.0  # seconds per J2 utilisation period
_HOUR = 3600.0


@dataclass
class ConnectionStats:
    """One host connection as NI reports it."""

    local_port: int
    peer_host: str
    peer_port: int
    opened: float  # monotonic seconds


@dataclass
class HsmStatus:
    """Counters of a running HSM. ``clock`` (monotonic) and ``now`` (wall) are injectable.

    >>> ticks = iter([0.0, 0.5, 0.7, 2.0])
    >>> status = HsmStatus(clock=lambda: next(ticks))
    >>> status.record("DA", "00", 0.2)     # at t = 0.5: 0.2 s busy in period 0
    >>> status.record("NC", "00", 0.0)     # at t = 0.7
    >>> status.command_counts["DA"], status.pin_verifications_since(0.0)
    (1, 1)
    >>> status.load_histogram()[(20, 30)]  # period 0 was 20 % busy; now is t = 2.0
    1
    """

    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    serial_number: str = "ATMSIM000001"
    started: float = field(init=False)
    started_at: datetime = field(init=False)
    command_counts: Counter[str] = field(default_factory=Counter, init=False)
    bytes_received: int = field(default=0, init=False)
    bytes_sent: int = field(default=0, init=False)
    frames_received: int = field(default=0, init=False)
    frames_sent: int = field(default=0, init=False)
    connections: dict[int, ConnectionStats] = field(default_factory=dict, init=False)
    # PIN verifications per whole second, [second, count], for the last hour only: bounded
    # (3600 entries) however many verifications a load test drives.
    _pin_verify_seconds: deque[list[int]] = field(default_factory=deque, init=False,
                                                   repr=False)
    _period_index: int = field(default=0, init=False, repr=False)
    _period_busy: float = field(default=0.0, init=False, repr=False)
    _bands: Counter[tuple[int, int]] = field(default_factory=Counter, init=False, repr=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.started_at = self.now()

    @property
    def uptime(self) -> float:
        """Seconds since the HSM started."""
        return self.clock() - self.started

    def record(self, command: str, error: str, busy: float) -> None:
        """One command answered (with ``error``) after ``busy`` seconds of work."""
        now = self.clock()
        self.command_counts[command] += 1
        if command in PIN_VERIFY_COMMANDS:
            second = int(now)
            seconds = self._pin_verify_seconds
            if seconds and seconds[-1][0] == second:
                seconds[-1][1] += 1
            else:
                seconds.append([second, 1])
                # Only the last hour is ever reported (J8): older seconds go.
                while seconds[0][0] <= second - _HOUR:
                    seconds.popleft()
        self._roll_periods(now)
        self._period_busy += busy

    def pin_verifications_since(self, moment: float) -> int:
        """PIN verifications answered in the whole seconds from ``moment`` on (monotonic;
        the last hour at most)."""
        start = int(moment)
        return sum(count for second, count in self._pin_verify_seconds if second >= start)

    def load_histogram(self) -> Counter[tuple[int, int]]:
        """Completed one-second periods per utilisation band, since the start."""
        self._roll_periods(self.clock())
        return Counter(self._bands)

    def _roll_periods(self, now: float) -> None:
        index = int((now - self.started) / _PERIOD)
        if index <= self._period_index:
            return
        self._bands[_band(self._period_busy / _PERIOD)] += 1
        idle = index - self._period_index - 1
        if idle:
            self._bands[LOAD_BANDS[0]] += idle
        self._period_index = index
        self._period_busy = 0.0


def _band(share: float) -> tuple[int, int]:
    percent = min(max(int(share * 100), 0), 99)
    return LOAD_BANDS[percent // 10]
