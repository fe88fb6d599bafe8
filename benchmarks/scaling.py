"""Past one machine, measured on one: load segments, switches and ledger workers.

Starts a back end on loopback: Mosquitto, one HSM, ``--ledgers`` ledger processes on one
PostgreSQL ledger (one shared subscription), and two switches sharing one card store on
PostgreSQL (``--cards-db``); one data directory holds the broker's accounts and the
switches' journal. Then, in turn (``--runs``
rounds, interleaved, medians quoted):

- 1 segment: one ``atmsim load`` at switch 1;
- 2 segments merged: ``--segment 1/2`` and ``2/2`` at switch 1, ``atmsim load merge``;
- 2 switches: segment 1 at switch 1, segment 2 at switch 2 (what a TCP load balancer in
  front of two switches does), merged;

and, with the other ledger processes stopped for it, 1 segment again: 1 ledger vs N.

Every figure is a closed loop of ``--concurrency`` in flight in all (split over the
segments). Each round runs every row once, so that a machine whose load drifts affects all
rows alike; compare the rows of one run (ratios), not runs of different days. Needs
PostgreSQL: ``eval "$(bash .ci/postgres.sh)"`` (``ATMSIM_TEST_POSTGRES_URL``); the script
makes a schema of its own and drops it.

    python benchmarks/scaling.py --runs 3 --duration 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    LAUNCH,
    ROOT,
    Child,
    free_port,
    machine_line,
    median,
    stop_parts,
    wait_for_port,
)

__all__ = ["main"]


def _port(base: int, offset: int) -> int:
    return base + offset if base else free_port()


def _load(ports: list[int], shape: list[str], out: Path, loop: str) -> dict[str, Any]:
    """One load run split over ``len(ports)`` segments (segment i at ports[i]), merged."""
    n = len(ports)
    files = [out / f"segment{i}.json" for i in range(1, n + 1)]
    runs = [subprocess.Popen(
        [*LAUNCH, "--loop", "asyncio", "--", "load", "--switch", f"127.0.0.1:{port}",
         "--no-progress", "--loop", loop, *shape, "--hdr-out", str(file),
         *(["--segment", f"{i}/{n}"] if n > 1 else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        for i, (port, file) in enumerate(zip(ports, files, strict=True), start=1)]
    for run in runs:
        _, err = run.communicate(timeout=600)
        if run.returncode not in (0, 1):
            raise RuntimeError(f"atmsim load failed: {err.decode(errors='replace')}")
    report = out / "merged.json"
    merged = subprocess.run([*LAUNCH, "--", "load", "merge", *map(str, files),
                             "--json", str(report)], capture_output=True, cwd=ROOT,
                            check=False)
    if merged.returncode not in (0, 1):
        raise RuntimeError(f"atmsim load merge failed: {merged.stderr.decode()}")
    doc: dict[str, Any] = json.loads(report.read_text())
    return doc


def _restart(ledger: Child, logs: Path) -> None:
    """Start a stopped ledger process again and wait until it answers (its start-up CPU
    must not fall into the next measurement)."""
    log = logs / f"{ledger.name}.log"
    before = log.read_text(errors="replace").count("answering on")
    ledger.start()
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("answering on") <= before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ledger.name} did not come back")
        time.sleep(0.2)
    time.sleep(1.0)


def _line(label: str, docs: list[dict[str, Any]], base: float | None) -> str:
    throughput = median([d["throughput_per_s"] for d in docs])
    line = (f"{label:<40} {throughput:7.0f}/s  "
            f"p50 {median([d['latency_ms'].get('p50', 0.0) for d in docs]):6.2f} ms  "
            f"p99 {median([d['latency_ms'].get('p99', 0.0) for d in docs]):6.2f} ms")
    # The generators' CPU over the run, in cores: near 1 per process, they measure
    # themselves rather than the stack.
    cores = median([d["generator_cpu_s"] / d["elapsed_s"] for d in docs if d["elapsed_s"]])
    line += f"  generators {cores:.2f} cores"
    if base:
        line += f"  x{throughput / base:.2f}"
    bad = sum(d["timeouts"] + d["errors"] for d in docs)
    return line + (f"  ({bad} timeouts/errors)" if bad else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--atms", type=int, default=32)
    parser.add_argument("--ledgers", type=int, default=2)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--cards", choices=["postgresql", "sqlite"], default="postgresql",
                        help="the card store (sqlite: one file both switches share)")
    parser.add_argument("--ledger-db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--base-port", type=int, default=0,
                        help="ports base..base+5 instead of free ones")
    args = parser.parse_args(argv)
    base_url = os.environ.get("ATMSIM_TEST_POSTGRES_URL", "")
    if not base_url:
        print("needs PostgreSQL: eval \"$(bash .ci/postgres.sh)\"", file=sys.stderr)
        return 2
    import psycopg

    # The card store and the ledger each in a schema of their own (as in production: two
    # databases, the cards under PCI DSS scope).
    run_id = uuid.uuid4().hex[:8]
    schemas = [f"bench_cards_{run_id}", f"bench_ledger_{run_id}"]
    with psycopg.connect(base_url, autocommit=True) as admin:
        for schema in schemas:
            admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base_url else "?"
    cards_url, url = (f"{base_url}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
                      for schema in schemas)
    print(f"machine: {machine_line()}")
    tmp = Path(tempfile.mkdtemp(prefix="atmsim-scaling-"))
    logs = tmp / "logs"
    logs.mkdir()
    ports = {name: _port(args.base_port, k) for k, name in
             enumerate(["mqtt", "hsm", "switch1", "switch2"])}
    mqtt = f"mqtt://127.0.0.1:{ports['mqtt']}"
    env = {"ATMSIM_MQTT_PROTOCOL": "5", "ATMSIM_MQTT_SHARED_SUBSCRIPTIONS": "yes"}
    common = ["--log-level", "WARNING"]
    data = tmp / "data"
    parts = [Child("broker", ["broker", *common, "--data-dir", str(data),
                              "--mqtt-port", str(ports["mqtt"]), "--broker", "mosquitto"],
                   logs, args.loop, env),
             Child("HSM", ["hsm", *common, "--data-dir", str(data),
                           "--hsm-port", str(ports["hsm"])], logs, "asyncio", env)]
    ledgers = [Child(f"ledger{n}", ["ledger", *common, "--data-dir", str(data),
                                    "--mqtt", mqtt,
                                    *(["--db", url] if args.ledger_db == "postgresql" else [])],
                    logs, args.loop, env)
               for n in range(1, args.ledgers + 1)]
    switches = [Child(f"switch{n}", [
        "switch", *common, "--data-dir", str(data), "--switch-port",
        str(ports[f"switch{n}"]), "--hsm-port", str(ports["hsm"]), "--mqtt", mqtt,
        *(["--cards-db", cards_url] if args.cards == "postgresql" else [])],
        logs, args.loop, env) for n in (1, 2)]
    everything = parts + ledgers + switches
    shape = ["--concurrency", str(args.concurrency), "--atms", str(args.atms),
             "--duration", str(args.duration), "--wrong-pin", "0", "--unknown-kpj", "0"]
    one, two = [ports["switch1"]], [ports["switch1"], ports["switch2"]]
    try:
        parts[0].start()
        wait_for_port(ports["mqtt"])
        parts[1].start()
        wait_for_port(ports["hsm"])
        for ledger in ledgers:
            ledger.start()
            time.sleep(2.0)  # the first one seeds the PostgreSQL ledger
        for switch in switches:
            switch.start()
            wait_for_port(ports[switch.name], timeout=60)
        _load(one, ["--concurrency", "8", "--count", "400"], tmp, args.loop)  # warm up
        _load(two, ["--concurrency", "8", "--count", "400"], tmp, args.loop)
        rows: dict[str, list[dict[str, Any]]] = {"one": [], "segments": [], "switches": []}
        fewer: list[dict[str, Any]] = []
        for _ in range(args.runs):  # each round every row once: the machine drifts
            rows["one"].append(_load(one, shape, tmp, args.loop))
            rows["segments"].append(_load([ports["switch1"]] * 2, shape, tmp, args.loop))
            rows["switches"].append(_load(two, shape, tmp, args.loop))
            if len(ledgers) > 1:
                for ledger in ledgers[1:]:
                    ledger.stop()
                time.sleep(1.0)
                fewer.append(_load(one, shape, tmp, args.loop))
                for ledger in ledgers[1:]:
                    _restart(ledger, logs)
        base = median([d["throughput_per_s"] for d in rows["one"]])
        label = f"{args.ledgers} ledgers"
        print(f"closed loop, {args.concurrency} in flight in all, {args.duration:g} s, "
              f"medians of {args.runs}; cards on {args.cards}, ledger on {args.ledger_db}")
        print(_line(f"1 segment, 1 switch, {label}", rows["one"], None))
        print(_line(f"2 segments merged, 1 switch, {label}", rows["segments"], base))
        print(_line(f"2 segments, 2 switches, {label}", rows["switches"], base))
        if fewer:
            print(_line("1 segment, 1 switch, 1 ledger", fewer, base))
        codes: dict[str, int] = {}
        for docs in [*rows.values(), fewer]:
            for d in docs:
                for code, v in d["response_codes"].items():
                    codes[code] = codes.get(code, 0) + v["count"]
        print("response codes: " + ", ".join(f"{c} x{n}" for c, n in sorted(codes.items())))
    finally:
        stop_parts(everything, logs)
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(base_url, autocommit=True) as admin:
            for schema in schemas:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"machine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
