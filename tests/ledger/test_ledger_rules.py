"""``atmsim ledger --rules FILE`` over a real broker: an ERROR reply, no reply, a delay,
by request type, KPJ, channel and field regex; a request no rule matches is answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from atmsim.kernel.bus import BusTimeout, MqttBus
from atmsim.kernel.rules import LEDGER_SCHEMA, RuleBook, parse_rules
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC, STATEMENT_REQUEST_TOPIC, run_ledger
from tests.ledger.conftest import AS_OF

BUDI_NIK, BUDI_KPJ = "3171011505850001", "10012345678"
ANDI_NIK, ANDI_KPJ = "3578031203880003", "13055500011"

RULES = """
rules:
  - {name: Budi's balance fails, match: {type: balance, kpj: "10012345678"},
     error: "internal error: ledger down by rule"}
  - {name: mobile unanswered, match: {channel: MOBILE}, action: no_reply}
  - {name: slow terminal, match: {fields: {terminal_id: "^BNI0009"}}, delay: 0.5}
"""


@pytest.fixture
async def client(amqtt_broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[MqttBus]:
    rules = RuleBook(LEDGER_SCHEMA, rules=parse_rules(RULES, LEDGER_SCHEMA))
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(run_ledger(
        tmp_path / "ledger.db", amqtt_broker.endpoint, stop=stop, ready=ready,
        demo_as_of=AS_OF, rules=rules))
    await asyncio.wait_for(ready.wait(), 15)
    async with MqttBus(amqtt_broker.endpoint, "ledger-rules-client") as bus:
        assert await bus.wait_connected(10)
        yield bus
    stop.set()
    await asyncio.wait_for(service, 10)


def _request(nik: str, kpj: str | None, **fields: Any) -> dict[str, Any]:
    return {"nik": nik, "kpj": kpj, "channel": "ATM", "terminal_id": "BNI00001",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"), **fields}


async def test_error_reply_by_type_and_kpj(client: MqttBus) -> None:
    reply = await client.request(BALANCE_REQUEST_TOPIC, _request(BUDI_NIK, BUDI_KPJ), timeout=5)
    assert (reply["result"], reply["reason"]) == ("ERROR", "internal error: ledger down by rule")
    assert reply["kpj"] is None


async def test_a_request_no_rule_matches_is_answered(client: MqttBus) -> None:
    other_type = await client.request(STATEMENT_REQUEST_TOPIC, _request(BUDI_NIK, BUDI_KPJ),
                                      timeout=5)
    other_kpj = await client.request(BALANCE_REQUEST_TOPIC, _request(ANDI_NIK, ANDI_KPJ),
                                     timeout=5)
    assert other_type["result"] == "OK" and other_kpj["result"] == "OK"


async def test_no_reply_by_channel(client: MqttBus) -> None:
    with pytest.raises(BusTimeout):
        await client.request(BALANCE_REQUEST_TOPIC,
                             _request(ANDI_NIK, ANDI_KPJ, channel="MOBILE"), timeout=1.5)


async def test_delay_by_field_regex_then_the_usual_reply(client: MqttBus) -> None:
    started = time.monotonic()
    reply = await client.request(BALANCE_REQUEST_TOPIC,
                                 _request(ANDI_NIK, ANDI_KPJ, terminal_id="BNI00095"), timeout=5)
    assert reply["result"] == "OK"
    assert time.monotonic() - started >= 0.5
