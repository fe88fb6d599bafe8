"""What the switch measures: per request, where its time went (``RequestTrace``), and for
Prometheus, the counts and latencies of all of them (``SwitchMetrics``).

The dispatcher starts a ``RequestTrace`` for each request it routes and makes it the
current one for that request's task (as ``atm_switch.connections`` does with the request
as received); the steps that call out record their time on it: ``verify_pin`` the HSM's
PIN verification, ``query_ledger`` the ledger's answer, ``check_terminal`` whether the
terminal is on file. When the answer is sent, the dispatcher puts the timings in the
transaction event (``hops``), in field 63 when the ATM asked for them, and in the metrics.

Label values are the switch's own, from small fixed sets: the request MTI when it is one
the switch handles (else ``other``), the response code it answered, and the terminal's
class (``known``, ``unknown``, ``unchecked``): never a terminal ID, PAN, KPJ or NIK, which
are unbounded and personal. Every child series is created once and kept, so counting a
request is a dict lookup and an addition (``atmsim.kernel.loop_metrics``: no lock, the
switch counts on its event loop only). docs/observability.md lists every metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from atmsim.kernel.loop_metrics import LoopCounter, LoopHistogram
from atmsim.kernel.wire.hop_timings import HopTimings, hops_event

__all__ = ["RequestTrace", "SwitchMetrics", "current_trace", "tracing", "KNOWN_MTIS",
           "TERMINAL_CLASSES"]

# The request MTIs the switch answers by a pipeline (atm_switch.dispatcher); any other is
# counted as "other", so a peer sending every MTI cannot make new series.
KNOWN_MTIS = frozenset({"0200", "0420", "0421", "0800"})
TERMINAL_CLASSES = ("known", "unknown", "unchecked")
# Seconds; from a loopback HSM call (~0.2 ms) to the ledger deadline (5 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
STEPS = ("hsm", "ledger", "total")


@dataclass(slots=True)
class RequestTrace:
    """One request's measures, filled in by the steps that ran."""

    hsm_ms: float | None = None  # the HSM's PIN verification (with a retry under a key in grace)
    ledger_ms: float | None = None  # the ledger's answer, retries included
    switch_ms: float | None = None  # the request routed to its answer built
    terminal_class: str = "unchecked"  # known / unknown once check_terminal looked it up

    @property
    def hops(self) -> HopTimings:
        return HopTimings(self.hsm_ms, self.ledger_ms, self.switch_ms)

    def hops_event(self) -> dict[str, float | None]:
        """``hops.as_event()``, without making the ``HopTimings`` first (once per answer)."""
        return hops_event(self.hsm_ms, self.ledger_ms, self.switch_ms)


_CURRENT: ContextVar[RequestTrace | None] = ContextVar("atmsim_trace", default=None)


def current_trace() -> RequestTrace | None:
    """The trace of the request this task answers; None outside the dispatcher (a step
    tested alone)."""
    return _CURRENT.get()


def tracing(trace: RequestTrace) -> None:
    """Make ``trace`` the current request's, for this task (each request has its own)."""
    _CURRENT.set(trace)


class SwitchMetrics:
    """The switch's Prometheus metrics, in a registry of its own (``registry``).

    ``in_flight`` is a plain number the dispatcher keeps (requests being answered)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = 0
        self._requests = LoopCounter(
            "atmsim_switch_requests", "Requests answered, by request MTI, response code "
            "(field 39) and terminal class", ["mti", "response_code", "terminal_class"],
            self.registry)
        steps = LoopHistogram(
            "atmsim_switch_inquiry_step_seconds", "Time of each step of a balance inquiry "
            "(0200): hsm = the PIN verification, ledger = the ledger's answer, total = the "
            "whole answer in the switch", ["step"], LATENCY_BUCKETS, self.registry)
        dropped = LoopCounter(
            "atmsim_switch_messages_dropped", "Messages dropped without an answer: "
            "unanswerable (no request MTI and field 11) or not_a_request", ["reason"],
            self.registry)
        self._request_children: dict[tuple[str, str, str], Callable[[], None]] = {}
        self._hsm, self._ledger, self._total = (steps.child(step) for step in STEPS)
        self._dropped = {reason: dropped.child(reason)
                         for reason in ("unanswerable", "not_a_request")}

    def count_request(self, mti: str, response_code: str, terminal_class: str) -> None:
        """One answer sent."""
        key = (mti if mti in KNOWN_MTIS else "other", response_code, terminal_class)
        inc = self._request_children.get(key)
        if inc is None:
            inc = self._request_children[key] = self._requests.child(*key)
        inc()

    def observe_inquiry(self, trace: RequestTrace) -> None:
        """The step timings of one answered 0200."""
        if trace.hsm_ms is not None:
            self._hsm(trace.hsm_ms / 1000)
        if trace.ledger_ms is not None:
            self._ledger(trace.ledger_ms / 1000)
        if trace.switch_ms is not None:
            self._total(trace.switch_ms / 1000)

    def count_dropped(self, reason: str) -> None:
        self._dropped[reason]()

    def watch(self, *, connections: Callable[[], int], refused: Callable[[], int],
              pending: Callable[[], int], shed: Callable[[], int]) -> None:
        """Read the channel's and the admission's own counters at each scrape: nothing is
        counted twice on the hot path."""
        self.registry.register(_SwitchState(lambda: self.in_flight, connections, refused,
                                            pending, shed))


class _SwitchState(Collector):
    """The figures the switch keeps anyway, read when Prometheus scrapes."""

    def __init__(self, in_flight: Callable[[], int], connections: Callable[[], int],
                 refused: Callable[[], int], pending: Callable[[], int],
                 shed: Callable[[], int]) -> None:
        self._in_flight, self._connections, self._refused = in_flight, connections, refused
        self._pending, self._shed = pending, shed

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield GaugeMetricFamily("atmsim_switch_requests_in_flight",
                                "Requests being answered now", value=self._in_flight())
        yield GaugeMetricFamily("atmsim_switch_connections_open", "ATM connections open",
                                value=self._connections())
        yield CounterMetricFamily("atmsim_switch_connections_refused",
                                  "ATM connections closed at once: over switch.max_connections "
                                  "or out of file descriptors", value=self._refused())
        yield GaugeMetricFamily("atmsim_switch_inquiries_pending",
                                "Balance inquiries holding an inquiry slot (at most "
                                "switch.max_pending)", value=self._pending())
        yield CounterMetricFamily("atmsim_switch_shed",
                                  "Balance inquiries answered 91 at once because "
                                  "switch.max_pending were in progress (load shed)",
                                  value=self._shed())

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        return iter(())
