"""``mqtts://user:password@host:port`` with a CA file: TLS to a Mosquitto TLS listener, and
to nats-server's (the pip-installed broker), whose certificate the test makes, on both MQTT
clients, and through ``atmsim up``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atmsim.kernel.bus import BusUnavailable, MqttBus, MqttEndpoint, parse_mqtt_url_full
from atmsim.kernel.tls import generate_demo_pki
from atmsim.shell.broker import nats_config, nats_server_binary
from atmsim.shell.broker_auth import (
    Account,
    ensure_credentials,
    mosquitto_acl,
    mosquitto_password_line,
)
from tests.conftest import free_port, require_broker

ROOT = Path(__file__).resolve().parents[2]
ALL_TOPICS = {"tester": {"role": "custom", "read": ["#"], "write": ["#"]}}


def make_ca_and_server(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it (PEM files)."""
    pki = generate_demo_pki(directory, hosts=("localhost", "127.0.0.1"), days=1)
    return pki.ca_cert, pki.server_cert, pki.server_key


@pytest.fixture(scope="module", params=["mosquitto", "nats"])
def tls_broker(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MqttEndpoint, Path]]:
    """A broker with only a TLS listener and accounts; the tester's endpoint and the CA."""
    kind = request.param
    require_broker(kind)
    directory = tmp_path_factory.mktemp("tls")
    ca_file, cert_file, key_file = make_ca_and_server(directory)
    accounts = ensure_credentials(directory, ALL_TOPICS)
    if kind == "nats":
        yield from _nats_tls(directory, accounts, ca_file, cert_file, key_file)
        return
    (directory / "passwd").write_text("".join(
        mosquitto_password_line(a.username, a.password) + "\n" for a in accounts.values()))
    (directory / "acl").write_text(mosquitto_acl(accounts))
    os.chmod(directory / "passwd", 0o600)
    port = free_port()
    (directory / "mosquitto.conf").write_text("\n".join([
        f"listener {port} 127.0.0.1", f"cafile {ca_file}", f"certfile {cert_file}",
        f"keyfile {key_file}", "allow_anonymous false", f"password_file {directory / 'passwd'}",
        f"acl_file {directory / 'acl'}", "user root" if os.getuid() == 0 else "",
        "persistence false", "log_dest stdout", ""]))
    mosquitto = shutil.which("mosquitto")
    assert mosquitto is not None
    process = subprocess.Popen([mosquitto, "-c", str(directory / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        tester = accounts["tester"]
        yield MqttEndpoint("127.0.0.1", port, protocol="5", username=tester.username,
                           password=tester.password, tls=True, ca_file=str(ca_file)), ca_file
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _nats_tls(directory: Path, accounts: dict[str, Account], ca_file: Path, cert_file: Path,
              key_file: Path) -> Iterator[tuple[MqttEndpoint, Path]]:
    port = free_port()
    config = nats_config("127.0.0.1", port, directory, accounts, tls=(cert_file, key_file))
    (directory / "nats.conf").write_text(json.dumps(config))
    process = subprocess.Popen([nats_server_binary() or "nats-server", "-c",
                                str(directory / "nats.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        tester = accounts["tester"]
        yield MqttEndpoint("127.0.0.1", port, protocol="3.1.1", username=tester.username,
                           password=tester.password, tls=True, ca_file=str(ca_file)), ca_file
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)


@pytest.mark.parametrize("client", ["atmsim", "aiomqtt", "gmqtt"])
async def test_request_and_reply_over_tls(tls_broker: tuple[MqttEndpoint, Path],
                                          client: str) -> None:
    if client == "gmqtt":
        pytest.importorskip("gmqtt")
    endpoint = dataclasses.replace(tls_broker[0], client=client)

    async def echo(body: dict[str, object]) -> dict[str, object]:
        return {"id": body.get("id"), "result": "OK", "n": body.get("n")}

    async with MqttBus(endpoint, "server") as server, MqttBus(endpoint, "asker") as asker:
        server.serve("test/v1/tls", echo)
        await server.established(5)
        await asker.established(5)
        await asyncio.sleep(0.2)
        replies = await asyncio.gather(*(asker.request("test/v1/tls", {"n": n}, 5)
                                         for n in range(20)))
    assert [r["n"] for r in replies] == list(range(20))


async def test_an_untrusted_certificate_is_refused_in_one_line(
        tls_broker: tuple[MqttEndpoint, Path]) -> None:
    endpoint = dataclasses.replace(tls_broker[0], ca_file=None)  # the system's CAs only
    async with MqttBus(endpoint, "doubter") as bus:
        with pytest.raises(BusUnavailable) as refused:
            await bus.established(5)
    message = str(refused.value)
    assert "TLS" in message and "CERTIFICATE_VERIFY_FAILED" in message.upper().replace(" ", "_")
    assert endpoint.password is not None and endpoint.password not in message
    assert message.startswith("cannot connect to the MQTT broker mqtts://tester:***@127.0.0.1:")


def test_atmsim_up_over_mqtts_answers_an_inquiry(tls_broker: tuple[MqttEndpoint, Path],
                                                 tmp_path: Path) -> None:
    endpoint, ca_file = tls_broker
    switch, hsm = free_port(), free_port()
    url = endpoint.secret_url
    assert parse_mqtt_url_full(url).tls
    up = subprocess.Popen([sys.executable, "-m", "atmsim.shell.cli", "up", "--data-dir", str(tmp_path),
                           "--switch-port", str(switch), "--hsm-port", str(hsm), "--mqtt", url,
                           "--mqtt-ca", str(ca_file)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    banner = []
    try:
        assert up.stdout is not None
        for line in up.stdout:
            banner.append(line)
            if line.startswith("try:"):
                break
        result = subprocess.run([sys.executable, "-m", "atmsim.shell.cli", "inquire", "--pan",
                                 "5264220000100010", "--pin", "123456", "--switch",
                                 f"127.0.0.1:{switch}", "--data-dir", str(tmp_path)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, check=False)
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=15)
    text = "".join(banner) + rest
    assert result.returncode == 0, result.stdout + result.stderr + text
    assert f"broker  mqtts://tester:***@127.0.0.1:{endpoint.port}" in text
    assert endpoint.password is not None and endpoint.password not in text


async def test_oversize_messages_cost_a_server_nothing_on_either_protocol(
        tls_broker: tuple[MqttEndpoint, Path]) -> None:
    """This broker has no max_packet_size of its own: an MQTT 5 server is spared oversize
    messages by the limit it announced in CONNECT, an MQTT 3.1.1 one reads past them."""
    import aiomqtt

    endpoint = tls_broker[0]
    if endpoint.protocol != "5":
        pytest.skip("nats-server: MQTT 3.1.1 only, and it drops a sender over its max_payload")

    async def echo(body: dict[str, object]) -> dict[str, object]:
        return {"id": body.get("id"), "result": "OK"}

    servers = {protocol: MqttBus(dataclasses.replace(endpoint, protocol=protocol), "big")
               for protocol in ("5", "3.1.1")}
    async with servers["5"], servers["3.1.1"], MqttBus(endpoint, "asker") as asker:
        for protocol, bus in servers.items():
            bus.serve(f"test/v1/big/{protocol}", echo)
            await bus.established(5)
        await asker.established(5)
        connections = {p: b._connection for p, b in servers.items()}
        context = endpoint.ssl_context()
        async with aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                                  password=endpoint.password, tls_context=context) as sender:
            for n in range(10):
                for protocol in servers:
                    await sender.publish(f"test/v1/big/{protocol}", b"x" * (3 << 19) + bytes([n]),
                                         qos=1)
        for protocol in servers:
            reply = await asker.request(f"test/v1/big/{protocol}", {}, timeout=10)
            assert reply["result"] == "OK"
        assert {p: b._connection for p, b in servers.items()} == connections  # no reconnect
        v311_connection, v5_connection = connections["3.1.1"], connections["5"]
        assert v311_connection is not None and v5_connection is not None
        assert v311_connection.dropped_oversize == 10  # type: ignore[attr-defined]
        assert v5_connection.dropped_oversize == 0  # type: ignore[attr-defined]
