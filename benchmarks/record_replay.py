"""Record and replay against the full stack (``atmsim up``): what the recording proxy costs
per request, and how fast a capture replays.

1. ``--requests`` inquiries (default 1,000; demo cards, every one a real PIN block) from
   ``--connections`` ATM links straight to the switch, each link one request at a time;
2. the same through ``RecordingProxy`` (masked JSONL into a temporary file);
3. that capture replayed with ``replay`` as fast as possible and at 4x the captured pace.

    python benchmarks/record_replay.py
    python benchmarks/record_replay.py --requests 5000 --connections 16
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS
from atmsim.kernel.wire import Framing, default_profile
from atmsim.shell.capture import read_capture
from atmsim.shell.load.cards import demo_cards
from atmsim.shell.record_cli import RecordingProxy
from atmsim.shell.replay import Rewrite, pair_exchanges
from atmsim.shell.replay_cli import replay
from benchmarks._harness import Child, free_port, machine_line, wait_for_port
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import CardData, balance_inquiry_request

PINPAD = PinPad(DEMO_KEYS["TPK"].clear_hex)


async def traffic(port: int, requests: int, connections: int) -> float:
    """Seconds for ``requests`` inquiries over ``connections`` links (closed loop)."""

    async def one_link(n: int, count: int) -> None:
        async with AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as link:
            await link.sign_on()
            for i in range(count):
                demo = DEMO_CARDS[(n + i) % len(DEMO_CARDS)]
                request = balance_inquiry_request(
                    CardData(demo.pan, demo.expiry, demo.track2),
                    PINPAD.encrypt_pin(demo.pin, demo.pan), terminal_id=link.terminal_id,
                    stan=link.next_stan())
                await link.exchange(request)

    started = time.perf_counter()
    share = requests // connections
    await asyncio.gather(*(one_link(n, share) for n in range(connections)))
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="atmsim-bench-replay-"))
    switch_port = free_port()
    up = Child("up", ["up", "--data-dir", str(data), "--switch-port", str(switch_port),
                      "--hsm-port", str(free_port()), "--mqtt-port", str(free_port())],
               data, loop="uvloop")
    up.start()
    try:
        wait_for_port(switch_port, 60)
        await traffic(switch_port, 60, 2)  # warm-up
        direct = await traffic(switch_port, args.requests, args.connections)
        capture = data / "capture.jsonl"
        with capture.open("w", encoding="utf-8") as out:
            async with RecordingProxy(("127.0.0.1", 0), ("127.0.0.1", switch_port),
                                      out) as proxy:
                proxied = await traffic(proxy.port, args.requests, args.connections)
        frames = read_capture(capture, default_profile(), Framing())
        exchanges = pair_exchanges(frames)
        how = Rewrite(demo_cards(), PINPAD)
        fast = await replay(exchanges, ("127.0.0.1", switch_port), how=how, speed=None)
        paced = await replay(exchanges, ("127.0.0.1", switch_port), how=how, speed=4.0)
    finally:
        up.stop()
        shutil.rmtree(data, ignore_errors=True)

    n = args.requests
    print(machine_line())
    print(f"direct to the switch: {n:,} inquiries in {direct:.2f} s = {n / direct:,.0f}/s "
          f"({direct / n * 1e3 * args.connections:.2f} ms each, {args.connections} links)")
    print(f"through atmsim record: {proxied:.2f} s = {n / proxied:,.0f}/s; overhead "
          f"{(proxied - direct) / n * 1e6 * args.connections:,.0f} µs per request "
          f"({(proxied / direct - 1) * 100:+.0f}%), {len(frames):,} frames written")
    for name, report in (("as fast as possible", fast), ("at 4x the captured pace", paced)):
        print(f"replay {name}: {report.sent:,} requests in {report.seconds:.2f} s = "
              f"{report.sent / report.seconds:,.0f}/s (capture spanned "
              f"{report.captured_seconds:.2f} s); identical {report.identical:,}")
        codes: dict[str, int] = {}
        for outcome in report.outcomes:
            if not outcome.identical:
                why = outcome.problem or (outcome.diff[0] if outcome.diff else "")
                codes[why] = codes.get(why, 0) + 1
        for why, count in sorted(codes.items(), key=lambda kv: -kv[1])[:3]:
            print(f"    {count:,} x {why}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
