"""What watching the switch costs per balance inquiry: its metrics and its hop timings.

Per answered 0200 the switch keeps a ``RequestTrace``, counts the request in flight, counts
the answer by MTI / response code / terminal class, observes three step latencies and
builds the event's ``hops`` (docs/observability.md). This times exactly that work,
through ``atm_switch.metrics.SwitchMetrics`` (plain counters on the event loop,
``atmsim.kernel.loop_metrics``), next to the same counts kept with prometheus_client's own
locked ``Counter``/``Histogram``/``Gauge`` children, in one run: the ratio is what the
choice saves, whatever else the machine does.

    python benchmarks/metrics_cost.py             # median of 7 repeats of 50,000 requests
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from atm_switch.metrics import LATENCY_BUCKETS, RequestTrace, SwitchMetrics
from benchmarks._harness import machine_line


def _ours() -> object:
    metrics = SwitchMetrics()

    def one_inquiry() -> None:
        trace = RequestTrace()
        metrics.in_flight += 1
        trace.hsm_ms, trace.ledger_ms, trace.switch_ms = 0.31, 0.84, 1.52
        trace.terminal_class = "known"
        metrics.in_flight -= 1
        metrics.count_request("0200", "00", trace.terminal_class)
        metrics.observe_inquiry(trace)
        trace.hops_event()

    return one_inquiry


def _prometheus_children() -> object:
    registry = CollectorRegistry()
    requests = Counter("r", "r", ["mti", "response_code", "terminal_class"], registry=registry)
    steps = Histogram("s", "s", ["step"], buckets=LATENCY_BUCKETS, registry=registry)
    in_flight = Gauge("f", "f", registry=registry)
    children: dict[tuple[str, str, str], object] = {}
    hsm, ledger, total = (steps.labels(step).observe for step in ("hsm", "ledger", "total"))

    def one_inquiry() -> None:
        trace = RequestTrace()
        in_flight.inc()
        trace.hsm_ms, trace.ledger_ms, trace.switch_ms = 0.31, 0.84, 1.52
        in_flight.dec()
        key = ("0200", "00", "known")
        inc = children.get(key)
        if inc is None:
            inc = children[key] = requests.labels(*key).inc
        inc()  # type: ignore[operator]
        hsm(trace.hsm_ms / 1000)
        ledger(trace.ledger_ms / 1000)
        total(trace.switch_ms / 1000)
        trace.hops_event()

    return one_inquiry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=50_000, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(machine_line())
    figures = {}
    for name, make in (("switch metrics (loop_metrics)", _ours),
                       ("prometheus_client children", _prometheus_children)):
        work = make()
        runs = [timeit.timeit(work, number=args.number) / args.number * 1e6  # type: ignore[arg-type]
                for _ in range(args.repeats)]
        figures[name] = statistics.median(runs)
        print(f"{name:<32} {figures[name]:6.2f} µs per inquiry (median of {args.repeats})")
    ours, theirs = figures.values()
    print(f"ratio: prometheus_client children cost {theirs / ours:.1f}x what the switch's "
          "metrics cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
