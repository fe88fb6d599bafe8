"""Masked transaction events on MQTT, and one data directory per stack."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import aiomqtt

from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.shell.stack import Stack
from tests.e2e.atm import PINPAD, card, inquire, json_messages, link_to
from tests.e2e.conftest import stack_settings


async def test_each_finished_transaction_is_published_masked(stack: Stack) -> None:
    assert stack.endpoint is not None
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    protocol = (aiomqtt.ProtocolVersion.V311 if stack.endpoint.protocol == "3.1.1"
                else aiomqtt.ProtocolVersion.V5)
    async with aiomqtt.Client(stack.endpoint.host, stack.endpoint.port, protocol=protocol,
                              username=stack.endpoint.username,
                              password=stack.endpoint.password,
                              socket_options=nodelay) as monitor:
        await monitor.subscribe("atmsim/v1/events/tx", qos=1)
        async with link_to(stack) as link:
            await inquire(link, card("Budi"))
            await inquire(link, card("Budi"), pin="000009")
        events = await json_messages(monitor, 2)
    by_code = {e["response_code"]: e for e in events}
    assert set(by_code) == {"00", "55"}
    approved = by_code["00"]
    assert approved["pan"] == "526422******0010"
    assert (approved["terminal_id"], approved["mti"], approved["processing_code"]) == (
        "BNI00001", "0200", "310000")
    assert approved["latency_ms"] > 0
    raw = json.dumps(events)
    assert "5264220000100010" not in raw
    assert PINPAD.encrypt_pin(card("Budi").pin, card("Budi").pan) not in raw
    assert DEMO_KEYS["TPK"].clear_hex not in raw


async def test_two_stacks_side_by_side_keep_their_own_state(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    async with Stack(stack_settings(first_dir, broker_kind="amqtt")) as first, \
            Stack(stack_settings(second_dir, broker_kind="amqtt")) as second:
        siti = card("Siti")
        async with link_to(first) as link:
            codes = [(await inquire(link, siti, pin="000000"))[1].response_code
                     for _ in range(3)]
        assert codes == ["55", "55", "75"]  # blocked in the first stack only
        async with link_to(second) as link:
            _, result = await inquire(link, siti)
        assert result.response_code == "00"
    for data_dir in (first_dir, second_dir):
        assert (data_dir / "switch" / "cards.db").exists()
        assert (data_dir / "ledger" / "ledger.db").exists()
