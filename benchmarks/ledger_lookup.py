"""Ledger balance lookups per second at scale: seed N participants (default 1,000,000) on
SQLite and on PostgreSQL, then ask for random participants' balances, directly through
``LedgerStore.balance`` and over MQTT (Mosquitto, the ledger in a process of its own).

    python benchmarks/ledger_lookup.py                         # SQLite only
    python benchmarks/ledger_lookup.py --postgres postgresql://atmsim:atmsim@127.0.0.1:55432/atmsim_test
    python benchmarks/ledger_lookup.py --reuse ...             # keep an already seeded ledger

Prints the seed time, then per engine and path the median of ``--rounds`` rounds of
lookups/s and the median per-lookup latency (p50, p99). Over MQTT, ``--concurrency``
requests are in flight at once. Each lookup is a real inquiry: a random synthetic
participant's NIK and KPJ, answered under the privacy rule. Everything runs on 127.0.0.1;
the child processes (broker, ledger) are stopped by their process IDs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atmsim.kernel.bus import MqttBus, MqttEndpoint  # noqa: E402
from atmsim.shell.broker import EmbeddedBroker  # noqa: E402
from bpjs_ledger.db import describe_target  # noqa: E402
from bpjs_ledger.seed import seed_ledger  # noqa: E402
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC, run_ledger  # noqa: E402
from bpjs_ledger.store import BalanceResult, LedgerStore  # noqa: E402
from bpjs_ledger.synthetic import synthetic_kpj  # noqa: E402

AS_OF = date(2026, 10, 31)
_SAMPLE = 5_000  # distinct participants asked about (random, from the whole range)


@dataclass
class Figures:
    rate: float  # lookups per second
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(target: str, participants: int, seed_value: int, reuse: bool) -> float | None:
    """Seed the ledger; the seconds it took, or None when an existing one was reused."""
    if reuse:
        with LedgerStore(target, seed_demo=False) as store:
            if store.participant_count() >= participants:
                return None
    last = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 15 or done == total:
            last[0] = time.monotonic()
            print(f"  seeded {done:,} / {total:,}", file=sys.stderr, flush=True)

    report = seed_ledger(target, participants=participants, seed=seed_value, as_of=AS_OF,
                         replace=True, progress=progress)
    return report.seconds


def sample(target: str, participants: int) -> list[tuple[str, str]]:
    rng = random.Random(20261031)
    kpjs = [synthetic_kpj(rng.randrange(participants)) for _ in range(_SAMPLE)]
    with LedgerStore(target, seed_demo=False) as store:
        found: dict[str, str] = {}
        for start in range(0, len(kpjs), 500):
            chunk = kpjs[start:start + 500]
            rows = store.db.query(f"SELECT kpj, nik FROM participants WHERE kpj IN "
                                  f"({', '.join('?' * len(chunk))})", chunk)
            found.update((str(k), str(n)) for k, n in rows)
    return [(found[k], k) for k in kpjs]


def direct(target: str, asks: list[tuple[str, str]], lookups: int) -> Figures:
    with LedgerStore(target, seed_demo=False) as store:
        latencies = []
        started = time.perf_counter()
        for n in range(lookups):
            nik, kpj = asks[n % len(asks)]
            t = time.perf_counter()
            answer = store.balance(nik, kpj)
            latencies.append(time.perf_counter() - t)
            if answer.result is not BalanceResult.OK:
                raise RuntimeError(f"lookup of {kpj} answered {answer.result}")
        elapsed = time.perf_counter() - started
    return _figures(lookups, elapsed, latencies)


async def over_mqtt(endpoint: MqttEndpoint, asks: list[tuple[str, str]], lookups: int,
                    concurrency: int) -> Figures:
    latencies: list[float] = []
    async with MqttBus(endpoint, "bench-client") as bus:
        if not await bus.wait_connected(10):
            raise RuntimeError("benchmark client cannot reach the broker")
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            nik, kpj = asks[n % len(asks)]
            async with slots:
                t = time.perf_counter()
                reply = await bus.request(BALANCE_REQUEST_TOPIC, {
                    "nik": nik, "kpj": kpj, "channel": "ATM", "terminal_id": "BNI00002",
                    "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}, 30)
                latencies.append(time.perf_counter() - t)
                if reply["result"] != "OK":
                    raise RuntimeError(f"lookup of {kpj} answered {reply['result']}")

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(lookups)))
        elapsed = time.perf_counter() - started
    return _figures(lookups, elapsed, latencies)


def _figures(count: int, elapsed: float, latencies: list[float]) -> Figures:
    ordered = sorted(latencies)
    return Figures(count / elapsed, ordered[len(ordered) // 2] * 1000,
                   ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


def median_of(rounds: list[Figures]) -> Figures:
    return Figures(statistics.median(f.rate for f in rounds),
                   statistics.median(f.p50_ms for f in rounds),
                   statistics.median(f.p99_ms for f in rounds))


def start_ledger(target: str, endpoint: MqttEndpoint, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", target,
               "--mqtt-port", str(endpoint.port), "--workers", str(workers)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
    assert child.stdout is not None
    line = child.stdout.readline().decode().strip()
    if line != "ready":
        child.kill()
        raise RuntimeError(f"the ledger did not start: {line!r}")
    return child


def stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve(target: str, port: int, workers: int) -> None:
    """Child mode: the ledger on 127.0.0.1:port until SIGTERM; prints ready."""
    endpoint = MqttEndpoint("127.0.0.1", port, protocol="5", shared_subscriptions=True)

    async def main() -> None:
        stop_event, ready = asyncio.Event(), asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop_event.set)
        task = asyncio.create_task(run_ledger(target, endpoint, workers=workers,
                                              stop=stop_event, ready=ready))
        await ready.wait()
        print("ready", flush=True)
        await task

    asyncio.run(main())


def benchmark(name: str, target: str, args: argparse.Namespace,
              broker: EmbeddedBroker) -> list[str]:
    print(f"{name}: {describe_target(target)}", file=sys.stderr, flush=True)
    seconds = seed(target, args.participants, args.seed, args.reuse)
    seeded = "reused" if seconds is None else f"{seconds:.0f} s"
    asks = sample(target, args.participants)
    direct_rounds = [direct(target, asks, args.lookups) for _ in range(args.rounds)]
    ledger = start_ledger(target, broker.endpoint_for("ledger"), args.workers)
    try:
        mqtt_rounds = [asyncio.run(over_mqtt(broker.endpoint_for("switch"), asks, args.lookups,
                                             args.concurrency)) for _ in range(args.rounds)]
    finally:
        stop(ledger)
    d, m = median_of(direct_rounds), median_of(mqtt_rounds)
    return [
        f"{name:<10} seed {seeded:>7}  direct {d.rate:>9,.0f}/s  p50 {d.p50_ms:6.3f} ms  "
        f"p99 {d.p99_ms:6.3f} ms",
        f"{'':<10} {'':>12}  MQTT   {m.rate:>9,.0f}/s  p50 {m.p50_ms:6.3f} ms  "
        f"p99 {m.p99_ms:6.3f} ms  ({args.concurrency} in flight, {args.workers} worker(s))",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", help="SQLite file (default: a temporary directory)")
    parser.add_argument("--postgres", metavar="URL",
                        help="PostgreSQL URL (default: $ATMSIM_TEST_POSTGRES_URL if set)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a ledger that already holds enough participants")
    parser.add_argument("--lookups", type=int, default=20_000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="ledger workers over MQTT")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--mqtt-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.mqtt_port, args.workers)
        return 0
    if not shutil.which("mosquitto"):
        print("ledger_lookup: needs a mosquitto binary on the PATH", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="atmsim-ledger-bench-"))
    targets = [("SQLite", args.sqlite or str(work / "ledger.db"))]
    postgres = args.postgres or os.environ.get("ATMSIM_TEST_POSTGRES_URL")
    if postgres:
        targets.append(("PostgreSQL", postgres))
    broker = EmbeddedBroker("127.0.0.1", free_port(), work, "mosquitto")
    asyncio.run(broker.start())
    lines = []
    try:
        for name, target in targets:
            lines += benchmark(name, target, args, broker)
    finally:
        asyncio.run(broker.stop())
        if not args.sqlite:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"ledger lookups, {args.participants:,} participants (+5 demo), seed {args.seed}, "
          f"medians of {args.rounds} rounds of {args.lookups:,}; "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the end")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
