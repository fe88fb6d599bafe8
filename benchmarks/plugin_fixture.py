"""How long the pytest plugin's ``atmsim_stack`` takes to come up and to go away.

    python benchmarks/plugin_fixture.py [--runs 10] [--broker auto|mosquitto|nats|amqtt] [--faults]

Starts and stops ``atmsim.testing.harness.RunningStack`` (what the fixture does) on free
loopback ports with a fresh data directory each time, and prints start and stop seconds
per run and their medians. ``--faults``: the stack a test asking for the ``faults``
fixture gets (the parts wired through fault proxies). Talks only to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from atmsim.testing.harness import RunningStack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--broker", default="auto", choices=["auto", "mosquitto", "nats", "amqtt"])
    parser.add_argument("--faults", action="store_true", help="through fault proxies")
    args = parser.parse_args()
    starts, stops = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            stack = RunningStack.start(Path(tmp) / "data", broker=args.broker,
                                       faults=args.faults)
            stack.stop()
        starts.append(stack.start_seconds)
        stops.append(stack.stop_seconds)
        print(f"run {run + 1}: start {stack.start_seconds:.3f} s, stop {stack.stop_seconds:.3f} s")
    print(f"median start {statistics.median(starts):.3f} s, median stop "
          f"{statistics.median(stops):.3f} s, worst stop {max(stops):.3f} s")


if __name__ == "__main__":
    main()
