"""SMS 2757 commands per second through SMPP: phones -> simulated SMSC -> gateway (ESME)
-> ledger over MQTT (Mosquitto) -> back to the phones.

    python benchmarks/sms_channel.py [--phones 5] [--window 20] [--rounds 5] [--per-round 2000]

The five demo participants register from five numbers; then each phone keeps ``--window``
SALDO commands in flight (``INFO``, answered by the gateway without the ledger, is run
the same way for comparison). Prints the median of ``--rounds`` rounds of commands/s for
each, and their ratio: measured within one run, since the machine is shared. The SMSC,
the gateway, the ledger and the phones share one event loop in this process (Mosquitto
is a child process, stopped by its process ID), so the figure is for one core's worth of
everything but the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atmsim.kernel.bus import MqttBus  # noqa: E402
from atmsim.shell.broker import EmbeddedBroker  # noqa: E402
from bpjs_ledger.service import run_ledger  # noqa: E402
from sms_gateway.esme import Esme, EsmeConfig  # noqa: E402
from sms_gateway.gateway import GatewayConfig, SmsGateway  # noqa: E402
from smsc_sim.accounts import ensure_accounts  # noqa: E402
from smsc_sim.handset import Handset  # noqa: E402
from smsc_sim.server import SmscServer  # noqa: E402

PARTICIPANTS = (  # the demo participants (docs/demo-data.md): NIK, name, birth date, KPJ
    ("3171011505850001", "Budi Santoso", "15-05-1985", "10012345678"),
    ("3273024708900002", "Siti Rahayu", "07-08-1990", "12087654321"),
    ("3578031203880003", "Andi Wijaya", "12-03-1988", "13055500011"),
    ("5171026110920004", "Dewi Lestari", "21-10-1992", "14099900022"),
    ("5103011008700006", "Wayan Sudarma", "10-08-1970", "09012300033"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _round(phones: list[tuple[Handset, str]], per_phone: int, window: int) -> float:
    async def drive(phone: Handset, text: str) -> None:
        sent = received = 0
        while received < per_phone:
            while sent < per_phone and sent - received < window:
                await phone.send(text)
                sent += 1
            await phone.receive(30)
            received += 1

    started = time.perf_counter()
    await asyncio.gather(*(drive(phone, text) for phone, text in phones))
    return len(phones) * per_phone / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    if not shutil.which("mosquitto"):
        sys.exit("this benchmark needs a mosquitto binary on the PATH")
    with tempfile.TemporaryDirectory(prefix="atmsim-sms-bench-") as tmp:
        data = Path(tmp)
        async with EmbeddedBroker("127.0.0.1", _free_port(), data, "mosquitto") as broker:
            stop, ready = asyncio.Event(), asyncio.Event()
            ledger = asyncio.create_task(run_ledger(data / "ledger.db",
                                                    broker.endpoint_for("ledger"),
                                                    stop=stop, ready=ready))
            await asyncio.wait_for(ready.wait(), 30)
            accounts = ensure_accounts(data)
            unlimited = GatewayConfig(per_minute=10**6, failures_per_day=10**6)
            async with SmscServer(accounts, port=0) as smsc, \
                    MqttBus(broker.endpoint_for("sms"), "sms-bench") as bus:
                if not await bus.wait_connected(10):
                    sys.exit("the gateway could not reach the broker")
                gateway = SmsGateway(bus, unlimited)
                config = EsmeConfig(port=smsc.port, password=accounts["bpjs2757"].password)
                async with Esme(config, gateway.answer) as esme:
                    if not await esme.wait_bound(10):
                        sys.exit("the gateway did not bind")
                    phones = [Handset("127.0.0.1", smsc.port, f"0813000000{n:02d}",
                                      accounts["handset"].password)
                              for n in range(args.phones)]
                    for phone in phones:
                        await phone.connect()
                    for phone, (nik, name, born, kpj) in zip(phones, PARTICIPANTS * 10,
                                                             strict=False):
                        await phone.send(f"DAFTAR SALDO#{nik}#{name}#{born}#{kpj}")
                        reply = (await phone.receive(10)).text
                        if "berhasil" not in reply and "sudah terdaftar" not in reply:
                            sys.exit(f"registration failed: {reply}")
                    saldo = [(phone, f"SALDO {p[3]}")
                             for phone, p in zip(phones, PARTICIPANTS * 10, strict=False)]
                    info = [(phone, "INFO") for phone in phones]
                    per_phone = max(1, args.per_round // args.phones)
                    await _round(saldo, max(1, per_phone // 10), args.window)  # warm-up
                    figures: dict[str, list[float]] = {"SALDO": [], "INFO": []}
                    for _ in range(args.rounds):
                        figures["SALDO"].append(await _round(saldo, per_phone, args.window))
                        figures["INFO"].append(await _round(info, per_phone, args.window))
                    for phone in phones:
                        await phone.close()
            stop.set()
            await asyncio.wait_for(ledger, 10)
    saldo_median = statistics.median(figures["SALDO"])
    info_median = statistics.median(figures["INFO"])
    print(f"SMS 2757 over SMPP, {args.phones} phones x {args.window} in flight, "
          f"median of {args.rounds} rounds of {per_phone * args.phones} commands:")
    print(f"  SALDO (gateway + ledger over MQTT): {saldo_median:8.0f} commands/s  "
          f"(rounds: {', '.join(f'{f:.0f}' for f in figures['SALDO'])})")
    print(f"  INFO  (gateway only)              : {info_median:8.0f} commands/s  "
          f"(rounds: {', '.join(f'{f:.0f}' for f in figures['INFO'])})")
    print(f"  SALDO / INFO: {saldo_median / info_median:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=5)
    parser.add_argument("--window", type=int, default=20, help="commands in flight per phone")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
