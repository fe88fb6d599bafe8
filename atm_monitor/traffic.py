"""The sliding window over the events: rates, percentiles per hop, the response-code mix,
each terminal's status and the last transactions.

Pure: ``now`` is always an argument (seconds on any steady clock: the feed passes
``time.monotonic()``, the tests a fixed number), so the same events at the same times give
the same figures. Events are kept in one-second buckets for ``WindowSettings.seconds``;
percentiles are exact over the latencies a bucket holds (at most
``samples_per_second`` per second, so that a flood costs bounded memory; the counts stay
exact). Memory is bounded in every direction: buckets by the window, terminals by
``max_terminals`` (the least recently seen goes), the last transactions by their count.

>>> traffic = Traffic()
>>> for n in range(10):
...     _ = traffic.take(b'{"mti": "0200", "response_code": "%s", "latency_ms": %d, '
...                      b'"terminal_id": "BNI00001"}' % (b"91" if n == 9 else b"00", n + 1),
...                      now=100.0 + n / 10)
>>> traffic.code_mix(100.9)
[('00', 9), ('91', 1)]
>>> traffic.percentiles("switch", 100.9)
Percentiles(p50=5.0, p99=10.0, count=10)
>>> traffic.inquiry_rate(100.9)
1.0
>>> _ = traffic.take(b"\\xff garbage", now=101.0)
>>> traffic.unreadable, traffic.last_unreadable_reason
(1, 'not JSON')
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from atm_monitor.events import HOPS, TxEvent, Unreadable, read_event

__all__ = ["Percentiles", "Seen", "TerminalStatus", "Traffic", "WindowCounts",
           "WindowSettings", "percentile"]

# What the switch says when it sheds load (atm_switch/admission.py): 91 without asking
# the HSM or the ledger.
SHED_REASON = "switch busy"


@dataclass(frozen=True)
class WindowSettings:
    seconds: int = 60  # percentiles, code mix and the plotted series
    rate_seconds: int = 10  # inquiries/s is averaged over this
    max_terminals: int = 1000
    last_transactions: int = 12
    samples_per_second: int = 5000  # latencies kept per hop per second


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p99: float
    count: int


@dataclass(frozen=True)
class WindowCounts:
    """What arrived in the last seconds: the alarms' input."""

    inquiries: int
    codes: Counter[str]
    shed: int
    unreadable: int


@dataclass
class TerminalStatus:
    terminal_id: str
    last_seen: float  # the monitor's clock
    last_at: str  # the event's own time stamp, as the switch wrote it
    last_code: str
    inquiries: int = 0
    approved: int = 0
    other_messages: int = 0  # sign-ons, echoes, reversals

    @property
    def declined(self) -> int:
        return self.inquiries - self.approved


@dataclass(frozen=True)
class Seen:
    """One event and when the monitor received it."""

    event: TxEvent
    received: float


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank percentile of an ascending list (not empty).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class _Second:
    second: int
    inquiries: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    shed: int = 0
    unreadable: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {h: [] for h in HOPS})


class Traffic:
    """Every event the monitor has seen, folded into what the dashboard shows."""

    def __init__(self, settings: WindowSettings | None = None, *, keep_seconds: int = 0) -> None:
        self.settings = settings or WindowSettings()
        # The alarms may look further back than the plots.
        self._keep = max(self.settings.seconds, self.settings.rate_seconds, keep_seconds)
        self._seconds: deque[_Second] = deque()
        self.events = 0
        self.inquiries = 0
        self.unreadable = 0
        self.last_unreadable_reason = ""
        self.last_event_received: float | None = None
        self.hops_seen = False  # some event carried per-hop timings
        self.other_mtis: Counter[str] = Counter()
        self.terminals: OrderedDict[str, TerminalStatus] = OrderedDict()  # oldest first
        self.last: deque[Seen] = deque(maxlen=self.settings.last_transactions)

    # -- taking events in ---------------------------------------------------------------

    def take(self, payload: bytes, now: float) -> TxEvent | Unreadable:
        """Read one payload off the events topic and count it, whatever it is."""
        event = read_event(payload)
        if isinstance(event, Unreadable):
            self.add_unreadable(event.reason, now)
        else:
            self.add(event, now)
        return event

    def add_unreadable(self, reason: str, now: float, count: int = 1) -> None:
        self.unreadable += count
        self.last_unreadable_reason = reason
        self._bucket(now).unreadable += count

    def add(self, event: TxEvent, now: float) -> None:
        self.events += 1
        self.last_event_received = now
        self.last.append(Seen(event, now))
        bucket = self._bucket(now)
        if event.hops:
            self.hops_seen = True
        if event.is_inquiry:
            self.inquiries += 1
            bucket.inquiries += 1
            bucket.codes[event.response_code] += 1
            if event.response_code == "91" and event.reason.startswith(SHED_REASON):
                bucket.shed += 1
            for hop in HOPS:
                value = event.hop_ms(hop)
                kept = bucket.latencies[hop]
                if value is not None and len(kept) < self.settings.samples_per_second:
                    kept.append(value)
        else:
            self.other_mtis[event.mti] += 1
        if event.terminal_id is not None:
            self._terminal(event, now)

    def _terminal(self, event: TxEvent, now: float) -> None:
        assert event.terminal_id is not None
        status = self.terminals.pop(event.terminal_id, None)
        if status is None:
            status = TerminalStatus(event.terminal_id, now, event.at, event.response_code)
            while len(self.terminals) >= self.settings.max_terminals:
                self.terminals.popitem(last=False)
        status.last_seen, status.last_at = now, event.at
        if event.is_inquiry:
            status.last_code = event.response_code
            status.inquiries += 1
            status.approved += event.response_code == "00"
        else:
            status.other_messages += 1
        self.terminals[event.terminal_id] = status  # now the most recently seen

    def _bucket(self, now: float) -> _Second:
        second = math.floor(now)
        if self._seconds and second <= self._seconds[-1].second:
            return self._seconds[-1]  # this second (or a clock that stepped back)
        bucket = _Second(second)
        self._seconds.append(bucket)
        self._prune(second)
        return bucket

    def _prune(self, second: int) -> None:
        while self._seconds and self._seconds[0].second <= second - self._keep:
            self._seconds.popleft()

    def _within(self, now: float, seconds: int) -> Iterator[_Second]:
        newest = math.floor(now)
        return (b for b in self._seconds if newest - seconds < b.second <= newest)

    # -- what the dashboard shows ---------------------------------------------------------

    def counts(self, now: float, seconds: int) -> WindowCounts:
        """Inquiries, response codes, shed loads and unreadable events of the last
        ``seconds`` (the current second included)."""
        codes: Counter[str] = Counter()
        inquiries = shed = unreadable = 0
        for bucket in self._within(now, seconds):
            inquiries += bucket.inquiries
            codes.update(bucket.codes)
            shed += bucket.shed
            unreadable += bucket.unreadable
        return WindowCounts(inquiries, codes, shed, unreadable)

    def inquiry_rate(self, now: float) -> float:
        """Inquiries per second over the last ``rate_seconds``."""
        seconds = self.settings.rate_seconds
        return self.counts(now, seconds).inquiries / seconds

    def rate_series(self, now: float) -> list[int]:
        """Inquiries in each second of the window, oldest first."""
        by_second = {b.second: b.inquiries for b in self._seconds}
        newest = math.floor(now)
        return [by_second.get(s, 0) for s in range(newest - self.settings.seconds + 1,
                                                    newest + 1)]

    def code_mix(self, now: float) -> list[tuple[str, int]]:
        """The inquiries' response codes over the window, most frequent first."""
        mix = self.counts(now, self.settings.seconds).codes
        return sorted(mix.items(), key=lambda item: (-item[1], item[0]))

    def percentiles(self, hop: str, now: float) -> Percentiles | None:
        """p50 and p99 of ``hop`` over the window; None without a sample."""
        values = sorted(v for b in self._within(now, self.settings.seconds)
                        for v in b.latencies[hop])
        if not values:
            return None
        return Percentiles(percentile(values, 50), percentile(values, 99), len(values))

    def latency_series(self, hop: str, now: float) -> list[Percentiles | None]:
        """``hop``'s p50 and p99 in each second of the window, oldest first (None: a
        second without a sample)."""
        by_second = {b.second: b for b in self._seconds}
        newest = math.floor(now)
        series: list[Percentiles | None] = []
        for second in range(newest - self.settings.seconds + 1, newest + 1):
            bucket = by_second.get(second)
            values = sorted(bucket.latencies[hop]) if bucket else []
            series.append(Percentiles(percentile(values, 50), percentile(values, 99),
                                      len(values)) if values else None)
        return series

    def recent_terminals(self) -> list[TerminalStatus]:
        """Every terminal tracked, the most recently seen first."""
        return list(reversed(self.terminals.values()))

    def terminals_active(self, now: float, seconds: float) -> int:
        """Terminals with an event in the last ``seconds``."""
        return sum(1 for t in self.terminals.values() if now - t.last_seen < seconds)
