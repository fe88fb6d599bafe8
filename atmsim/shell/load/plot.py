"""The picture of a load run: latency over time above, the latency histogram below.

matplotlib with its Agg backend (no display needed); the file's extension chooses the
format, ``.png`` or ``.svg``. It is imported only when a picture is asked for, so a run
without ``--plot`` does not pay for it.
"""

from __future__ import annotations

from pathlib import Path

from atmsim.shell.load.stats import HISTOGRAM_BASE, LoadReport

__all__ = ["PLOT_FORMATS", "write_plot"]

PLOT_FORMATS = (".png", ".svg")


def write_plot(report: LoadReport, path: Path) -> None:
    """Write the picture of ``report`` to ``path`` (PNG or SVG by extension)."""
    suffix = path.suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise ValueError(f"{path}: the picture is written as .png or .svg")
    import matplotlib

    matplotlib.use("Agg")  # files only: never look for a display
    import matplotlib.pyplot as plt

    figure, (over_time, histogram) = plt.subplots(2, 1, figsize=(10, 8), layout="constrained")
    try:
        _latency_over_time(over_time, report)
        _latency_histogram(histogram, report)
        figure.suptitle(f"atmsim load: {report.target}, {report.mode}, {report.atms} ATMs; "
                        f"{report.throughput:.0f} answers/s")
        figure.savefig(path, format=suffix[1:], dpi=100)
    finally:
        plt.close(figure)


def _latency_over_time(axes, report: LoadReport) -> None:  # type: ignore[no-untyped-def]
    if report.scatter:
        times, latencies = zip(*report.scatter, strict=True)
        axes.scatter(times, latencies, s=2, alpha=0.25, color="tab:gray", linewidths=0,
                     label="inquiries (sample)")
    seconds = [s.second + 0.5 for s in report.per_second if s.answered]
    for attribute, label, colour in (("p50_ms", "p50 per second", "tab:blue"),
                                     ("p99_ms", "p99 per second", "tab:red"),
                                     ("max_ms", "max per second", "tab:orange")):
        values = [getattr(s, attribute) for s in report.per_second if s.answered]
        axes.plot(seconds, values, label=label, color=colour, linewidth=1.2)
    axes.set_yscale("log")
    axes.set_xlabel("seconds into the run")
    axes.set_ylabel("latency (ms)")
    axes.set_title("latency over time")
    axes.grid(True, which="both", alpha=0.3)
    rate = axes.twinx()
    # Whole seconds only: the run's last, partial second would look like a collapse.
    whole = [s for s in report.per_second if s.second + 1 <= report.elapsed_s]
    rate.plot([s.second + 0.5 for s in whole], [s.answered for s in whole],
              color="tab:green", linewidth=1, linestyle="--", label="answers per second")
    rate.set_ylabel("answers per second")
    rate.set_ylim(bottom=0)
    handles, labels = axes.get_legend_handles_labels()
    more_handles, more_labels = rate.get_legend_handles_labels()
    axes.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize=8)


def _latency_histogram(axes, report: LoadReport) -> None:  # type: ignore[no-untyped-def]
    buckets = [(ms, n) for ms, n in report.histogram_ms if n]
    if buckets:
        # Each bucket ends at its value and starts at the value before it (value / 1.2).
        lefts = [ms / HISTOGRAM_BASE for ms, _ in buckets]
        axes.bar(lefts, [n for _, n in buckets],
                 width=[ms - left for (ms, _), left in zip(buckets, lefts, strict=True)],
                 align="edge", color="tab:blue", edgecolor="white", linewidth=0.3)
        axes.set_xscale("log")
    for name, colour in (("p50", "tab:green"), ("p99", "tab:red"), ("p99_9", "tab:purple")):
        if name in report.latency_ms:
            value = report.latency_ms[name]
            axes.axvline(value, color=colour, linestyle="--", linewidth=1,
                         label=f"{name.replace('_', '.')} {value:.2f} ms")
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("inquiries")
    axes.set_title("latency histogram")
    axes.grid(True, which="both", alpha=0.3)
    if report.latency_ms:
        axes.legend(fontsize=8)
