"""The ledger over MQTT, as the switch sees it: a real broker (amqtt and Mosquitto), the
ledger started by ``run_ledger``, and a separate bus client sending the requests of docs/ledger.md."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC, BadRequest, parse_request, run_ledger

BUDI_NIK, BUDI_KPJ = "3171011505850001", "10012345678"
ANDI_NIK, ANDI_KPJ = "3578031203880003", "13055500011"
DEWI_NIK, DEWI_KPJ = "5171026110920004", "14099900022"
WAYAN_NIK, WAYAN_KPJ = "5103011008700006", "09012300033"
RUDI_NIK = "6471052212800005"  # holds a card, is not a BPJS participant

REPLY_KEYS = {"id", "result", "kpj", "name", "status", "balance_sen", "currency", "as_of",
              "segment", "last_contribution"}


def _sum_of_rows(db: Path, kpj: str) -> int:
    with sqlite3.connect(db) as conn:
        paid_in = conn.execute("SELECT SUM(employer_sen + worker_sen) FROM contributions "
                               "WHERE kpj = ?", (kpj,)).fetchone()[0] or 0
        returns = conn.execute("SELECT SUM(amount_sen) FROM yearly_returns WHERE kpj = ?",
                               (kpj,)).fetchone()[0] or 0
        claims = conn.execute("SELECT SUM(amount_sen) FROM claims WHERE kpj = ?",
                              (kpj,)).fetchone()[0] or 0
    return int(paid_in + returns - claims)


async def test_participant_sees_own_balance(ask) -> None:
    reply = await ask(BUDI_NIK, BUDI_KPJ)

    assert set(reply) == REPLY_KEYS
    assert reply["result"] == "OK"
    assert reply["kpj"] == BUDI_KPJ
    assert reply["name"] == "Budi Santoso"
    assert reply["status"] == "AKTIF"
    assert reply["segment"] == "PU"
    assert type(reply["balance_sen"]) is int and reply["balance_sen"] > 0
    assert reply["currency"] == "IDR"
    assert reply["as_of"] == "2026-10-31"
    # September's contribution is posted on 12 October; October's not before November.
    assert reply["last_contribution"] == "2026-09"


async def test_inactive_participant_still_has_a_balance(ask) -> None:
    reply = await ask(DEWI_NIK, DEWI_KPJ)

    assert reply["result"] == "OK"
    assert reply["status"] == "NONAKTIF"
    assert reply["balance_sen"] > 0
    assert reply["last_contribution"] == "2022-08"


async def test_typed_kpj_of_the_card_holder_is_answered(ask) -> None:
    reply = await ask(ANDI_NIK, ANDI_KPJ)

    assert (reply["result"], reply["kpj"], reply["name"]) == ("OK", ANDI_KPJ, "Andi Wijaya")


async def test_kpj_of_someone_else_is_forbidden_and_reveals_nothing(ask) -> None:
    reply = await ask(ANDI_NIK, BUDI_KPJ)

    assert reply["result"] == "FORBIDDEN"
    assert reply["id"]
    assert {k: v for k, v in reply.items() if k not in ("id", "result")} == {
        k: None for k in REPLY_KEYS - {"id", "result"}}


async def test_without_kpj_the_nik_decides(ask) -> None:
    rudi = await ask(RUDI_NIK, None)
    budi = await ask(BUDI_NIK, None)

    assert rudi["result"] == "NOT_FOUND"
    assert rudi["balance_sen"] is None and rudi["name"] is None
    assert (budi["result"], budi["kpj"]) == ("OK", BUDI_KPJ)


async def test_unknown_kpj_is_not_found(ask) -> None:
    reply = await ask(BUDI_NIK, "19999999999")

    assert reply["result"] == "NOT_FOUND"
    assert reply["kpj"] is None


async def test_answered_balance_is_the_sum_of_the_stored_rows(ask, ledger_db: Path) -> None:
    budi = await ask(BUDI_NIK, BUDI_KPJ)
    wayan = await ask(WAYAN_NIK, WAYAN_KPJ)  # his history includes a claim

    assert budi["balance_sen"] == _sum_of_rows(ledger_db, BUDI_KPJ)
    assert wayan["balance_sen"] == _sum_of_rows(ledger_db, WAYAN_KPJ)
    assert wayan["balance_sen"] > budi["balance_sen"]


@pytest.mark.parametrize(("nik", "kpj", "extra", "reason_mentions"), [
    (..., BUDI_KPJ, {}, "nik"),
    (BUDI_NIK, "1001234567", {}, "11 digits"),
    (BUDI_NIK, 10012345678, {}, "KPJ"),
    ("3171013205850001", BUDI_KPJ, {}, "birth date"),
    (BUDI_NIK, BUDI_KPJ, {"channel": ...}, "channel"),
    (BUDI_NIK, BUDI_KPJ, {"requested_at": "yesterday"}, "requested_at"),
])
async def test_malformed_request_gets_an_error_reply(ask, nik, kpj, extra,
                                                     reason_mentions) -> None:
    reply = await ask(nik, kpj, **extra)

    assert reply["result"] == "ERROR"
    assert reply["id"]
    assert reply["reason"].startswith("bad request:")
    assert reason_mentions in reply["reason"]
    assert reply["balance_sen"] is None and reply["name"] is None


async def test_service_keeps_answering_after_garbage(ask, broker: EmbeddedBroker) -> None:
    async with aiomqtt.Client(broker.endpoint.host, broker.endpoint.port,
                              username=broker.endpoint.username,
                              password=broker.endpoint.password,
                              protocol=aiomqtt.ProtocolVersion.V311) as raw:
        await raw.publish(BALANCE_REQUEST_TOPIC, b"not json {", qos=1)
        await raw.publish(BALANCE_REQUEST_TOPIC, b"[1, 2, 3]", qos=1)
        await raw.publish(BALANCE_REQUEST_TOPIC, json.dumps({"id": "x", "nik": 5}), qos=1)
        await raw.publish(BALANCE_REQUEST_TOPIC, b"\xff\xfe", qos=1)
    error = await ask(..., None)

    reply = await ask(BUDI_NIK, BUDI_KPJ)

    assert error["result"] == "ERROR"
    assert reply["result"] == "OK"


async def test_several_workers_answer_each_request_once(broker: EmbeddedBroker,
                                                        tmp_path: Path) -> None:
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(run_ledger(tmp_path / "l.db", broker.endpoint, workers=3,
                                             stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 15)
    replies: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.endpoint.host, broker.endpoint.port,
                              username=broker.endpoint.username,
                              password=broker.endpoint.password,
                              protocol=aiomqtt.ProtocolVersion.V311) as raw:
        await raw.subscribe("atmsim/v1/reply/tester/ledger-test", qos=1)
        for n in range(20):
            await raw.publish(BALANCE_REQUEST_TOPIC, json.dumps({
                "id": f"r{n}", "reply_to": "atmsim/v1/reply/tester/ledger-test", "nik": BUDI_NIK,
                "kpj": BUDI_KPJ, "channel": "ATM", "terminal_id": "BNI00002",
                "requested_at": "2026-11-02T09:00:00+07:00"}), qos=1)
        async with asyncio.timeout(10):
            async for message in raw.messages:
                replies.append(json.loads(message.payload))  # type: ignore[arg-type]
                if len(replies) == 20:
                    break
        try:
            async with asyncio.timeout(0.3):  # a duplicate answer would arrive by now
                async for message in raw.messages:
                    replies.append(json.loads(message.payload))  # type: ignore[arg-type]
        except TimeoutError:
            pass
    stop.set()
    await asyncio.wait_for(service, 10)

    assert sorted(r["id"] for r in replies) == sorted(f"r{n}" for n in range(20))
    assert {r["result"] for r in replies} == {"OK"}


async def test_logs_never_show_a_nik_or_a_name(ask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="atmsim.ledger"):
        await ask(ANDI_NIK, BUDI_KPJ)  # FORBIDDEN is logged for audit
        await ask(BUDI_NIK, BUDI_KPJ)
        await ask("3171013205850001", BUDI_KPJ)  # refused NIK

    logged = caplog.text
    assert "317101******0001" in logged or "357803******0003" in logged  # masked, but there
    for secret in (ANDI_NIK, BUDI_NIK, "3171013205850001", "Andi", "Budi", "Santoso"):
        assert secret not in logged


def test_request_fields_are_checked_without_a_broker() -> None:
    good = {"id": "1", "reply_to": "t", "nik": BUDI_NIK, "kpj": BUDI_KPJ, "channel": "ATM",
            "terminal_id": "BNI00001", "requested_at": "2026-11-02T09:00:00Z"}

    request = parse_request(good)

    assert (request.nik.value, request.kpj and request.kpj.value) == (BUDI_NIK, BUDI_KPJ)
    for key in ("id", "reply_to", "nik", "kpj", "channel", "terminal_id", "requested_at"):
        with pytest.raises(BadRequest, match=f"^{key}: missing$"):
            parse_request({k: v for k, v in good.items() if k != key})
