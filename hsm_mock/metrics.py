"""What the HSM counts for Prometheus: commands by code and error code, their time, the
commands held back (in flight) and the host connections (docs/observability.md).

In a registry of its own, served by ``[hsm] metrics`` (``atmsim.kernel.metrics_http``).
Label values are the HSM's own: a command code it implements (any other is counted as
``unknown``) and the two-digit error code it answered. Never a key, PIN block or field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from atmsim.kernel.loop_metrics import LoopCounter, LoopHistogram

__all__ = ["HsmMetrics", "UNKNOWN_COMMAND"]

UNKNOWN_COMMAND = "unknown"
# Seconds of work per command: a TDES block is microseconds, a PIN verification ~0.1 ms.
_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
            0.01, 0.1)


class HsmMetrics:
    """The HSM's counters; ``count`` is called once per command answered, on the loop.
    ``in_flight``: commands answered but held back by a rule's delay, not yet sent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = 0
        self._commands = LoopCounter(
            "atmsim_hsm_commands", "Host commands answered, by command code and error code",
            ["command", "error_code"], self.registry)
        self._seconds = LoopHistogram(
            "atmsim_hsm_command_seconds", "Time the HSM spent working on a command, by "
            "command code", ["command"], _BUCKETS, self.registry)
        self._children: dict[tuple[str, str], tuple[Callable[[], None],
                                                    Callable[[float], None]]] = {}

    def count(self, command: str, known: bool, error_code: str, seconds: float) -> None:
        key = (command if known else UNKNOWN_COMMAND, error_code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self._commands.child(*key),
                                               self._seconds.child(key[0]))
        inc, observe = children
        inc()
        observe(seconds)

    def watch(self, connections: Callable[[], int]) -> None:
        """Report the open host connections (and the commands held back) at each scrape."""
        self.registry.register(_Connections(connections, lambda: self.in_flight))


class _Connections(Collector):
    def __init__(self, connections: Callable[[], int], in_flight: Callable[[], int]) -> None:
        self._connections, self._in_flight = connections, in_flight

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("atmsim_hsm_connections_open", "Host connections open",
                                value=self._connections())
        yield GaugeMetricFamily("atmsim_hsm_commands_in_flight", "Commands answered but not "
                                "yet sent (held by a rule's delay); commands are otherwise "
                                "answered as they arrive", value=self._in_flight())

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
