"""(c) The full stack under ``atmsim load``, several configurations interleaved in one run.

Each round starts every configuration afresh (``benchmarks/end_to_end.py``'s stack: broker,
HSM, ledger and switch each their own process, on free loopback ports) and runs one closed
loop of ``--duration`` seconds against it; the figures are medians over the rounds, and
ratios to the first configuration, so that what other jobs do to the machine falls on
every configuration alike.

    python benchmarks/end_to_end_compare.py --brokers mosquitto,nats,amqtt
    python benchmarks/end_to_end_compare.py --broker mosquitto --clients atmsim,aiomqtt,gmqtt
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import LoadFigures, machine_line
from benchmarks.end_to_end import run_configuration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="",
                        help="comma-separated embedded brokers to compare (mosquitto, nats, amqtt)")
    parser.add_argument("--broker", default="mosquitto", help="the broker when comparing clients")
    parser.add_argument("--clients", default="",
                        help="comma-separated MQTT clients to compare (atmsim, aiomqtt, gmqtt)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--atms", type=int, default=50)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    configurations: list[tuple[str, str, dict[str, str]]] = []  # label, broker, env
    for broker in filter(None, args.brokers.split(",")):
        configurations.append((broker, broker, {}))
    for client in filter(None, args.clients.split(",")):
        configurations.append((f"{args.broker}, client {client}", args.broker,
                               {"ATMSIM_MQTT_CLIENT": client}))
    if not configurations:
        parser.error("name --brokers or --clients")
    print(f"machine: {machine_line()}", flush=True)
    results: dict[str, list[LoadFigures]] = {label: [] for label, _, _ in configurations}
    for number in range(1, args.rounds + 1):
        for label, broker, env in configurations:
            figures = run_configuration(broker, args.loop, "processes", runs=1,
                                        duration=args.duration, concurrency=args.concurrency,
                                        rate=0, atms=args.atms, hsm_loop=args.loop,
                                        closed_only=True, env=env)["this"]["closed"][0]
            results[label].append(figures)
            bad = figures.timeouts + figures.errors + sum(
                n for code, n in figures.codes.items() if code == "91")
            print(f"round {number} {label:<28} {figures.throughput:8.0f}/s  "
                  f"p99 {figures.p99_ms:6.1f} ms  {bad} timeouts/errors/91  "
                  f"[{machine_line().split('load average ')[1]}]", flush=True)
    first = statistics.median(r.throughput for r in results[configurations[0][0]])
    print(f"\nclosed loop {args.concurrency}, medians of {args.rounds} interleaved rounds "
          f"of {args.duration:g} s")
    print("| configuration | inquiries/s | ratio | p50 | p99 | CPU per inquiry (switch, "
          "ledger, broker) |")
    print("|---|---|---|---|---|---|")
    for label, runs in results.items():
        throughput = statistics.median(r.throughput for r in runs)
        cpu = {name: statistics.median(r.cpu_us_per_inquiry.get(name, 0.0) for r in runs)
               for name in runs[0].cpu_us_per_inquiry}
        broker = next((us for name, us in cpu.items() if name.startswith("broker")), 0.0)
        print(f"| {label} | {throughput:,.0f} | {throughput / first:.2f} "
              f"| {statistics.median(r.p50_ms for r in runs):.1f} ms "
              f"| {statistics.median(r.p99_ms for r in runs):.1f} ms "
              f"| {sum(cpu.values()):,.0f} µs ({cpu.get('switch', 0):.0f}, "
              f"{cpu.get('ledger', 0):.0f}, {broker:.0f}) |")
    print(f"machine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
