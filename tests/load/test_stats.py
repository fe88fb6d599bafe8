"""The report's figures: HDR percentiles, per-second series, text and JSON."""

from __future__ import annotations

import json

from atmsim.shell.load.stats import LoadStats, format_report, report_json


def test_percentiles_of_known_latencies() -> None:
    stats = LoadStats(seed=1)
    for ms in range(1, 1001):  # 1..1000 ms, one each, over 2 seconds
        stats.sent += 1
        stats.record(ms / 500, ms / 1000, "00" if ms % 10 else "55")
    stats.finish(2.0)
    report = stats.report(target="127.0.0.1:1", mode="closed loop, 1 in flight", atms=1,
                          elapsed_s=2.0, kinds={"right PIN": 900, "wrong PIN": 100})
    lat = report.latency_ms
    assert abs(lat["p50"] - 500) <= 1 and abs(lat["p99"] - 990) <= 1
    assert abs(lat["max"] - 1000) <= 1
    assert report.throughput == 500
    assert report.response_codes == {"00": 900, "55": 100}
    assert [s.answered for s in report.per_second] == [499, 500, 1]
    text = format_report(report)
    assert "throughput  500.0 answers/s" in text and "55        100" in text
    doc = json.loads(json.dumps(report_json(report)))
    assert doc["response_codes"]["55"] == {"count": 100, "meaning": "wrong PIN"}
    assert sum(b["count"] for b in doc["latency_histogram_ms"]) == 1000
