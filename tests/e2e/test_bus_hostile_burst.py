"""A burst of hostile messages on the bus costs the steady ATM nothing.

An insider (the switch's own account: it may publish balance requests) sends 1,000
messages at the ledger while an ATM runs inquiries one after another: oversize (over the
1 MiB limit, on amqtt, which relays them; Mosquitto and nats-server disconnect such a
sender themselves),
reply_to topics that would make the broker drop the ledger (#, +, NUL, over 256 bytes) or
lie outside the reply prefix, payloads that are not JSON, JSON that is not an object,
fields of the wrong type. Afterwards: no 91, every inquiry 00, and neither the ledger nor
the switch has lost its connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiomqtt
import pytest

from tests.e2e.atm import card, inquire, link_to
from tests.e2e.secured import BALANCE, client, secured_stack

HOSTILE = 1000
OVERSIZE = b'{"id": "big", "pad": "' + b"x" * (3 << 19) + b'"}'  # 1.5 MiB


def hostile_messages(kind: str) -> list[bytes]:
    good = {"id": "h", "nik": "3174012345678901", "kpj": None, "channel": "ATM",
            "terminal_id": "BNI00001"}
    kinds: list[bytes] = [
        *(json.dumps({**good, "id": f"h{n}", "reply_to": r}).encode() for n, r in enumerate(
            ["#", "a/+/b", "atmsim/v1/reply/x\x00y", "atmsim/v1/reply/" + "y" * 300,
             "atmsim/v1/events/tx", "atmsim/v1/reply//z", "atmsim/v1/reply/switch/+"])),
        b"not json {", b"\xff\xfe\x00", b"[1, 2, 3]", b"null", b'"a string"',
        json.dumps({**good, "nik": 5, "reply_to": "atmsim/v1/reply/switch/x"}).encode(),
        json.dumps({**good, "kpj": ["x"], "reply_to": "atmsim/v1/reply/switch/x"}).encode(),
        json.dumps({**good, "id": {"a": 1}, "reply_to": 7}).encode(),
    ]
    if kind == "amqtt":
        kinds.append(OVERSIZE)
    return [kinds[n % len(kinds)] for n in range(HOSTILE)]


@pytest.mark.parametrize("kind", ["nats", "amqtt", "mosquitto"])
async def test_a_hostile_burst_costs_the_atm_no_91(kind: str, data_dir: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="atmsim.bus")
    async with secured_stack(kind, data_dir) as (stack, accounts), link_to(stack) as link:
        codes: list[str] = []
        burst_done = asyncio.Event()

        async def steady_atm() -> None:
            while not burst_done.is_set() or len(codes) < 20:
                _, result = await inquire(link, card("Budi"))
                codes.append(result.response_code)

        atm = asyncio.create_task(steady_atm())
        messages = hostile_messages(kind)
        async with client(stack, kind, accounts["switch"], timeout=60) as insider:
            for message in messages:
                await insider.publish(BALANCE, message, qos=1)
        if kind in ("mosquitto", "nats"):
            # Mosquitto relays nothing over its max_packet_size, nats-server nothing over
            # its max_payload (both 1 MiB, as atmsim configures them): they drop the sender.
            with pytest.raises(aiomqtt.MqttError):
                async with client(stack, kind, accounts["switch"], timeout=3) as insider:
                    await insider.publish(BALANCE, OVERSIZE, qos=1)
        await asyncio.sleep(1.0)  # the ledger works through what it was sent
        burst_done.set()
        await asyncio.wait_for(atm, 60)
        assert stack._switch_bus is not None and stack._switch_bus.connected
    connections = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("connected to MQTT broker")]
    lost = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()
            or "lost" in r.getMessage()]
    oversize = sum(m.startswith(b'{"id": "big"') for m in messages)
    print(f"\n{kind}: {len(messages)} hostile messages ({oversize} oversize) sent, "
          f"{len(codes)} ATM inquiries, {codes.count('91')} answered 91")
    assert codes.count("91") == 0 and set(codes) == {"00"}, codes
    # One connection each for the switch and the ledger: nobody was knocked off.
    assert sum("atmsim-ledger-" in m for m in connections) == 1, connections
    assert sum("atmsim-switch-" in m for m in connections) == 1, connections
    assert lost == []
    if oversize:  # they did reach the ledger, which read past them
        assert any(r.getMessage().startswith("dropped a message of") for r in caplog.records)
