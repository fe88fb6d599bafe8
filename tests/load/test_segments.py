"""``atmsim load --segment I/N --hdr-out`` and ``atmsim load merge``: a run split over
processes with no coordinator, and one report of its parts."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from atm_switch.journal import TransactionJournal, journal_path
from atmsim.shell.load.merge import histogram_document, write_histogram_file
from atmsim.shell.load.segment import Segment
from atmsim.shell.load.stats import LoadStats
from atmsim.shell.stack import Stack
from tests.load.helpers import atmsim_load, switch_of

_PERCENTILES = ("p50", "p90", "p99", "p99_9", "max")


def _report(latencies: list[tuple[float, float, str]]):  # type: ignore[no-untyped-def]
    stats = LoadStats(seed=1)
    for at, latency, code in latencies:
        stats.sent += 1
        stats.record(at, latency, code)
    stats.finish(max(at for at, _, _ in latencies))
    return stats.report(target="10.0.0.5:8583", mode="open loop", atms=10, elapsed_s=60.0,
                        kinds={"right PIN": len(latencies)})


def _write(tmp_path: Path, name: str, latencies, segment: Segment) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    write_histogram_file(path, histogram_document(
        _report(latencies), segment=segment, rate=100.0, concurrency=None,
        terminals=("BNI00002", "BNI00011"), stans=segment.stan_range()))
    return path


def _recorded_latencies(n: int) -> list[tuple[float, float, str]]:
    rng = random.Random(13)
    # A long-tailed spread as a loaded switch gives: mostly ms, some tens and hundreds.
    return [(i / 100, rng.lognormvariate(-5.5, 0.9), rng.choice(["00", "00", "00", "55", "25"]))
            for i in range(n)]


async def test_merged_segments_match_the_whole_run_within_one_percent(tmp_path: Path) -> None:
    latencies = _recorded_latencies(30_000)
    whole = _write(tmp_path, "whole.json", latencies, Segment())
    parts = [_write(tmp_path, f"part{i}.json", latencies[i - 1::3], Segment(i, 3))
             for i in (1, 2, 3)]
    merged_json = tmp_path / "merged.json"
    run = await atmsim_load("merge", *map(str, parts), "--json", str(merged_json))
    assert run.code == 0, run.stderr
    assert "open loop at 300/s, 3 segments merged" in run.stdout
    assert "answered    30000" in run.stdout
    whole_run = await atmsim_load("merge", str(whole), "--json", str(tmp_path / "w.json"))
    assert whole_run.code == 0, whole_run.stderr
    merged = json.loads(merged_json.read_text())
    single = json.loads((tmp_path / "w.json").read_text())
    assert merged["answered"] == single["answered"] == 30_000
    assert merged["response_codes"] == single["response_codes"]
    for name in _PERCENTILES:
        assert abs(merged["latency_ms"][name] - single["latency_ms"][name]) <= \
            0.01 * single["latency_ms"][name], name
    # The recorded values themselves, not only the two histograms, agree within 1 %.
    ordered = sorted(latency for _, latency, _ in latencies)
    exact_p99 = ordered[int(0.99 * len(ordered)) - 1] * 1000
    assert abs(merged["latency_ms"]["p99"] - exact_p99) <= 0.01 * exact_p99
    # The same shape as a single run's report, all answers over the longest segment.
    assert set(merged) == set(single)
    assert merged["throughput_per_s"] == round(30_000 / 60.0, 2)
    assert sum(s["answered"] for s in merged["per_second"]) == 30_000


async def test_merge_refuses_files_that_do_not_belong_together(tmp_path: Path) -> None:
    latencies = _recorded_latencies(50)
    one = _write(tmp_path, "a.json", latencies, Segment(1, 2))
    again = _write(tmp_path, "b.json", latencies, Segment(1, 2))
    other = _write(tmp_path, "c.json", latencies, Segment(2, 3))
    damaged = tmp_path / "d.json"
    doc = json.loads(one.read_text())
    doc["latency_hdr"] = "HISTFAAAnotreally"
    damaged.write_text(json.dumps(doc))
    cases = [((str(one), str(again)), "are both segment 1/2"),
             ((str(one), str(other)), "split differently"),
             ((str(damaged),), "damaged histogram file"),
             ((str(tmp_path / "missing.json"),), "No such file")]
    for files, message in cases:
        run = await atmsim_load("merge", *files)
        assert run.code == 2 and message in run.stderr, (files, run.stderr)
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    lone = await atmsim_load("merge", str(one))
    assert lone.code == 0 and "segments 2/2 are missing" in lone.stdout


async def test_segment_arguments_are_checked_in_one_line() -> None:
    for args, message in ((("--segment", "0/2"), "I must be between 1 and N"),
                          (("--segment", "2"), "expected I/N"),
                          (("--segment", "3/3", "--atms", "2", "--rate", "5"),
                           "--atms 2: too few to split into 3 segments")):
        run = await atmsim_load("--switch", "127.0.0.1:9", *args, "--no-progress")
        assert run.code == 2 and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


async def test_two_segments_over_sockets_use_disjoint_terminals_and_stans(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    common = ("--switch", switch_of(amqtt_stack), "--atms", "4", "--concurrency", "4",
              "--count", "40", "--wrong-pin", "0.1", "--unknown-kpj", "0", "--seed", "3",
              "--no-progress")
    files = [tmp_path / "s1.json", tmp_path / "s2.json"]
    runs = await asyncio.gather(*(atmsim_load(*common, "--segment", f"{i}/2",
                                              "--hdr-out", str(files[i - 1]))
                                  for i in (1, 2)))
    for run in runs:
        assert run.code == 0, run.stderr
        assert "answered    20" in run.stdout and "segment" in run.stdout
    docs = [json.loads(f.read_text()) for f in files]
    assert docs[0]["terminals"] == ["BNI00002", "BNI00003"]
    assert docs[1]["terminals"] == ["BNI00004", "BNI00005"]
    merged = await atmsim_load("merge", *map(str, files), "--json", str(tmp_path / "m.json"))
    assert merged.code == 0, merged.stderr
    assert "answered    40" in merged.stdout
    assert "closed loop, 4 in flight, 2 segments merged" in merged.stdout
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["sent"] == report["answered"] == 40
    assert "75" not in report["response_codes"]  # no card blocked by the two together

    # What the switch saw: each segment's inquiries from its own terminals and STANs.
    journal = TransactionJournal(journal_path(amqtt_stack.data_dir))
    try:
        entries = [e for e in journal.entries(limit=1000) if e.kind == "inquiry"]
    finally:
        journal.close()
    by_terminal: dict[str, list[int]] = {}
    for entry in entries:
        by_terminal.setdefault(entry.terminal_id, []).append(int(entry.stan))
    assert set(by_terminal) >= {"BNI00002", "BNI00003", "BNI00004", "BNI00005"}
    first_half = [s for t in ("BNI00002", "BNI00003") for s in by_terminal[t]]
    second_half = [s for t in ("BNI00004", "BNI00005") for s in by_terminal[t]]
    assert all(1 <= s <= 500_000 for s in first_half), first_half
    assert all(500_001 <= s <= 999_999 for s in second_half), second_half
    assert len(first_half) + len(second_half) >= 40
