"""SVG snapshots of the dashboard at 120x40, from fixed event sequences fed through the
pure core at fixed times, with the app's clock pinned: the pictures change only when the
dashboard does. After an intended change: ``pytest tests/monitor --snapshot-update``, and
look at the new SVGs before committing them."""

from __future__ import annotations

from atm_monitor.app import MonitorApp
from atm_monitor.traffic import Traffic
from tests.monitor.events import payload

NOW = 1060.0


def _app(traffic: Traffic) -> MonitorApp:
    return MonitorApp(traffic, clock=lambda: NOW, source="fixed events")


def _sequence(*, hops: bool) -> Traffic:
    traffic = Traffic()
    for n in range(120):  # two a second for the last minute
        traffic.take(payload(n, hops=hops), now=NOW - 60 + n / 2)
    return traffic


def test_dashboard_with_per_hop_timings(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(_sequence(hops=True)), terminal_size=(120, 40))


def test_dashboard_of_events_without_hops(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(_sequence(hops=False)), terminal_size=(120, 40))


def test_dashboard_in_trouble(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Load shed (20 91s at once), unreadable payloads, then 15 s of silence."""
    traffic = Traffic()
    for n in range(30):
        traffic.take(payload(n), now=NOW - 20 + n / 10)
    for n in range(30, 50):
        traffic.take(payload(n, code="91", reason="switch busy: 256 inquiries in progress"),
                     now=NOW - 16)
    for raw in (b"garbage", b"[]", b'{"mti": "0200", "response_code": 91}'):
        traffic.take(raw, now=NOW - 15)
    assert snap_compare(_app(traffic), terminal_size=(120, 40))
