"""What a load run measured: latencies in an HDR histogram, response codes, timeouts.

``LoadStats`` is fed by the run as answers arrive (cheap per record); ``LoadReport`` is
the immutable summary it produces, and ``format_report`` / ``report_json`` turn a report
into text for people and a JSON document for machines. Latencies are kept in
microseconds with 3 significant digits (HdrHistogram), from 1 µs to 10 minutes.
"""

from __future__ import annotations

import os
import platform
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from atmsim.kernel.response_codes import ResponseCode

__all__ = ["HISTOGRAM_BASE", "SecondSummary", "LoadReport", "LoadStats", "format_report",
           "report_json", "machine_description", "new_histogram", "decode_histogram",
           "latency_summary", "histogram_buckets"]

_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 600_000_000, 3
_SCATTER_POINTS = 20_000  # latency samples kept for the picture (a reservoir)
HISTOGRAM_BASE = 1.2  # each bucket of the reported histogram ends 1.2 times the one before
_REPORTED_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))


def new_histogram() -> HdrHistogram:
    """An empty latency histogram: microseconds, 1 us to 10 min, 3 significant digits."""
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def decode_histogram(encoded: str) -> HdrHistogram:
    """A histogram from its HdrHistogram encoding (V2, compressed, base64), as written by
    ``LoadReport.latency_hdr``; ``ValueError`` when the text is not one.

    >>> h = new_histogram()
    >>> h.record_value(1500)
    True
    >>> decode_histogram(h.encode().decode()).get_total_count()
    1
    """
    try:
        histogram = HdrHistogram.decode(encoded.encode("ascii"))
    except Exception as exc:  # hdrh raises zlib, binascii and its own errors alike
        raise ValueError(f"not an encoded HdrHistogram ({type(exc).__name__})") from None
    if histogram is None:
        raise ValueError("not an encoded HdrHistogram")
    return histogram


@dataclass(frozen=True)
class SecondSummary:
    """One second of the run: answers in it and their latencies in milliseconds."""

    second: int
    answered: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class LoadReport:
    target: str
    mode: str  # "open loop at N/s" or "closed loop, N in flight"
    atms: int
    elapsed_s: float
    sent: int
    answered: int
    timeouts: int
    errors: int
    response_codes: dict[str, int]
    kinds: dict[str, int]
    latency_ms: dict[str, float]  # p50 p90 p99 p99_9 max mean
    per_second: list[SecondSummary] = field(default_factory=list)
    scatter: list[tuple[float, float]] = field(default_factory=list)  # (s, ms)
    histogram_ms: list[tuple[float, int]] = field(default_factory=list)  # (ms, count)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    generator_cpu_s: float = 0.0  # CPU the generator itself used while the clock ran
    # answers that break the wire profile (39 = 00 without a valid field 54): neither
    # answered nor counted under their response code
    protocol_errors: int = 0
    # every answer's latency, HdrHistogram encoded (V2, compressed, base64): what
    # ``atmsim load --hdr-out`` keeps so that segments can be merged
    latency_hdr: str = ""

    @property
    def throughput(self) -> float:
        """Answers per second over the whole run."""
        return self.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0


class LoadStats:
    """Accumulates a run's outcomes. Times are seconds from the run's start."""

    def __init__(self, seed: int | None = None) -> None:
        self.sent = 0
        self.answered = 0
        self.timeouts = 0
        self.errors = 0
        self.protocol_errors = 0
        self.first_protocol_error = ""
        self.codes: Counter[str] = Counter()
        self._total = new_histogram()
        self._second = 0
        self._second_latencies: list[int] = []
        self.per_second: list[SecondSummary] = []
        self._scatter: list[tuple[float, float]] = []
        self._seen = 0
        self._rng = random.Random(seed)
        self._finished = False  # the last entry of per_second is a partial second

    def record(self, at: float, latency_s: float, code: str) -> None:
        """One answer ``latency_s`` seconds after its (intended) send, answered at ``at``."""
        micros = max(_LOWEST_US, min(_HIGHEST_US, int(latency_s * 1_000_000)))
        self.answered += 1
        self.codes[code] += 1
        self._total.record_value(micros)
        self._roll(at)
        self._second_latencies.append(micros)
        self._sample(at, micros)

    def record_timeout(self, at: float) -> None:
        self.timeouts += 1
        self._roll(at)

    def record_error(self, at: float) -> None:
        self.errors += 1
        self._roll(at)

    def record_protocol_error(self, at: float, problem: str) -> None:
        """An answer the ATM could not use (e.g. 00 without a valid field 54)."""
        self.protocol_errors += 1
        self.first_protocol_error = self.first_protocol_error or problem
        self._roll(at)

    def percentile_ms(self, percentile: float) -> float:
        if self._total.get_total_count() == 0:
            return 0.0
        return float(self._total.get_value_at_percentile(percentile)) / 1000

    def last_second_rate(self) -> int:
        """Answers in the last complete second (the "current rate")."""
        complete = self.per_second[:-1] if self._finished else self.per_second
        return complete[-1].answered if complete else 0

    def finish(self, at: float) -> None:
        """Close the partial last second."""
        if self._second_latencies:
            self._close_second()
            self._finished = True

    def report(self, *, target: str, mode: str, atms: int, elapsed_s: float,
               kinds: dict[str, int], notes: list[str] | None = None,
               generator_cpu_s: float = 0.0) -> LoadReport:
        return LoadReport(
            target=target, mode=mode, atms=atms, elapsed_s=elapsed_s, sent=self.sent,
            answered=self.answered, timeouts=self.timeouts, errors=self.errors,
            response_codes=dict(sorted(self.codes.items())), kinds=dict(kinds),
            latency_ms=latency_summary(self._total), per_second=list(self.per_second),
            scatter=sorted(self._scatter), histogram_ms=histogram_buckets(self._total),
            notes=list(notes or []), machine=machine_description(),
            generator_cpu_s=round(generator_cpu_s, 3), protocol_errors=self.protocol_errors,
            latency_hdr=self._total.encode().decode("ascii"))

    # -- internals ----------------------------------------------------------------------

    def _roll(self, at: float) -> None:
        second = int(at)
        while second > self._second:
            self._close_second()

    def _close_second(self) -> None:
        values = sorted(self._second_latencies)
        if values:
            summary = SecondSummary(self._second, len(values), values[len(values) // 2] / 1000,
                                    values[min(len(values) - 1, int(len(values) * 0.99))] / 1000,
                                    values[-1] / 1000)
        else:
            summary = SecondSummary(self._second, 0, 0.0, 0.0, 0.0)
        self.per_second.append(summary)
        self._second += 1
        self._second_latencies = []

    def _sample(self, at: float, micros: int) -> None:
        # Reservoir sampling (algorithm R): every answer equally likely to be drawn.
        self._seen += 1
        point = (round(at, 4), micros / 1000)
        if len(self._scatter) < _SCATTER_POINTS:
            self._scatter.append(point)
            return
        slot = self._rng.randrange(self._seen)
        if slot < _SCATTER_POINTS:
            self._scatter[slot] = point



def latency_summary(histogram: HdrHistogram) -> dict[str, float]:
    """p50 p90 p99 p99_9 max mean in milliseconds ({} for no answers)."""
    if histogram.get_total_count() == 0:
        return {}
    summary = {name: float(histogram.get_value_at_percentile(p)) / 1000
               for name, p in _REPORTED_PERCENTILES}
    summary["max"] = float(histogram.get_max_value()) / 1000
    summary["mean"] = round(float(histogram.get_mean_value()) / 1000, 3)
    return summary


def histogram_buckets(histogram: HdrHistogram) -> list[tuple[float, int]]:
    """(upper bound ms, count) per logarithmic bucket of the latencies."""
    if histogram.get_total_count() == 0:
        return []
    # Logarithmic buckets (each 1.2 times the last): latencies span microseconds to
    # seconds, and a person reads a histogram on a log axis.
    return [(round(item.value_iterated_to / 1000, 4), item.count_added_in_this_iter_step)
            for item in histogram.get_log_iterator(10, HISTOGRAM_BASE)]


def machine_description() -> dict[str, Any]:
    """Where the figures came from: CPU model and count, Python, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "load_average": [round(x, 2) for x in load]}


def _code_line(code: str, count: int, total: int) -> str:
    share = 100 * count / total if total else 0.0
    return f"  {code}  {count:>9}  {share:5.1f}%  {ResponseCode.describe(code)}"


def format_report(report: LoadReport) -> str:
    """The final report as a person reads it."""
    lat = report.latency_ms
    lines = [
        f"atmsim load: {report.target}, {report.mode}, {report.atms} virtual ATMs",
        f"  duration    {report.elapsed_s:.1f} s",
        f"  sent        {report.sent}",
        f"  answered    {report.answered}",
        f"  timeouts    {report.timeouts}",
        f"  errors      {report.errors}",
        f"  protocol    {report.protocol_errors} errors (approvals without a valid "
        f"balance, field 54)",
        f"  throughput  {report.throughput:.1f} answers/s",
    ]
    if report.answered and report.elapsed_s > 0:
        # A generator near 100% of a core measures itself, not the switch.
        lines.append(f"  generator   {report.generator_cpu_s:.1f} s CPU, "
                     f"{report.generator_cpu_s * 1e6 / report.answered:.0f} us per answer, "
                     f"{100 * report.generator_cpu_s / report.elapsed_s:.0f}% of a core")
    if lat:
        lines.append("  latency ms  " + "  ".join(
            f"{name.replace('_', '.')} {lat[name]:.2f}"
            for name in ("p50", "p90", "p99", "p99_9", "max")))
    lines.append("  inquiries   " + ", ".join(f"{n} {k}" for k, n in report.kinds.items()))
    lines.append("response codes:")
    total = sum(report.response_codes.values())
    lines.extend(_code_line(code, n, total) for code, n in report.response_codes.items())
    if not report.response_codes:
        lines.append("  (none)")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def report_json(report: LoadReport) -> dict[str, Any]:
    """The report as a JSON-ready document (latencies in ms, times in s)."""
    doc = asdict(report)
    doc["throughput_per_s"] = round(report.throughput, 2)
    doc["response_codes"] = {code: {"count": n, "meaning": ResponseCode.describe(code)}
                             for code, n in report.response_codes.items()}
    doc.pop("scatter")
    doc.pop("histogram_ms")
    doc.pop("latency_hdr")
    doc["latency_histogram_ms"] = [{"le_ms": ms, "count": n} for ms, n in report.histogram_ms]
    return doc
