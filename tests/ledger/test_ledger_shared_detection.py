"""Shared subscriptions as the broker says: N ledger workers split the requests on a
broker that offers them (Mosquitto's MQTT 5 CONNACK), and on one that cannot say (amqtt,
MQTT 3.1.1) a single worker answers on the plain topic, with a one-line warning."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import aiomqtt
import pytest

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC, run_ledger
from tests.ledger.conftest import AS_OF


async def test_workers_follow_what_the_broker_offers(broker: EmbeddedBroker, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="atmsim.ledger")
    # Nothing forced: protocol and shared subscriptions as the broker answers.
    endpoint = dataclasses.replace(broker.endpoint, protocol="auto", shared_subscriptions=None)
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(run_ledger(tmp_path / "l.db", endpoint, workers=3, stop=stop,
                                             ready=ready, demo_as_of=AS_OF))
    await asyncio.wait_for(ready.wait(), 20)
    reply_to = "atmsim/v1/reply/tester/shared-detection"
    try:
        async with aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                                  password=endpoint.password,
                                  protocol=aiomqtt.ProtocolVersion.V311) as raw:
            await raw.subscribe(reply_to, qos=1)
            budi = DEMO_PARTICIPANTS[0]
            for n in range(20):
                await raw.publish(BALANCE_REQUEST_TOPIC, json.dumps({
                    "id": f"s{n}", "reply_to": reply_to, "nik": budi.nik, "kpj": budi.kpj,
                    "channel": "ATM", "terminal_id": "BNI00001",
                    "requested_at": "2026-11-02T09:00:00+07:00"}), qos=1)
            answers: list[str] = []
            try:
                async with asyncio.timeout(3):
                    async for message in raw.messages:
                        answers.append(json.loads(message.payload)["id"])  # type: ignore[arg-type]
            except TimeoutError:
                pass
    finally:
        stop.set()
        await asyncio.wait_for(service, 10)
    # Each request answered once: by one of three sharing workers, or by the only one.
    assert sorted(answers) == sorted(f"s{n}" for n in range(20))
    warnings = [r.getMessage() for r in caplog.records if "shared subscriptions" in r.getMessage()]
    if broker.kind in ("nats", "amqtt"):
        assert len(warnings) == 1 and "running 1 ledger worker, not 3" in warnings[0]
    else:
        assert warnings == []
