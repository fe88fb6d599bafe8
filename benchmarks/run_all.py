"""The end-to-end benchmark in one run: (a) codec, (b) bare server, (c) the full stack.

(a) codec cost per inquiry (benchmarks/codec_cost.py); (b) a bare asyncio server with
the switch's framing answering a fixed 0210 (benchmarks/bare_server.py); (c) the full
stack, each part its own process, with Mosquitto and with the pip-only amqtt broker
(benchmarks/end_to_end.py). (b) and (c) are driven by ``atmsim load`` in its own
process: closed loop (the most they sustain) and open loop at a fixed rate (latency).
Every figure is the median of ``--runs`` runs; the ratio (c)/(b) compares throughput.

    python benchmarks/run_all.py                       # about 4 minutes
    python benchmarks/run_all.py --runs 5 --duration 15 --skip-amqtt
    python benchmarks/run_all.py --skip-amqtt --layouts supervised,one   # atmsim up's two

``--layouts`` (default ``processes``) names the layouts of (c), each measured against the
same (b): ``processes`` (each part started by hand), ``supervised`` (``atmsim up``),
``one`` (``atmsim up --single-process``); see benchmarks/end_to_end.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import codec_cost
from benchmarks._harness import LoadFigures, machine_line, median, run_load, running_bare_server
from benchmarks.end_to_end import codes_line, cpu_lines, run_configuration, summary

__all__ = ["bare_server_figures", "main"]


def bare_server_figures(loop: str, *, runs: int, duration: float, concurrency: int,
                        rate: float, atms: int) -> dict[str, list[LoadFigures]]:
    with running_bare_server(loop) as (port, server):
        closed = [run_load(port, ["--concurrency", str(concurrency), "--atms", str(atms),
                                  "--duration", str(duration)], [server], loop=loop)
                  for _ in range(runs)]
        open_ = [run_load(port, ["--rate", str(rate), "--atms", str(atms), "--duration",
                                 str(duration)], [server], loop=loop)
                 for _ in range(runs)]
    return {"closed": closed, "open": open_}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--atms", type=int, default=50)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--skip-amqtt", action="store_true")
    parser.add_argument("--layouts", default="processes",
                        help="comma-separated: processes, supervised, one (default processes)")
    args = parser.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = set(layouts) - {"processes", "supervised", "one"}
    if unknown or not layouts:
        parser.error(f"--layouts: not a layout: {', '.join(sorted(unknown)) or '(none)'}")
    shape = {"runs": args.runs, "duration": args.duration, "concurrency": args.concurrency,
             "rate": args.rate, "atms": args.atms}
    print(f"machine: {machine_line()}")
    print(f"loop {args.loop}; {args.atms} virtual ATMs; closed loop {args.concurrency} in "
          f"flight; open loop {args.rate:g}/s; {args.runs} runs of {args.duration:g} s each, "
          f"medians\n")
    codec_cost.main(["--repeats", "5"])
    print()
    bare = bare_server_figures(args.loop, **shape)
    print(summary(f"(b) bare server, closed {args.concurrency}", bare["closed"]))
    print("\n".join(cpu_lines(bare["closed"])))
    print(summary(f"(b) bare server, open {args.rate:g}/s", bare["open"]))
    brokers = ["mosquitto"] if args.skip_amqtt else ["mosquitto", "amqtt"]
    bare_rate = median([r.throughput for r in bare["closed"]])
    for broker in brokers:
        for layout in layouts:
            print()
            full = run_configuration(broker, args.loop, layout, **shape)["this"]
            label = f"{broker}, {layout}" if layouts != ["processes"] else broker
            print(summary(f"(c) stack, {label}, closed {args.concurrency}", full["closed"]))
            print("\n".join(cpu_lines(full["closed"])))
            print(codes_line(full["closed"]))
            print(summary(f"(c) stack, {label}, open {args.rate:g}/s", full["open"]))
            print("\n".join(cpu_lines(full["open"])))
            print(codes_line(full["open"]))
            rate = median([r.throughput for r in full["closed"]])
            print(f"ratio (c)/(b), {label}: {rate / bare_rate:.2f} of the bare server's "
                  f"throughput")
    print(f"\nmachine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
