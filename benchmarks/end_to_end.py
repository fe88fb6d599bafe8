"""(c) The full stack under ``atmsim load``: ATM side -> switch -> HSM -> ledger -> back.

Starts a fresh back end on free loopback ports in a temporary data directory, each part
as its own process started by hand (``--layout processes``: ``atmsim broker``, ``hsm``,
``ledger``, ``switch``), as ``atmsim up`` runs it by default (``--layout supervised``: the
supervisor and one child per part; the children pick their loop as ``atmsim`` does,
uvloop, whatever ``--loop`` says) or all in one (``--layout one``: ``atmsim up
--single-process``), then runs ``atmsim load`` as one more process:

- a closed loop (``--concurrency``, default 64 in flight): the most the stack sustains;
- an open loop at ``--rate`` (default 1000/s): latency at a fixed offered load.

Each figure is the median of ``--runs`` runs; the CPU time every process used is shown
per inquiry, which says where the time goes. Figures depend on what else the machine
does: the load average is printed with them.

    python benchmarks/end_to_end.py                          # Mosquitto, processes, uvloop
    python benchmarks/end_to_end.py --broker amqtt --loop asyncio --layout one
    python benchmarks/end_to_end.py --layout supervised          # atmsim up as it is
    python benchmarks/end_to_end.py --shapes low --low-rate 500   # CPU per inquiry, unsaturated
    python benchmarks/end_to_end.py --shapes low --against /tmp/base  # A/B, runs interleaved

- a low open loop (``--low-rate``, default 500/s, shape ``low``): what an inquiry costs
  across the processes when none of them is saturated - each message then wakes a
  sleeping process, so this is the figure batching and fewer messages move.

With ``--against TREE`` a second stack is started from ``TREE`` (a checkout of another
commit) beside the first, and every run is made on both, one after the other: on a shared
machine the ratio within such a pair moves far less than either figure. ``--log-level INFO``
runs the parts at the level ``atmsim up`` logs at by default (the default here, WARNING,
leaves out the per-inquiry log line).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    ROOT,
    Child,
    LoadFigures,
    free_port,
    machine_line,
    median,
    run_load,
    start_in_order,
    stop_parts,
    wait_for_port,
)

__all__ = ["StackUnderTest", "running_stack", "measure", "main"]


@dataclass
class StackUnderTest:
    switch_port: int
    parts: list[Child]


@contextmanager
def running_stack(broker: str, loop: str, layout: str, *, ledger_processes: int = 1,
                  hsm_loop: str = "asyncio", root: Path = ROOT,
                  log_level: str = "WARNING",
                  env: dict[str, str] | None = None) -> Iterator[StackUnderTest]:
    """A fresh back end on free ports; stopped (by process ID) on the way out. ``env``:
    more variables for every part (``ATMSIM_MQTT_CLIENT=aiomqtt``...)."""
    with tempfile.TemporaryDirectory(prefix="atmsim-bench-") as tmp:
        data, logs = Path(tmp) / "data", Path(tmp) / "logs"
        logs.mkdir()
        ports = {"switch": free_port(), "hsm": free_port(), "mqtt": free_port()}
        mqtt_url = f"mqtt://127.0.0.1:{ports['mqtt']}"
        common = ["--data-dir", str(data), "--log-level", log_level]
        v311 = broker in ("nats", "amqtt")
        env = {"ATMSIM_MQTT_PROTOCOL": "3.1.1" if v311 else "5",
               "ATMSIM_MQTT_SHARED_SUBSCRIPTIONS": "no" if v311 else "yes", **(env or {})}
        parts: list[Child] = []
        if layout in ("one", "supervised"):
            name = "stack (one process)" if layout == "one" else "atmsim up (supervised)"
            parts.append(Child(name, [
                "up", *common, "--switch-port", str(ports["switch"]), "--hsm-port",
                str(ports["hsm"]), "--mqtt-port", str(ports["mqtt"]), "--broker", broker,
                *(["--single-process"] if layout == "one" else [])], logs, loop, env,
                root=root))
        else:
            parts.append(Child(f"broker ({broker})", [
                "broker", *common, "--mqtt-port", str(ports["mqtt"]), "--broker", broker],
                logs, loop, env, root=root))
            parts.append(Child("HSM", ["hsm", *common, "--hsm-port", str(ports["hsm"])],
                               logs, hsm_loop, env, root=root))
            parts += [Child(f"ledger {n}" if ledger_processes > 1 else "ledger",
                            ["ledger", *common, "--mqtt", mqtt_url], logs, loop, env,
                            root=root)
                      for n in range(1, ledger_processes + 1)]
            parts.append(Child("switch", [
                "switch", *common, "--switch-port", str(ports["switch"]), "--hsm-port",
                str(ports["hsm"]), "--mqtt", mqtt_url], logs, loop, env, root=root))
        try:
            start_in_order(parts, {
                "broker": lambda: wait_for_port(ports["mqtt"]),
                "HSM": lambda: wait_for_port(ports["hsm"]),
                # seeding a fresh ledger file; the warm-up checks it
                "ledger": lambda: time.sleep(1.0)})
            wait_for_port(ports["switch"], timeout=60)
            yield StackUnderTest(ports["switch"], parts)
        finally:
            stop_parts(parts, logs)
            shutil.rmtree(logs, ignore_errors=True)


def warm_up(stack: StackUnderTest, loop: str) -> None:
    """Until every part answers (the ledger may still be connecting): at most 30 s."""
    deadline = time.monotonic() + 30
    while True:
        figures = run_load(stack.switch_port, ["--concurrency", "8", "--count", "400"],
                           stack.parts, loop=loop)
        if figures.codes.get("00", 0) > 0 and "91" not in figures.codes:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack does not answer 00 after 30 s: {figures.codes}")
        time.sleep(1)


def measure(stack: StackUnderTest, shape: list[str], runs: int, loop: str) -> list[LoadFigures]:
    return [run_load(stack.switch_port, shape, stack.parts, loop=loop) for _ in range(runs)]


def summary(label: str, results: list[LoadFigures]) -> str:
    line = (f"{label:<34} {median([r.throughput for r in results]):8.0f}/s  "
            f"p50 {median([r.p50_ms for r in results]):6.2f} ms  "
            f"p99 {median([r.p99_ms for r in results]):6.2f} ms  "
            f"max {median([r.max_ms for r in results]):7.2f} ms")
    bad = sum(r.timeouts + r.errors for r in results)
    return line + (f"  ({bad} timeouts/errors)" if bad else "")


def cpu_lines(results: list[LoadFigures]) -> list[str]:
    names = results[0].cpu_us_per_inquiry.keys()
    per = {n: median([r.cpu_us_per_inquiry.get(n, 0.0) for r in results]) for n in names}
    total = sum(per.values())
    lines = [f"    CPU per inquiry: {total:.0f} us in all"]
    lines += [f"      {name:<24} {us:7.0f} us" for name, us in
              sorted(per.items(), key=lambda kv: -kv[1])]
    return lines


def codes_line(results: list[LoadFigures]) -> str:
    codes: dict[str, int] = {}
    for r in results:
        for code, n in r.codes.items():
            codes[code] = codes.get(code, 0) + n
    return "    response codes: " + ", ".join(f"{c} x{n}" for c, n in sorted(codes.items()))


SHAPES = ("closed", "open", "low")


def shape_args(shape: str, *, concurrency: int, rate: float, low_rate: float, atms: int,
               duration: float) -> list[str]:
    how = {"closed": ["--concurrency", str(concurrency)], "open": ["--rate", str(rate)],
           "low": ["--rate", str(low_rate)]}[shape]
    return [*how, "--atms", str(atms), "--duration", str(duration)]


def run_configuration(broker: str, loop: str, layout: str, *, runs: int, duration: float,
                      concurrency: int, rate: float, atms: int, ledger_processes: int = 1,
                      hsm_loop: str = "asyncio", closed_only: bool = False,
                      shapes: tuple[str, ...] = ("closed", "open"), low_rate: float = 500.0,
                      against: Path | None = None, log_level: str = "WARNING",
                      env: dict[str, str] | None = None,
                      ) -> dict[str, dict[str, list[LoadFigures]]]:
    """Figures per tree (``this``, and ``against`` when given) per shape, the runs of the
    trees interleaved."""
    if closed_only:
        shapes = ("closed",)
    trees = {"this": ROOT, **({"against": against.resolve()} if against else {})}
    results: dict[str, dict[str, list[LoadFigures]]] = {t: {s: [] for s in shapes}
                                                         for t in trees}
    with ExitStack() as stacks:
        up = {name: stacks.enter_context(running_stack(
                  broker, loop, layout, ledger_processes=ledger_processes, hsm_loop=hsm_loop,
                  root=root, log_level=log_level, env=env))
              for name, root in trees.items()}
        for stack in up.values():
            warm_up(stack, loop)
        for shape in shapes:
            how = shape_args(shape, concurrency=concurrency, rate=rate, low_rate=low_rate,
                             atms=atms, duration=duration)
            for _ in range(runs):
                for name, stack in up.items():
                    results[name][shape] += measure(stack, how, 1, loop)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=["mosquitto", "nats", "amqtt"], default="mosquitto")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--hsm-loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--layout", choices=["processes", "supervised", "one"],
                        default="processes")
    parser.add_argument("--ledger-processes", type=int, default=1)
    parser.add_argument("--closed-only", action="store_true", help="skip the open loops")
    parser.add_argument("--shapes", default="closed,open,low",
                        help="which of closed, open, low to run (default all three)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--low-rate", type=float, default=500.0)
    parser.add_argument("--atms", type=int, default=50)
    parser.add_argument("--against", type=Path, default=None, metavar="TREE",
                        help="also run a stack from TREE, its runs interleaved with these")
    parser.add_argument("--log-level", default="WARNING",
                        help="the parts' log level (WARNING; INFO as atmsim up logs)")
    args = parser.parse_args(argv)
    shapes = tuple(s for s in args.shapes.split(",") if s)
    if not set(shapes) <= set(SHAPES):
        parser.error(f"--shapes: choose from {', '.join(SHAPES)}")
    print(f"machine: {machine_line()}")
    label = f"{args.broker}, {args.layout}, {args.loop}"
    results = run_configuration(args.broker, args.loop, args.layout, runs=args.runs,
                                duration=args.duration, concurrency=args.concurrency,
                                rate=args.rate, atms=args.atms,
                                ledger_processes=args.ledger_processes,
                                hsm_loop=args.hsm_loop, closed_only=args.closed_only,
                                shapes=shapes, low_rate=args.low_rate, against=args.against,
                                log_level=args.log_level)
    names = {"closed": f"closed {args.concurrency}", "open": f"open {args.rate:g}/s",
             "low": f"open {args.low_rate:g}/s"}
    for tree, by_shape in results.items():
        if len(results) > 1:
            print(f"== {tree}: {ROOT if tree == 'this' else args.against}")
        for shape, figures in by_shape.items():
            print(summary(f"(c) {label}, {names[shape]}", figures))
            print("\n".join(cpu_lines(figures)))
            print(codes_line(figures))
    if "against" in results:
        for shape in results["this"]:
            pairs = zip(results["this"][shape], results["against"][shape], strict=True)
            cpu = [sum(a.cpu_us_per_inquiry.values()) / sum(b.cpu_us_per_inquiry.values())
                   for a, b in pairs]
            tput = [a.throughput / b.throughput for a, b in
                    zip(results["this"][shape], results["against"][shape], strict=True)]
            print(f"this/against, {names[shape]}: CPU per inquiry median ratio "
                  f"{median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f}), throughput "
                  f"{median(tput):.3f}")
    print(f"machine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
