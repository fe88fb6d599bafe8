"""What the ledger counts for Prometheus: the requests it answered by type (``balance``,
``statement``, ``post``, the portal's ``member`` and ``contributions``, the chat channel's
``membership``, ``bsu`` and ``complaint``, SMS 2757's ``sms``) and result, and how long each took
(docs/observability.md).

One registry for all the workers of a ``run_ledger``, served by ``[ledger] metrics``
(``atmsim.kernel.metrics_http``). Label values come from fixed sets: the request type of
the topic it came on and the ``result`` of the reply the ledger sent (any other value is
counted as ``other``); never a NIK, KPJ or name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from atmsim.kernel.loop_metrics import LoopCounter, LoopHistogram

__all__ = ["LedgerMetrics", "QUERY_TYPES", "RESULTS"]

QUERY_TYPES = ("balance", "statement", "post", "member", "contributions", "membership", "bsu",
               "complaint", "sms")
# Every result a reply can carry (docs/ledger.md), and NO_REPLY: a rule kept it back.
RESULTS = frozenset({"OK", "NOT_FOUND", "FORBIDDEN", "ERROR", "POSTED", "REJECTED",
                     "NO_MATCH", "NOT_VERIFIED", "FILED", "REGISTERED", "MISMATCH",
                     "NOT_REGISTERED", "NO_REPLY"})
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            0.5, 1.0, 5.0)


class LedgerMetrics:
    """The ledger's counters; ``answered`` is called once per request handled, on the
    loop. ``in_flight``: requests being answered now."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = 0
        self._queries = LoopCounter("atmsim_ledger_queries", "Requests answered, by type "
                                    "and result", ["type", "result"], self.registry)
        seconds = LoopHistogram("atmsim_ledger_query_seconds", "Time from a request taken "
                                "off the bus to its reply, by type", ["type"], _BUCKETS,
                                self.registry)
        self.registry.register(_InFlight(lambda: self.in_flight))
        self._counts: dict[tuple[str, str], Callable[[], None]] = {}
        self._observe = {kind: seconds.child(kind) for kind in QUERY_TYPES}

    def answered(self, kind: str, result: object, seconds: float) -> None:
        key = (kind, result if isinstance(result, str) and result in RESULTS else "other")
        inc = self._counts.get(key)
        if inc is None:
            inc = self._counts[key] = self._queries.child(*key)
        inc()
        self._observe[kind](seconds)


class _InFlight(Collector):
    def __init__(self, in_flight: Callable[[], int]) -> None:
        self._in_flight = in_flight

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("atmsim_ledger_queries_in_flight", "Requests being "
                                "answered now", value=self._in_flight())

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
