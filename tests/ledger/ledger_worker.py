"""A ledger worker in a process of its own, for the tests that kill one with SIGKILL:

    python -m tests.ledger.ledger_worker --db DB --mqtt URL --log FILE [--today DATE]

It prints ``ready`` once it is subscribed, and logs at DEBUG to ``--log`` (so a test can
tell which worker answered what). SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import date

from atmsim.kernel.bus import MqttEndpoint, parse_mqtt_url_full
from bpjs_ledger.service import run_ledger

AS_OF = date(2026, 10, 31)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--mqtt", required=True,
                        help="mqtt://user:password@host:port of an MQTT 5 broker")
    parser.add_argument("--log", required=True)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 12))
    args = parser.parse_args()
    logging.basicConfig(filename=args.log, level=logging.DEBUG,
                        format="%(asctime)s %(name)s %(message)s")
    url = parse_mqtt_url_full(args.mqtt)
    endpoint = MqttEndpoint(url.host, url.port, protocol="5", shared_subscriptions=True,
                            username=url.username, password=url.password)

    async def serve() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        ledger = asyncio.create_task(run_ledger(args.db, endpoint, stop=stop, ready=ready,
                                                demo_as_of=AS_OF, today=lambda: args.today))
        announced = asyncio.create_task(ready.wait())
        await asyncio.wait({ledger, announced}, return_when=asyncio.FIRST_COMPLETED)
        if announced.done():
            print("ready", flush=True)
        else:
            announced.cancel()
        await ledger

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
