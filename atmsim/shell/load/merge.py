"""The histogram file of one load run, and ``atmsim load merge``: N runs as one report.

``atmsim load --hdr-out FILE`` writes a small JSON document with what the report of the
run needs, counts and all, and every answer's latency as an HdrHistogram (its standard
encoding: V2, zlib-compressed, base64, readable by any HdrHistogram library)::

    {"format": "atmsim-load-histogram", "version": 1, "segment": "1/2",
     "target": "10.0.0.5:8583", "mode": "open loop at 250/s, segment 1/2",
     "rate": 250.0, "concurrency": null, "atms": 25, "elapsed_s": 60.0,
     "sent": 15000, "answered": 14998, "timeouts": 2, "errors": 0, "protocol_errors": 0,
     "response_codes": {"00": 14700, "55": 298}, "kinds": {"right PIN": 14700, ...},
     "per_second": [{"second": 0, "answered": 250, "p50_ms": ...}, ...],
     "terminals": ["BNI00002", "BNI00026"], "stans": [1, 500000],
     "generator_cpu_s": 12.1, "notes": [], "machine": {...},
     "latency_hdr": "HISTFAAAA..."}

``merge_files`` reads N of them (the segments of one run, from N hosts) and builds one
``LoadReport`` of the same shape as a single run's: counts and response codes added up,
latency percentiles from the sum of the histograms (the same figures one run recording
every answer would give, to HdrHistogram's 3 significant digits), the duration the
longest segment's, the throughput all answers over that duration. Per second, answers
are added up; a second's p50/p99/max are the highest among the segments (the exact
per-second percentiles are not kept), an upper bound. Segments are meant to start
together (within a second or so); the report does not know their wall clocks.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from atmsim.shell.errors import UserError
from atmsim.shell.load.segment import Segment, parse_segment
from atmsim.shell.load.stats import (
    LoadReport,
    SecondSummary,
    decode_histogram,
    histogram_buckets,
    latency_summary,
    machine_description,
    new_histogram,
)

__all__ = ["FORMAT", "histogram_document", "write_histogram_file", "read_histogram_file",
           "merge_documents", "merge_files"]

FORMAT, VERSION = "atmsim-load-histogram", 1

_COUNTS = ("atms", "sent", "answered", "timeouts", "errors", "protocol_errors")


def histogram_document(report: LoadReport, *, segment: Segment, rate: float | None,
                       concurrency: int | None, terminals: tuple[str, str],
                       stans: tuple[int, int]) -> dict[str, Any]:
    """What ``--hdr-out`` writes for ``report``."""
    return {
        "format": FORMAT, "version": VERSION, "segment": str(segment),
        "target": report.target, "mode": report.mode, "rate": rate,
        "concurrency": concurrency, "atms": report.atms, "elapsed_s": report.elapsed_s,
        "sent": report.sent, "answered": report.answered, "timeouts": report.timeouts,
        "errors": report.errors, "protocol_errors": report.protocol_errors,
        "response_codes": report.response_codes, "kinds": report.kinds,
        "per_second": [vars(s) for s in report.per_second],
        "terminals": list(terminals), "stans": list(stans),
        "generator_cpu_s": report.generator_cpu_s, "notes": report.notes,
        "machine": report.machine, "latency_hdr": report.latency_hdr,
    }


def write_histogram_file(path: Path, document: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(document) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--hdr-out {path}: {exc.strerror}") from None


def read_histogram_file(path: Path) -> dict[str, Any]:
    """A histogram file, checked; ``UserError`` (one line, naming the file) if unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not an atmsim load histogram file (not text)") from None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError(f"{path}: not an atmsim load histogram file "
                        "(write one with atmsim load --hdr-out)")
    if doc.get("version") != VERSION:
        raise UserError(f"{path}: histogram file version {doc.get('version')!r}; "
                        f"this atmsim reads version {VERSION}")
    try:
        _check_fields(doc)
        doc["_segment"] = parse_segment(str(doc["segment"]))
        doc["_histogram"] = decode_histogram(str(doc["latency_hdr"]))
    except (UserError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{path}: damaged histogram file ({exc})") from None
    if doc["_histogram"].get_total_count() != doc["answered"]:
        raise UserError(f"{path}: damaged histogram file (its histogram holds "
                        f"{doc['_histogram'].get_total_count()} answers, not {doc['answered']})")
    return doc


def _check_fields(doc: dict[str, Any]) -> None:
    for name in _COUNTS:
        if not isinstance(doc.get(name), int) or doc[name] < 0:
            raise ValueError(f"{name} is not a count")
    if not isinstance(doc.get("elapsed_s"), int | float) or doc["elapsed_s"] < 0:
        raise ValueError("elapsed_s is not a duration")
    for name in ("response_codes", "kinds"):
        table = doc.get(name)
        if not isinstance(table, dict) or not all(isinstance(n, int) for n in table.values()):
            raise ValueError(f"{name} is not a table of counts")
    if not isinstance(doc.get("per_second"), list) or not isinstance(doc.get("notes"), list):
        raise ValueError("per_second or notes is not a list")


def merge_files(paths: list[Path]) -> LoadReport:
    """The report of the runs whose histogram files are ``paths``."""
    return merge_documents([(str(p), read_histogram_file(p)) for p in paths])


def merge_documents(docs: list[tuple[str, dict[str, Any]]]) -> LoadReport:
    """One report of checked histogram documents (name, document), see the module doc."""
    if not docs:
        raise UserError("load merge: no histogram files")
    segments: dict[Segment, str] = {}
    counts = {doc["_segment"].count for _, doc in docs}
    if len(counts) > 1:
        raise UserError("load merge: the files are segments of runs split differently "
                        f"(N = {', '.join(str(n) for n in sorted(counts))})")
    for name, doc in docs:
        segment = doc["_segment"]
        if not segment.whole and segment in segments:
            raise UserError(f"load merge: {name} and {segments[segment]} are both segment "
                            f"{segment}")
        segments[segment] = name
    histogram = new_histogram()
    codes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    totals = dict.fromkeys(_COUNTS, 0)
    notes: list[str] = []
    for _, doc in docs:
        histogram.add(doc["_histogram"])
        codes.update(doc["response_codes"])
        kinds.update(doc["kinds"])
        for name in _COUNTS:
            totals[name] += doc[name]
        notes += [f"segment {doc['segment']}: {note}" for note in doc["notes"]]
    count = counts.pop()
    missing = [str(Segment(i, count)) for i in range(1, count + 1)
               if count > 1 and Segment(i, count) not in segments]
    if missing:
        notes.insert(0, f"segments {', '.join(missing)} are missing: the figures are "
                        f"those of {len(docs)} of {count} segments")
    targets = sorted({str(doc["target"]) for _, doc in docs})
    machine = machine_description()
    machine["segments"] = [doc.get("machine", {}) for _, doc in docs]
    return LoadReport(
        target=", ".join(targets), mode=_mode([doc for _, doc in docs]),
        atms=totals["atms"], elapsed_s=max(float(doc["elapsed_s"]) for _, doc in docs),
        sent=totals["sent"], answered=totals["answered"], timeouts=totals["timeouts"],
        errors=totals["errors"], response_codes=dict(sorted(codes.items())),
        kinds=dict(kinds), latency_ms=latency_summary(histogram),
        per_second=_per_second([doc for _, doc in docs]), scatter=[],
        histogram_ms=histogram_buckets(histogram), notes=notes, machine=machine,
        generator_cpu_s=round(sum(float(doc.get("generator_cpu_s", 0)) for _, doc in docs), 3),
        protocol_errors=totals["protocol_errors"],
        latency_hdr=histogram.encode().decode("ascii"))


def _mode(docs: list[dict[str, Any]]) -> str:
    """``open loop at 500/s, 2 segments merged`` (the rates or concurrencies added up).

    >>> _mode([{"rate": 250.0, "concurrency": None}] * 2)
    'open loop at 500/s, 2 segments merged'
    >>> _mode([{"rate": None, "concurrency": 4}, {"rate": 2.0, "concurrency": None}])
    '2 runs merged'
    """
    rates = [r for doc in docs if isinstance(r := doc.get("rate"), int | float)]
    concurrencies = [c for doc in docs if isinstance(c := doc.get("concurrency"), int)]
    merged = f"{len(docs)} segments merged" if len(docs) > 1 else "1 segment"
    if len(rates) == len(docs):
        return f"open loop at {sum(rates):g}/s, {merged}"
    if len(concurrencies) == len(docs):
        return f"closed loop, {sum(concurrencies)} in flight, {merged}"
    return f"{len(docs)} runs merged"


def _per_second(docs: list[dict[str, Any]]) -> list[SecondSummary]:
    seconds: dict[int, list[SecondSummary]] = {}
    for doc in docs:
        for entry in doc["per_second"]:
            try:
                summary = SecondSummary(int(entry["second"]), int(entry["answered"]),
                                        float(entry["p50_ms"]), float(entry["p99_ms"]),
                                        float(entry["max_ms"]))
            except (KeyError, TypeError, ValueError):
                continue  # a damaged per-second line costs only that line
            seconds.setdefault(summary.second, []).append(summary)
    return [SecondSummary(second, sum(s.answered for s in group),
                          max(s.p50_ms for s in group), max(s.p99_ms for s in group),
                          max(s.max_ms for s in group))
            for second, group in sorted(seconds.items())]
