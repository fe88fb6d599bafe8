"""The monitor's pure core: what it makes of events, hostile payloads, the sliding window
and the alarms, at fixed times (no broker, no clock)."""

from __future__ import annotations

import orjson
import pytest

from atm_monitor.alarms import AlarmSettings, judge
from atm_monitor.events import EVENTS_TOPIC, MAX_EVENT_BYTES, TxEvent, Unreadable, read_event
from atm_monitor.traffic import Traffic, WindowSettings
from atm_switch.events import EVENTS_TOPIC as SWITCH_EVENTS_TOPIC
from tests.monitor.events import event, payload


def test_the_monitor_reads_the_topic_the_switch_publishes_on() -> None:
    assert EVENTS_TOPIC == SWITCH_EVENTS_TOPIC


def test_an_event_of_today_without_hops_uses_latency_ms_as_the_switch_hop() -> None:
    read = read_event(payload(0, hops=False))
    assert isinstance(read, TxEvent)
    assert (read.hop_ms("switch"), read.hop_ms("hsm"), read.hop_ms("ledger")) == (2.0, None, None)


def test_per_hop_timings_are_taken_as_given_and_null_is_a_step_that_did_not_run() -> None:
    read = read_event(orjson.dumps(
        event(1, hops=False) | {"hops": {"hsm_ms": None, "ledger_ms": 1.25, "switch_ms": 3.5}}))
    assert isinstance(read, TxEvent)
    assert (read.hop_ms("switch"), read.hop_ms("hsm"), read.hop_ms("ledger")) == (3.5, None, 1.25)


HOSTILE = {
    "garbage": (b"\x00\xff{{{", "not JSON"),
    "empty": (b"", "not JSON"),
    "a list": (b"[1, 2, 3]", "not a JSON object"),
    "a string": (b'"0200"', "not a JSON object"),
    "huge": (b'{"mti": "0200", "pad": "' + b"x" * MAX_EVENT_BYTES + b'"}', "bytes (over"),
    "mti a number": (orjson.dumps(event(0) | {"mti": 200}), "mti"),
    "code missing": (orjson.dumps({k: v for k, v in event(0).items()
                                   if k != "response_code"}), "response_code"),
    "code too long": (orjson.dumps(event(0) | {"response_code": "000"}), "response_code"),
    "latency text": (orjson.dumps(event(0) | {"latency_ms": "3.2"}), "latency_ms"),
    "latency true": (orjson.dumps(event(0) | {"latency_ms": True}), "latency_ms"),
    "latency negative": (orjson.dumps(event(0) | {"latency_ms": -1}), "latency_ms"),
    "latency huge int": (b'{"mti": "0200", "response_code": "00", "latency_ms": 1e999}',
                         "not JSON"),
    "terminal a dict": (orjson.dumps(event(0) | {"terminal_id": {"x": 1}}), "terminal_id"),
    "pan a number": (orjson.dumps(event(0) | {"pan": 5264220000100010}), "pan"),
    "hops a list": (orjson.dumps(event(0) | {"hops": [1, 2]}), "hops"),
    "hop as text": (orjson.dumps(event(0) | {"hops": {"hsm_ms": "fast"}}), "hops.hsm_ms"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "bytes (over"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_payload_is_counted_as_unreadable_with_its_reason(name: str) -> None:
    raw, reason = HOSTILE[name]
    traffic = Traffic()
    read = traffic.take(raw, now=10.0)
    assert isinstance(read, Unreadable)
    assert reason in read.reason
    assert (traffic.unreadable, traffic.events, traffic.inquiries) == (1, 0, 0)
    assert [a.kind for a in judge(traffic, 10.0)] == ["unreadable"]


def test_text_on_screen_is_cut_cleaned_and_a_clear_pan_masked_again() -> None:
    read = read_event(orjson.dumps(event(0) | {
        "pan": "5264220000100010", "terminal_id": "BNI\x1b[2J00001-and-much-more",
        "reason": "ledger: no KPJ for card 5264220000100010 " + "x" * 500}))
    assert isinstance(read, TxEvent)
    assert read.pan == "526422******0010"
    assert read.terminal_id == "BNI?[2J00001-and"  # no escape sequence reaches the screen
    assert "5264220000100010" not in read.reason and len(read.reason) == 120


def test_rates_percentiles_and_code_mix_over_the_window() -> None:
    traffic = Traffic(WindowSettings(seconds=60, rate_seconds=10))
    for n in range(100):  # 100 inquiries over 50 s, two a second
        traffic.take(payload(n), now=1000.0 + n / 2)
    now = 1049.9
    assert traffic.inquiry_rate(now) == 2.0
    assert traffic.rate_series(now)[-50:] == [2] * 50
    assert traffic.code_mix(now) == [("00", 70), ("14", 10), ("55", 10), ("91", 10)]
    switch = traffic.percentiles("switch", now)
    assert switch is not None and (switch.p50, switch.p99, switch.count) == (3.4, 4.9, 100)
    hsm = traffic.percentiles("hsm", now)
    assert hsm is not None and (round(hsm.p50, 2), round(hsm.p99, 2)) == (0.4, 0.6)
    # A minute later the window has moved past them: the totals stay.
    assert traffic.code_mix(now + 60) == [] and traffic.percentiles("switch", now + 60) is None
    assert (traffic.inquiries, traffic.events) == (100, 100)


def test_sign_ons_and_echoes_count_per_terminal_but_not_as_inquiries() -> None:
    traffic = Traffic()
    traffic.take(payload(0, code="00", mti="0800", processing_code=None), now=5.0)
    traffic.take(payload(3, code="55"), now=5.5)
    (terminal,) = traffic.recent_terminals()
    assert (terminal.terminal_id, terminal.inquiries, terminal.other_messages,
            terminal.last_code, terminal.declined) == ("BNI00001", 1, 1, "55", 1)
    assert traffic.code_mix(6.0) == [("55", 1)] and traffic.other_mtis == {"0800": 1}


def test_terminals_are_bounded_the_least_recently_seen_go_first() -> None:
    traffic = Traffic(WindowSettings(max_terminals=3))
    for n, terminal in enumerate(["T1", "T2", "T3", "T1", "T4"]):
        traffic.take(payload(n, terminal_id=terminal), now=float(n))
    assert [t.terminal_id for t in traffic.recent_terminals()] == ["T4", "T1", "T3"]


def test_a_flood_keeps_exact_counts_and_bounded_samples() -> None:
    traffic = Traffic(WindowSettings(samples_per_second=100))
    for n in range(1000):
        traffic.take(payload(n), now=7.5)
    switch = traffic.percentiles("switch", 7.5)
    assert traffic.inquiries == 1000 and switch is not None and switch.count == 100


def _traffic(codes: list[str], at: float, reason: str | None = None) -> Traffic:
    traffic = Traffic()
    for n, code in enumerate(codes):
        traffic.take(payload(n, code=code, reason=reason if code == "91" else None), now=at)
    return traffic


def test_the_91_rate_alarm_needs_enough_inquiries_and_a_share_above_the_threshold() -> None:
    settings = AlarmSettings(max_91_share=0.10, min_inquiries=10, burst_count=100)
    assert judge(_traffic(["00"] * 9 + ["91"], 1.0), 1.0, settings) == []  # 10%: not above
    assert [a.kind for a in judge(_traffic(["00"] * 8 + ["91"] * 2, 1.0), 1.0, settings)] == [
        "rate_91"]
    assert judge(_traffic(["91"] * 5, 1.0), 1.0, settings) == []  # too few to judge
    (alarm,) = judge(_traffic(["00"] * 8 + ["91"] * 2, 1.0), 1.0, settings)
    assert alarm.text == "91 rate 20% (2 of 10 inquiries in 30 s; threshold 10%)"


def test_shed_load_and_bursts_of_91() -> None:
    settings = AlarmSettings(min_inquiries=1000, burst_count=5, burst_seconds=5)
    shed = _traffic(["91"] * 3, 1.0, reason="switch busy: 256 inquiries in progress")
    assert [a.kind for a in judge(shed, 1.0, settings)] == ["shed"]
    burst = _traffic(["91"] * 5, 1.0, reason="HSM: timed out")
    assert [a.kind for a in judge(burst, 1.0, settings)] == ["burst_91"]
    assert judge(burst, 7.0, settings) == []  # the burst is over


def test_silence_is_an_alarm_only_after_terminals_were_active() -> None:
    settings = AlarmSettings(silence_seconds=10, active_seconds=300)
    assert judge(Traffic(), 1000.0, settings) == []  # nothing ever seen: nothing missing
    traffic = _traffic(["00"], 100.0)
    assert judge(traffic, 109.0, settings) == []
    (alarm,) = judge(traffic, 112.0, settings)
    assert (alarm.kind, alarm.text) == ("silence", "no events for 12 s; 1 terminal active before")
    assert judge(traffic, 401.0, settings) == []  # long gone: no terminal is active
    traffic.take(payload(1), now=112.5)
    assert judge(traffic, 113.0, settings) == []
