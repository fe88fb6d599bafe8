"""What tracing costs the switch per balance inquiry: off (the default), against the tree
before tracing existed, and on.

The switch's dispatcher answers one 0200 at a time, the whole pipeline with a real card
database, with in-memory stand-ins for the HSM and the bus that answer at once: only the
switch's own work is timed, which is where the off switch sits (the MQTT and HSM clients'
share of it, the headers and the wrapper, is a branch each). Each mode runs in a child
process of its own, the modes alternating, and the figure is the median of the runs.

    python benchmarks/tracing_cost.py --before /tmp/before     # a tree without tracing
    python benchmarks/tracing_cost.py --runs 7 --inquiries 20000

``--before DIR``: the source tree of the commit before tracing came, e.g. made with
``git archive <commit> | tar -x -C DIR``; without it only "off" and "on" are measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["main"]


def _child(mode: str, inquiries: int) -> None:
    """Time ``inquiries`` 0200s through the dispatcher; print µs per inquiry as JSON."""
    import asyncio
    import logging
    import tempfile
    import time
    from typing import Any

    from atm_switch.card_store import CardStore, PanKeys, Terminal
    from atm_switch.deps import SwitchDeps
    from atm_switch.dispatcher import Dispatcher
    from atmsim.kernel.log_limits import RateLimitedLog

    logging.disable(logging.WARNING)
    spans = None
    if mode == "on":
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

        from atmsim.shell.otel import start_tracing

        class Dropped(SpanExporter):
            def export(self, spans: object) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        spans = start_tracing({"switch"}, exporter=Dropped())

    class Hsm:
        async def verify_pin_ibm3624(self, **_: Any) -> str:
            return "00"

        async def verify_pin_pvv(self, **_: Any) -> str:
            return "00"

    reply = {"id": "x", "result": "OK", "kpj": "12345678901", "name": "BUDI SANTOSO",
             "status": "AKTIF", "balance_sen": 1234567800, "as_of": "2024-05-31",
             "currency": "IDR"}

    class Bus:
        async def request(self, topic: str, payload: dict[str, Any], timeout: float,
                          **_: Any) -> dict[str, Any]:
            return reply

        def publish_soon(self, topic: str, payload: dict[str, Any]) -> bool:
            return True

    pan = "5264220000100010"
    with tempfile.TemporaryDirectory() as tmp:
        cards = CardStore(Path(tmp) / "cards.db", lambda _: PanKeys(bytes(32), bytes(32)))
        cards.put_terminals([Terminal("BNI00001", "009", "U" + "1" * 32, "ABCDEF")])
        cards.put_card(pan, expiry="3012", holder_name="BUDI SANTOSO", nik="3174012345670001",
                       kpj="12345678901", pin_method="IBM3624", pvk_lmk="U" + "2" * 32,
                       pin_check_length=6, pin_offset="1234FFFFFFFF",
                       dec_table="0123456789012345", pin_validation_data="52642200001N")
        deps = SwitchDeps(cards, Hsm(), Bus(), hsm_deadline=1, ledger_deadline=1)  # type: ignore[arg-type]
        dispatcher = Dispatcher(deps, RateLimitedLog(logging.getLogger("bench"), 60))

        async def run() -> float:
            started = 0.0
            for number in range(inquiries + 500):
                if number == 500:  # warmed up
                    started = time.perf_counter()
                stan = f"{number % 999_999 + 1:06d}"
                answer = await dispatcher.dispatch({
                    "t": "0200", "2": pan, "3": "311000", "4": "000000000000",
                    "7": f"1121{number // 999_999:06d}", "11": stan, "14": "3012",
                    "32": "009", "37": f"43210{stan}0", "41": "BNI00001", "49": "360",
                    "52": "0123456789ABCDEF"})
                assert answer is not None and answer.response["39"] == "00", answer
            return (time.perf_counter() - started) / inquiries * 1e6

        per_inquiry = asyncio.run(run())
        cards.close()
    if spans is not None:
        spans.close()
    print(json.dumps({"mode": mode, "us": per_inquiry}))


def _measure(mode: str, tree: Path, inquiries: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", mode,
                          "--inquiries", str(inquiries)], env=env, cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["us"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a source tree without tracing")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--inquiries", type=int, default=20_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.inquiries)
        return 0
    sys.path.insert(0, str(ROOT))
    import timeit

    from atmsim.kernel import otel

    calls = 2_000_000
    check = min(timeit.repeat(lambda: otel.tracer("switch") is None, number=calls,
                              repeat=5)) / calls * 1e9
    # Per inquiry, tracing off: the dispatcher, the pipeline, the HSM link (once per HSM
    # command, one for a PIN check) and the ledger link each ask once.
    print(f"the off switch: {check:.0f} ns a look, 4 looks an inquiry = "
          f"{4 * check / 1000:.2f} µs", flush=True)
    modes = [("before", args.before)] if args.before else []
    modes += [("off", ROOT), ("on", ROOT)]
    results: dict[str, list[float]] = {mode: [] for mode, _ in modes}
    for run in range(args.runs):
        for mode, tree in modes:
            results[mode].append(_measure(mode, tree, args.inquiries))
        print(f"run {run + 1}: " + "  ".join(f"{m} {results[m][-1]:.1f} µs" for m, _ in modes),
              flush=True)
    medians = {mode: statistics.median(values) for mode, values in results.items()}
    print("median per inquiry: " + "  ".join(f"{m} {v:.1f} µs" for m, v in medians.items()))
    if "before" in medians:
        off, before = medians["off"], medians["before"]
        paired = statistics.median(o - b for o, b in zip(results["off"], results["before"],
                                                         strict=True))
        print(f"tracing off vs before: {off - before:+.2f} µs ({off / before - 1:+.1%}); "
              f"paired per run: {paired:+.2f} µs")
    print(f"tracing on vs off: {medians['on'] - medians['off']:+.1f} µs "
          f"({medians['on'] / medians['off'] - 1:+.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
