"""(d) The skeleton: the stack's topology with no work in it, the ceiling of any Python
implementation of it on this machine.

Every message of a real inquiry travels, in the same processes and over the same kinds of
connection, but nothing is decoded, checked, looked up or computed:

- ``front`` (in the switch's place) reads the ATM side's 0200 frames, sends one HSM-sized
  request per inquiry on one pipelined TCP connection to ``hsm``, then on its reply
  publishes a balance request of the real size on the real topic (at the stack's request
  QoS, ``ATMSIM_MQTT_REQUEST_QOS``), and on the ledger's answer writes the prebuilt 0210
  of the bare server (``bare_server.py``) back to the ATM and publishes a transaction
  event at QoS 0, as the switch does;
- ``hsm`` answers every frame with a fixed DA reply (replies leave in slices, as the HSM's);
- ``ledger`` answers every request with a reply of the real size on its reply topic.

The broker is the real one (``atmsim broker``: Mosquitto or nats-server, with the stack's
accounts). The parts use asyncio protocols on uvloop and the stack's own lean MQTT client
(``atmsim.kernel.mqtt``), so what is left is the unavoidable part: the event loops, the
system calls and the wake-ups of four processes and a broker for each inquiry.

Measured by ``benchmarks/goals.py`` beside the bare server (the floor) and the real stack:
the gap between the skeleton and the floor is what the topology costs, the gap between the
real stack and the skeleton what atmsim's own work costs.

    python benchmarks/skeleton_stack.py hsm --port P
    python benchmarks/skeleton_stack.py ledger --data-dir D --mqtt-port M [--v311]
    python benchmarks/skeleton_stack.py front --port P --hsm-port H --data-dir D --mqtt-port M
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atmsim.kernel.mqtt import IncomingMessage, MqttConnection, connect
from atmsim.kernel.wire import Framing, WireProfile, default_profile
from atmsim.shell.broker_auth import load_credentials
from benchmarks._harness import Child, free_port, start_in_order, stop_parts, wait_for_port
from benchmarks.bare_server import FixedAnswer

__all__ = ["running_skeleton", "main"]

BALANCE_TOPIC = "bpjs/jht/v1/balance/req"
EVENTS_TOPIC = "atmsim/v1/events/tx"
# A DA request as the switch sends it (header 4, code, TPK, PVK, ... offset): 122 bytes.
HSM_REQUEST = b"DA" + b"U" + b"1" * 32 + b"U" + b"2" * 32 + b"12" + b"3" * 16 + b"0106" \
    + b"4" * 12 + b"0123456789012345" + b"52642200001N" + b"123456FFFFFF"
HSM_REPLY = b"DB02"
# The balance request and reply of one inquiry, the size the switch and ledger send.
REQUEST_BODY = {"kpj": "12345678901", "nik": "3174012345678901", "channel": "ATM",
                "terminal_id": "BNI00001", "stan": "000001", "request_id": ""}
REPLY_BODY = {"status": "OK", "kpj": "12345678901", "name": "BUDI SANTOSO",
              "balance_sen": 12290475925, "as_of": "2026-11-30", "currency": "IDR",
              "segment": "PU", "last_contribution": "2026-10", "programmes": ["JHT"],
              "request_id": ""}
EVENT_BODY = {"mti": "0200", "response_mti": "0210", "terminal_id": "BNI00001",
              "stan": "000001", "pan": "526422******0010", "response_code": "00",
              "latency_ms": 2.5, "reason": None, "at": 0.0,
              "hops": {"switch_ms": 2.5, "hsm_ms": 0.4, "ledger_ms": 1.1}}
SLICE = 16
# QoS of the balance request and its reply: the stack's (``[mqtt] request_qos``, 0).
QOS = int(os.environ.get("ATMSIM_MQTT_REQUEST_QOS", "0"))
_PUBLISHING: set[asyncio.Task[None]] = set()


def _publish(connection: MqttConnection, topic: str, body: bytes) -> None:
    """At QoS 0 at once; at QoS 1 within the broker's Receive Maximum, as the bus does."""
    if not QOS:
        connection.publish(topic, body, 0)
        return
    task = asyncio.get_running_loop().create_task(connection.publish_acked(topic, body))
    _PUBLISHING.add(task)
    task.add_done_callback(_PUBLISHING.discard)


# The switch's and the HSM's framing: a 2-byte big-endian length.
_FRAMING = Framing()
_frame = _FRAMING.frame


class _Frames(asyncio.Protocol):
    """Cuts 2-byte length-prefixed frames; ``frames(list)`` gets each batch that arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start, frames = 0, []
        while (frame := _FRAMING.cut(buffer, start)) is not None:
            body, start = frame
            frames.append(body)
        del buffer[:start]
        if frames:
            self.frames(frames)

    def frames(self, frames: list[bytes]) -> None:
        raise NotImplementedError


class _HsmSide(_Frames):
    def frames(self, frames: list[bytes]) -> None:
        assert self.transport is not None
        out = []
        for frame in frames:
            out.append(_frame(frame[:4] + HSM_REPLY))
            if len(out) >= SLICE:
                self.transport.write(b"".join(out))
                out = []
        if out:
            self.transport.write(b"".join(out))


async def serve_hsm(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_HsmSide, "127.0.0.1", port, reuse_address=True)
    async with server:
        print(f"skeleton HSM on 127.0.0.1:{port}", flush=True)
        await _until_stopped()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


async def _mqtt(data_dir: Path, port: int, role: str, v311: bool,
                on_message: Callable[[IncomingMessage], None]) -> MqttConnection:
    accounts = load_credentials(data_dir) or {}
    account = accounts[role]
    return await connect("127.0.0.1", port, client_id=f"skeleton-{role}",
                         protocol="3.1.1" if v311 else "5", on_message=on_message,
                         username=account.username, password=account.password)


async def serve_ledger(data_dir: Path, mqtt_port: int, v311: bool) -> None:
    connection: MqttConnection | None = None

    def answer(message: IncomingMessage) -> None:
        request = json.loads(message.payload)
        reply = {**REPLY_BODY, "request_id": request["request_id"]}
        assert connection is not None
        _publish(connection, request["reply_to"], json.dumps(reply).encode())

    connection = await _mqtt(data_dir, mqtt_port, "ledger", v311, answer)
    await connection.subscribe(BALANCE_TOPIC, 1)
    print("skeleton ledger subscribed", flush=True)
    await _until_stopped()
    await connection.close()


class _HsmLink(_Frames):
    """One pipelined connection to the skeleton HSM; replies matched by 4-digit header."""

    def __init__(self, on_reply: object) -> None:
        super().__init__()
        self.on_reply = on_reply
        self.outbox: list[bytes] = []

    def send(self, header: bytes) -> None:
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outbox.append(_frame(header + HSM_REQUEST))

    def _flush(self) -> None:
        assert self.transport is not None
        data, self.outbox = b"".join(self.outbox), []
        self.transport.write(data)

    def frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.on_reply(frame[:4])  # type: ignore[operator]


def _other_answer(profile: WireProfile, raw: bytes) -> bytes:
    """A request other than a 0200 answered 00 (0800 -> 0810, 0420 -> 0430, ...), with the
    fields an ATM matches an answer by."""
    request = profile.decode(raw)
    mti = request["t"]
    answer: dict[str, str] = {"t": mti[:2] + str(int(mti[2]) + 1) + mti[3], "39": "00",
              **{k: request[k] for k in ("7", "11", "41", "70") if k in request}}
    return profile.encode(answer)


async def serve_front(port: int, hsm_port: int, data_dir: Path, mqtt_port: int,
                      v311: bool) -> None:
    loop = asyncio.get_running_loop()
    profile, framing = default_profile(), Framing()
    fixed = FixedAnswer(profile)
    reply_topic = "atmsim/v1/reply/switch/skeleton"
    # header -> (ATM transport, its 0200): one inquiry between its HSM and ledger hops.
    waiting_hsm: dict[bytes, tuple[asyncio.Transport, bytes]] = {}
    waiting_ledger: dict[str, tuple[asyncio.Transport, bytes]] = {}
    counter = 0

    def hsm_replied(header: bytes) -> None:
        atm, request = waiting_hsm.pop(header)
        request_id = header.decode()
        waiting_ledger[request_id] = (atm, request)
        body = {**REQUEST_BODY, "request_id": request_id, "reply_to": reply_topic}
        _publish(bus, BALANCE_TOPIC, json.dumps(body).encode())

    def ledger_replied(message: IncomingMessage) -> None:
        reply = json.loads(message.payload)
        atm, request = waiting_ledger.pop(reply["request_id"])
        answer = fixed.answer(request)
        if answer is not None and not atm.is_closing():
            atm.write(framing.frame(answer))
        event = {**EVENT_BODY, "at": time.time()}
        bus.publish(EVENTS_TOPIC, json.dumps(event).encode(), 0)

    class AtmSide(_Frames):
        def frames(self, frames: list[bytes]) -> None:
            nonlocal counter
            assert self.transport is not None
            for raw in frames:
                if raw[:4] != b"0200":  # sign-on, echo test, a reversal after a timeout
                    self.transport.write(framing.frame(_other_answer(profile, raw)))
                    continue
                counter = counter % 9999 + 1
                header = b"%04d" % counter
                waiting_hsm[header] = (self.transport, raw)
                hsm.send(header)

    bus = await _mqtt(data_dir, mqtt_port, "switch", v311, ledger_replied)
    await bus.subscribe(reply_topic, 1)
    _, hsm = await loop.create_connection(lambda: _HsmLink(hsm_replied), "127.0.0.1", hsm_port)
    server = await loop.create_server(AtmSide, "127.0.0.1", port, reuse_address=True)
    async with server:
        print(f"skeleton front on 127.0.0.1:{port}", flush=True)
        await _until_stopped()
    await bus.close()


def _wait_for_line(log: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{log.name}: no {text!r} after {timeout:.0f}s")


@contextlib.contextmanager
def running_skeleton(broker: str, root: Path) -> Iterator[tuple[int, list[Child]]]:
    """The skeleton with a real ``atmsim broker`` of kind ``broker``, on free ports: the
    front's port and the parts (for their CPU)."""
    with tempfile.TemporaryDirectory(prefix="atmsim-skeleton-") as tmp:
        data, logs = Path(tmp) / "data", Path(tmp) / "logs"
        logs.mkdir()
        ports = {"front": free_port(), "hsm": free_port(), "mqtt": free_port()}
        me = [sys.executable, str(root / "benchmarks" / "skeleton_stack.py")]
        mqtt = ["--data-dir", str(data), "--mqtt-port", str(ports["mqtt"])] + (
            ["--v311"] if broker in ("nats", "amqtt") else [])
        parts = [
            Child(f"broker ({broker})", ["broker", "--data-dir", str(data), "--log-level",
                                         "WARNING", "--mqtt-port", str(ports["mqtt"]),
                                         "--broker", broker], logs, "uvloop", root=root),
            Child("HSM", [], logs, command=[*me, "hsm", "--port", str(ports["hsm"])],
                  root=root),
            Child("ledger", [], logs, command=[*me, "ledger", *mqtt], root=root),
            Child("switch", [], logs, command=[*me, "front", "--port", str(ports["front"]),
                                               "--hsm-port", str(ports["hsm"]), *mqtt],
                  root=root),
        ]
        try:
            start_in_order(parts, {
                "broker": lambda: wait_for_port(ports["mqtt"]),
                "HSM": lambda: wait_for_port(ports["hsm"]),
                "ledger": lambda: _wait_for_line(logs / "ledger.log", "subscribed")})
            wait_for_port(ports["front"])
            yield ports["front"], parts
        finally:
            stop_parts(parts, logs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["front", "hsm", "ledger"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hsm-port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--mqtt-port", type=int, default=0)
    parser.add_argument("--v311", action="store_true", help="MQTT 3.1.1 (nats-server)")
    args = parser.parse_args(argv)
    import uvloop

    if args.part == "hsm":
        uvloop.run(serve_hsm(args.port))
    elif args.part == "ledger":
        uvloop.run(serve_ledger(args.data_dir, args.mqtt_port, args.v311))
    else:
        uvloop.run(serve_front(args.port, args.hsm_port, args.data_dir, args.mqtt_port,
                               args.v311))
    return 0


if __name__ == "__main__":
    sys.exit(main())
