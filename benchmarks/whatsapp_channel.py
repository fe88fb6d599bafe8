"""Signed webhooks per second through the WhatsApp bot (docs/channels.md, "WhatsApp").

Starts an embedded broker and the ledger (demo data, SQLite) and the WhatsApp stack (the
bot's webhook and the simulated Graph API) on free loopback ports, then posts signed
deliveries over HTTP from C simulated users at once for R rounds of N webhooks:

* ``menu``: a text that gets the menu back (bot and Graph API, no ledger);
* ``verify``: whole membership inquiries, four webhooks each (the menu choice, the NIK,
  the birth date, "done"), one ledger round trip over MQTT per inquiry.

Each webhook is answered after its turn (the replies handed to the Graph API), so the
figure is whole turns per second. Prints the median of the rounds and verify/menu as a
ratio (measure ratios: other work on the machine moves the absolute figures).

    python benchmarks/whatsapp_channel.py [--webhooks 800] [--users 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atmsim.shell.config import WhatsappSettings, load_settings
from atmsim.shell.stack import Stack
from atmsim.shell.whatsapp_cli import WhatsappSecrets, WhatsappStack
from whatsapp_sim.phone import Phone

KEYS = WhatsappSecrets("bench-secret", "bench-verify", "bench-token")


async def round_of(stack: WhatsappStack, kind: str, webhooks: int, users: int,
                   first_user: int) -> float:
    phones = [Phone(stack.webhook_url, str(6281300000000 + first_user + u),
                    app_secret=KEYS.app_secret, phone_number_id=stack.config.phone_number_id)
              for u in range(users)]
    per_user = webhooks // users

    async def user(phone: Phone) -> None:
        if kind == "menu":
            for _ in range(per_user):
                response = await phone.say("menu")
                assert response.status_code == 200, response.text
            return
        for _ in range(per_user // 4):
            for response in (await phone.pick("m_member"),
                             await phone.say("3171011505850001"),
                             await phone.say("15-05-1985"),
                             await phone.pick("done")):
                assert response.status_code == 200, response.text

    started = time.perf_counter()
    await asyncio.gather(*(user(p) for p in phones))
    elapsed = time.perf_counter() - started
    for phone in phones:
        await phone.close()
    sent = per_user * users if kind == "menu" else per_user // 4 * 4 * users
    return sent / elapsed


async def main(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="wa-bench-"))
    settings = load_settings(env={}, overrides={"data_dir": str(data),
                                                "mqtt": {"port": args.mqtt_port}})
    async with Stack(settings, parts=("broker", "ledger")) as backend:
        assert backend.broker is not None
        config = dataclasses.replace(WhatsappSettings(), port=0, graph_port=0,
                                     rate_per_minute=10_000)
        async with WhatsappStack(backend.broker.endpoint_for("whatsapp"), config,
                                 KEYS) as stack:
            await stack.bus.wait_connected(10)
            figures: dict[str, list[float]] = {"menu": [], "verify": []}
            for r in range(args.rounds):
                for kind in figures:
                    figures[kind].append(await round_of(
                        stack, kind, args.webhooks, args.users, (r * 2 + len(figures[kind]))
                        * 10_000 + (0 if kind == "menu" else 5_000)))
    menu, verify = (statistics.median(figures[k]) for k in ("menu", "verify"))
    print(f"webhooks: {args.webhooks} a round, {args.users} users at once, "
          f"{args.rounds} rounds (medians)")
    print(f"  menu   (bot + Graph API)          {menu:8.0f} webhooks/s")
    print(f"  verify (+ ledger over MQTT)       {verify:8.0f} webhooks/s "
          f"({verify / 4:.0f} inquiries/s)")
    print(f"  verify / menu                     {verify / menu:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=800)
    parser.add_argument("--mqtt-port", type=int, default=21790, help="the embedded broker's")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
