"""The speed goals in one run: the floor, the skeleton's ceiling and the stack, side by side.

Three kinds of back end answer the same ``atmsim load`` (50 virtual ATMs, the default card
mix), one at a time, in rounds (every kind once per round, so a change in what else the
machine does falls on all of them alike):

- ``floor``: the bare server (``bare_server.py``), one process answering a prebuilt 0210;
- ``skeleton``: the stack's topology with no work in it (``skeleton_stack.py``): the same
  processes, connections, broker and messages per inquiry, nothing decoded or computed:
  the ceiling of any Python implementation of the topology on this machine;
- ``stack``: ``atmsim up`` as a user gets it (one supervised process per part).

Each with Mosquitto and with nats-server (the broker pip installs). In every round each runs
three shapes: a closed loop (64 in flight), an open loop at 1,000/s (its p99) and an open
loop at 500/s (the back end's CPU per inquiry, from /proc, the load generator left out).
Ratios are taken to the floor of the same round; the medians over rounds are printed, then
the goals against the stack's and the skeleton's figures.

    python benchmarks/goals.py                   # 3 rounds of 5 s per shape, ~8 min
    python benchmarks/goals.py --rounds 5 --duration 10
    python benchmarks/goals.py --kinds floor,stack --brokers nats
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    ROOT,
    Child,
    LoadFigures,
    machine_line,
    median,
    run_load,
    running_bare_server,
)
from benchmarks.end_to_end import running_stack, warm_up
from benchmarks.skeleton_stack import running_skeleton

__all__ = ["main"]

SHAPES = {"closed": ["--concurrency", "64"], "open": ["--rate", "1000"],
          "low": ["--rate", "500"]}
GENERATOR = "load generator"


@contextlib.contextmanager
def running(kind: str, broker: str) -> Iterator[tuple[int, list[Child]]]:
    if kind == "floor":
        with running_bare_server() as (port, server):
            yield port, [server]
    elif kind == "skeleton":
        with running_skeleton(broker, ROOT) as up:
            warm = run_load(up[0], ["--concurrency", "8", "--count", "400"], up[1],
                            loop="uvloop")
            if not warm.codes.get("00"):  # its parts' logs follow, on stderr
                raise RuntimeError(f"skeleton, {broker}: no approval in the warm-up")
            yield up
    else:
        with running_stack(broker, "uvloop", "supervised") as stack:
            warm_up(stack, "uvloop")
            yield stack.switch_port, stack.parts


def back_end_us(figures: LoadFigures) -> float:
    """CPU per inquiry of every process but the load generator."""
    return sum(us for name, us in figures.cpu_us_per_inquiry.items() if name != GENERATOR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--kinds", default="floor,skeleton,stack")
    parser.add_argument("--brokers", default="mosquitto,nats")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    brokers = [b for b in args.brokers.split(",") if b]
    configs = [("floor", "")] if "floor" in kinds else []
    configs += [(kind, broker) for kind in ("skeleton", "stack") if kind in kinds
                for broker in brokers]
    print(f"machine: {machine_line()}")
    print(f"{args.rounds} rounds; in each, every back end once: closed loop 64, open 1,000/s, "
          f"open 500/s, {args.duration:g} s each; 50 virtual ATMs\n")
    figures: dict[tuple[str, str], dict[str, list[LoadFigures]]] = {
        c: {s: [] for s in SHAPES} for c in configs}
    ratios: dict[tuple[str, str], list[float]] = {c: [] for c in configs}
    for round_ in range(1, args.rounds + 1):
        floor_rate = 0.0
        for config in configs:
            with running(*config) as (port, parts):
                for shape, how in SHAPES.items():
                    result = run_load(port, [*how, "--atms", "50", "--duration",
                                             str(args.duration)], parts, loop="uvloop")
                    if not result.codes.get("00"):  # its parts' logs follow, on stderr
                        raise RuntimeError(f"{label(config)}: no approval in the {shape} run "
                                           f"of round {round_} ({result.codes or 'nothing'} "
                                           f"answered, {result.timeouts} timeouts)")
                    figures[config][shape].append(result)
            closed = figures[config]["closed"][-1].throughput
            if config[0] == "floor":
                floor_rate = closed
            if floor_rate:
                ratios[config].append(closed / floor_rate)
            print(f"  round {round_} {label(config):<22} closed {closed:7.0f}/s  "
                  f"p99 at 1,000/s {figures[config]['open'][-1].p99_ms:6.2f} ms  "
                  f"back end at 500/s {back_end_us(figures[config]['low'][-1]):5.0f} us",
                  flush=True)
    print()
    print(f"{'':<22} {'closed 64':>10} {'/ floor':>8} {'p99 1,000/s':>12} "
          f"{'back end CPU at 500/s':>22}  where it goes at 500/s")
    for config in configs:
        runs = figures[config]
        low = runs["low"]
        per_part = {n: median([f.cpu_us_per_inquiry.get(n, 0.0) for f in low])
                    for n in low[0].cpu_us_per_inquiry if n != GENERATOR}
        # A supervisor's children are named "atmsim up (supervised): switch": the part.
        where = ", ".join(f"{n.rsplit(': ', 1)[-1]} {us:.0f}" for n, us in
                          sorted(per_part.items(), key=lambda kv: -kv[1]) if us >= 0.5)
        ratio = f"{median(ratios[config]):.2f}" if ratios[config] else "-"
        print(f"{label(config):<22} {median([f.throughput for f in runs['closed']]):8.0f}/s "
              f"{ratio:>8} {median([f.p99_ms for f in runs['open']]):9.2f} ms "
              f"{median([back_end_us(f) for f in low]):19.0f} us  {where}")
    print()
    goal_lines(figures, ratios)
    print(f"\nmachine after: {machine_line()}")
    return 0


def label(config: tuple[str, str]) -> str:
    kind, broker = config
    return kind if not broker else f"{kind}, {broker}"


def goal_lines(figures: dict[tuple[str, str], dict[str, list[LoadFigures]]],
               ratios: dict[tuple[str, str], list[float]]) -> None:
    """Each goal: the stack's figure and the skeleton's (what no Python implementation of
    the topology beats on this machine)."""
    def closed_ratio(kind: str, broker: str) -> str:
        got = ratios.get((kind, broker))
        return f"{median(got):.2f}" if got else "-"

    def p99(kind: str, broker: str) -> str:
        got = figures.get((kind, broker))
        return f"{median([f.p99_ms for f in got['open']]):.1f} ms" if got else "-"

    def low(kind: str, broker: str) -> str:
        got = figures.get((kind, broker))
        return f"{median([back_end_us(f) for f in got['low']]):.0f} us" if got else "-"

    print(f"{'goal':<48} {'stack':>10} {'skeleton':>10}")
    rows = [
        ("pip-only (nats) closed loop >= 0.5 x floor", closed_ratio, "nats"),
        ("Mosquitto closed loop >= 0.6 x floor", closed_ratio, "mosquitto"),
        ("p99 at 1,000/s <= 10 ms (nats)", p99, "nats"),
        ("p99 at 1,000/s <= 10 ms (Mosquitto)", p99, "mosquitto"),
        ("back end CPU at 500/s <= 400 us (nats)", low, "nats"),
        ("back end CPU at 500/s <= 400 us (Mosquitto)", low, "mosquitto"),
    ]
    for text, measure, broker in rows:
        print(f"{text:<48} {measure('stack', broker):>10} {measure('skeleton', broker):>10}")


if __name__ == "__main__":
    sys.exit(main())
