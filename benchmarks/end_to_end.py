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
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    Child,
    LoadFigures,
    free_port,
    machine_line,
    median,
    run_load,
    wait_for_port,
)

__all__ = ["StackUnderTest", "running_stack", "measure", "main"]


@dataclass
class StackUnderTest:
    switch_port: int
    parts: list[Child]


@contextmanager
def running_stack(broker: str, loop: str, layout: str, *, ledger_processes: int = 1,
                  hsm_loop: str = "asyncio",
                  env: dict[str, str] | None = None) -> Iterator[StackUnderTest]:
    """A fresh back end on free ports; stopped (by process ID) on the way out. ``env``:
    more variables for every part (``ATMSIM_MQTT_CLIENT=aiomqtt``...)."""
    with tempfile.TemporaryDirectory(prefix="atmsim-bench-") as tmp:
        data, logs = Path(tmp) / "data", Path(tmp) / "logs"
        logs.mkdir()
        ports = {"switch": free_port(), "hsm": free_port(), "mqtt": free_port()}
        mqtt_url = f"mqtt://127.0.0.1:{ports['mqtt']}"
        common = ["--data-dir", str(data), "--log-level", "WARNING"]
        v311 = broker in ("nats", "amqtt")
        env = {"ATMSIM_MQTT_PROTOCOL": "3.1.1" if v311 else "5",
               "ATMSIM_MQTT_SHARED_SUBSCRIPTIONS": "no" if v311 else "yes", **(env or {})}
        parts: list[Child] = []
        if layout in ("one", "supervised"):
            name = "stack (one process)" if layout == "one" else "atmsim up (supervised)"
            parts.append(Child(name, [
                "up", *common, "--switch-port", str(ports["switch"]), "--hsm-port",
                str(ports["hsm"]), "--mqtt-port", str(ports["mqtt"]), "--broker", broker,
                *(["--single-process"] if layout == "one" else [])], logs, loop, env))
        else:
            parts.append(Child(f"broker ({broker})", [
                "broker", *common, "--mqtt-port", str(ports["mqtt"]), "--broker", broker],
                logs, loop, env))
            parts.append(Child("HSM", ["hsm", *common, "--hsm-port", str(ports["hsm"])],
                               logs, hsm_loop, env))
            parts += [Child(f"ledger {n}" if ledger_processes > 1 else "ledger",
                            ["ledger", *common, "--mqtt", mqtt_url], logs, loop, env)
                      for n in range(1, ledger_processes + 1)]
            parts.append(Child("switch", [
                "switch", *common, "--switch-port", str(ports["switch"]), "--hsm-port",
                str(ports["hsm"]), "--mqtt", mqtt_url], logs, loop, env))
        try:
            for part in parts:
                part.start()
                if part.name.startswith("broker"):
                    wait_for_port(ports["mqtt"])
                elif part.name == "HSM":
                    wait_for_port(ports["hsm"])
                elif part.name.startswith("ledger"):
                    time.sleep(1.0)  # seeding a fresh ledger file; the warm-up checks it
            wait_for_port(ports["switch"], timeout=60)
            yield StackUnderTest(ports["switch"], parts)
        finally:
            for part in reversed(parts):
                part.stop()
            if sys.exc_info()[0] is not None:
                for log in sorted(logs.iterdir()):
                    print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}",
                          file=sys.stderr)
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


def run_configuration(broker: str, loop: str, layout: str, *, runs: int, duration: float,
                      concurrency: int, rate: float, atms: int, ledger_processes: int = 1,
                      hsm_loop: str = "asyncio", closed_only: bool = False,
                      env: dict[str, str] | None = None) -> dict[str, list[LoadFigures]]:
    with running_stack(broker, loop, layout, ledger_processes=ledger_processes,
                       hsm_loop=hsm_loop, env=env) as stack:
        warm_up(stack, loop)
        closed = measure(stack, ["--concurrency", str(concurrency), "--atms", str(atms),
                                 "--duration", str(duration)], runs, loop)
        if closed_only:
            return {"closed": closed}
        open_ = measure(stack, ["--rate", str(rate), "--atms", str(atms),
                                "--duration", str(duration)], runs, loop)
    return {"closed": closed, "open": open_}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=["mosquitto", "nats", "amqtt"], default="mosquitto")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    # hsm_mock's server asserts an asyncio.Transport, which uvloop's transports are not.
    parser.add_argument("--hsm-loop", choices=["uvloop", "asyncio"], default="asyncio")
    parser.add_argument("--layout", choices=["processes", "supervised", "one"],
                        default="processes")
    parser.add_argument("--ledger-processes", type=int, default=1)
    parser.add_argument("--closed-only", action="store_true", help="skip the open loop")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--atms", type=int, default=50)
    args = parser.parse_args(argv)
    print(f"machine: {machine_line()}")
    label = f"{args.broker}, {args.layout}, {args.loop}"
    results = run_configuration(args.broker, args.loop, args.layout, runs=args.runs,
                                duration=args.duration, concurrency=args.concurrency,
                                rate=args.rate, atms=args.atms,
                                ledger_processes=args.ledger_processes,
                                hsm_loop=args.hsm_loop, closed_only=args.closed_only)
    print(summary(f"(c) {label}, closed {args.concurrency}", results["closed"]))
    print("\n".join(cpu_lines(results["closed"])))
    print(codes_line(results["closed"]))
    if "open" in results:
        print(summary(f"(c) {label}, open {args.rate:g}/s", results["open"]))
        print("\n".join(cpu_lines(results["open"])))
        print(codes_line(results["open"]))
    print(f"machine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
