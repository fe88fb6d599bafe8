"""The alarms an operator must not miss, judged from the window (pure, like ``traffic``).

* ``rate_91``: more than ``max_91_share`` of the inquiries of the last ``seconds`` were
  answered 91 (issuer or switch inoperative), once there are ``min_inquiries`` to judge by;
* ``shed``: the switch shed load (91 at once, "switch busy": more inquiries in progress
  than it admits) in the last ``seconds``;
* ``burst_91``: ``burst_count`` or more 91s within ``burst_seconds``;
* ``silence``: no event for ``silence_seconds`` although terminals were active (an event
  less than ``active_seconds`` ago): the switch, its bus or the feed has stopped;
* ``unreadable``: payloads on the events topic that are not events, in the last ``seconds``.

>>> from atm_monitor.traffic import Traffic
>>> traffic = Traffic()
>>> for n in range(20):
...     _ = traffic.take(b'{"mti": "0200", "response_code": "91", "latency_ms": 1, '
...                      b'"terminal_id": "BNI00001", '
...                      b'"reason": "switch busy: 256 inquiries in progress"}', now=50.0)
>>> [alarm.kind for alarm in judge(traffic, 50.0)]
['rate_91', 'burst_91', 'shed']
>>> judge(traffic, 90.0)
[Alarm(kind='silence', text='no events for 40 s; 1 terminal active before')]
"""

from __future__ import annotations

from dataclasses import dataclass

from atm_monitor.traffic import Traffic

__all__ = ["Alarm", "AlarmSettings", "judge"]


@dataclass(frozen=True)
class AlarmSettings:
    seconds: int = 30
    max_91_share: float = 0.05
    min_inquiries: int = 10
    burst_count: int = 10
    burst_seconds: int = 5
    silence_seconds: float = 10.0
    active_seconds: float = 300.0

    @property
    def looks_back(self) -> int:
        """The seconds of history the alarms need."""
        return max(self.seconds, self.burst_seconds)


@dataclass(frozen=True)
class Alarm:
    kind: str
    text: str


def judge(traffic: Traffic, now: float, settings: AlarmSettings | None = None) -> list[Alarm]:
    """The alarms in force at ``now``, in a fixed order."""
    s = settings or AlarmSettings()
    alarms: list[Alarm] = []
    window = traffic.counts(now, s.seconds)
    unavailable = window.codes.get("91", 0)
    if window.inquiries >= s.min_inquiries and unavailable > s.max_91_share * window.inquiries:
        alarms.append(Alarm("rate_91", f"91 rate {unavailable / window.inquiries:.0%} "
                            f"({unavailable} of {window.inquiries} inquiries in {s.seconds} s; "
                            f"threshold {s.max_91_share:.0%})"))
    burst = traffic.counts(now, s.burst_seconds).codes.get("91", 0)
    if burst >= s.burst_count:
        alarms.append(Alarm("burst_91", f"burst of 91s: {burst} in {s.burst_seconds} s"))
    if window.shed:
        alarms.append(Alarm("shed", f"switch shedding load: {window.shed} inquiries answered "
                            f"91 at once (switch busy) in {s.seconds} s"))
    last = traffic.last_event_received
    active = 0 if last is None else traffic.terminals_active(last + 0.001, s.active_seconds)
    if last is not None and active and s.silence_seconds <= now - last < s.active_seconds:
        alarms.append(Alarm("silence", f"no events for {now - last:.0f} s; {active} "
                            f"terminal{'s' if active != 1 else ''} active before"))
    if window.unreadable:
        alarms.append(Alarm("unreadable", f"{window.unreadable} unreadable events in "
                            f"{s.seconds} s (last: {traffic.last_unreadable_reason})"))
    return alarms
