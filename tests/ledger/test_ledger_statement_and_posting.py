"""Statements and contribution posts over MQTT, as a channel and an employer see them: a
real broker (amqtt and Mosquitto), the ledger started by ``run_ledger`` on a real database
(a SQLite file and PostgreSQL), and a separate bus client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.db import open_database
from bpjs_ledger.service import (
    BALANCE_REQUEST_TOPIC,
    CONTRIBUTION_POST_TOPIC,
    STATEMENT_REQUEST_TOPIC,
    run_ledger,
)
from tests.ledger.conftest import AS_OF, POSTING_DAY, postgres_base_url, postgres_schema

BUDI, SITI, ANDI, DEWI, WAYAN = DEMO_PARTICIPANTS
RUDI_NIK = "6471052212800005"
STATEMENT_KEYS = {"id", "result", "kpj", "name", "status", "segment", "member_since",
                  "currency", "as_of", "balance_sen", "last_contribution", "years"}
YEAR_KEYS = {"year", "opening_sen", "contributions_sen", "returns_sen", "claims_sen",
             "closing_sen", "return_rate_percent"}
POST_KEYS = {"id", "result", "key", "duplicate", "reason", "kpj", "period", "wage_sen",
             "employer_sen", "worker_sen", "jht_sen", "jp_employer_sen", "jp_worker_sen",
             "paid_on", "posted_on"}


@asynccontextmanager
async def ledger_on(broker: EmbeddedBroker, target: Path | str) -> AsyncIterator[None]:
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(run_ledger(target, broker.endpoint, stop=stop, ready=ready,
                                             demo_as_of=AS_OF, today=lambda: POSTING_DAY))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({service, waiter}, timeout=20,
                                 return_when=asyncio.FIRST_COMPLETED)
    if service in done:
        waiter.cancel()
        service.result()
    assert waiter in done, "the ledger did not connect within 20 s"
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(service, 10)


@pytest.fixture
async def ledger(broker: EmbeddedBroker, db_target: Path | str) -> AsyncIterator[Path | str]:
    async with ledger_on(broker, db_target):
        yield db_target


def inquiry(nik: str, kpj: str | None) -> dict[str, Any]:
    return {"nik": nik, "kpj": kpj, "channel": "JMO", "terminal_id": "JMO-ANDROID",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}


def contribution(post_key: str, who=BUDI, **fields: Any) -> dict[str, Any]:
    body = {"key": post_key, "kpj": who.kpj, "npp": who.employer_npp, "period": "2026-10",
            "wage_sen": 6_000_000_00, "paid_on": "2026-11-10"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


async def test_statement_closes_at_the_balance_for_every_demo_participant(
        client: MqttBus, ledger: Path | str) -> None:
    for who in DEMO_PARTICIPANTS:
        statement = await client.request(STATEMENT_REQUEST_TOPIC, inquiry(who.nik, who.kpj), 5)
        balance = await client.request(BALANCE_REQUEST_TOPIC, inquiry(who.nik, who.kpj), 5)

        assert set(statement) == STATEMENT_KEYS and statement["result"] == "OK"
        years = statement["years"]
        assert all(set(y) == YEAR_KEYS for y in years)
        assert all(type(y[k]) is int for y in years for k in YEAR_KEYS - {"return_rate_percent"})
        assert years[0]["year"] == who.member_since.year and years[0]["opening_sen"] == 0
        assert years[-1]["return_rate_percent"] is None  # 2026 is credited on 31 December
        for y in years:
            assert y["closing_sen"] == (y["opening_sen"] + y["contributions_sen"]
                                        + y["returns_sen"] - y["claims_sen"])
        assert years[-1]["closing_sen"] == statement["balance_sen"] == balance["balance_sen"]
        assert (statement["as_of"], statement["kpj"]) == (AS_OF.isoformat(), who.kpj)


async def test_statement_of_someone_else_is_forbidden_and_reveals_nothing(
        client: MqttBus, ledger: Path | str) -> None:
    forbidden = await client.request(STATEMENT_REQUEST_TOPIC, inquiry(ANDI.nik, BUDI.kpj), 5)
    nobody = await client.request(STATEMENT_REQUEST_TOPIC, inquiry(RUDI_NIK, None), 5)
    refused = await client.request(STATEMENT_REQUEST_TOPIC,
                                   {**inquiry(ANDI.nik, None), "nik": "317101"}, 5)

    assert forbidden["result"] == "FORBIDDEN" and nobody["result"] == "NOT_FOUND"
    for reply in (forbidden, nobody):
        assert {k: v for k, v in reply.items() if k not in ("id", "result")} == {
            k: None for k in STATEMENT_KEYS - {"id", "result"}}
    assert refused["result"] == "ERROR" and refused["reason"].startswith("bad request: ")
    assert "16 digits" in refused["reason"] and refused["years"] is None


async def test_a_post_is_acknowledged_after_its_commit_and_counted_once(
        client: MqttBus, ledger: Path | str) -> None:
    before = await client.request(BALANCE_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)

    first = await client.request(CONTRIBUTION_POST_TOPIC, contribution("budi-2026-10"), 5)
    committed = _posted_keys(ledger)  # read by another connection right after the ack
    replayed = await client.request(CONTRIBUTION_POST_TOPIC, contribution("budi-2026-10"), 5)
    after = await client.request(BALANCE_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)

    assert set(first) == POST_KEYS
    assert (first["result"], first["duplicate"], first["reason"]) == ("POSTED", False, None)
    assert (first["jht_sen"], first["employer_sen"], first["worker_sen"]) == (
        342_000_00, 222_000_00, 120_000_00)
    assert (first["jp_employer_sen"], first["jp_worker_sen"]) == (120_000_00, 60_000_00)
    assert first["posted_on"] == POSTING_DAY.isoformat()
    assert committed == ["budi-2026-10"]
    assert (replayed["result"], replayed["duplicate"]) == ("POSTED", True)
    assert {k: v for k, v in replayed.items() if k not in ("id", "duplicate")} == {
        k: v for k, v in first.items() if k not in ("id", "duplicate")}
    assert after["balance_sen"] == before["balance_sen"] + 342_000_00
    assert (after["as_of"], after["last_contribution"]) == (POSTING_DAY.isoformat(), "2026-10")


def _posted_keys(target: Path | str) -> list[str]:
    db = open_database(target)
    try:
        return [str(row[0]) for row in db.query("SELECT post_key FROM contribution_posts")]
    finally:
        db.close()


async def test_a_post_that_breaks_a_rule_is_answered_with_the_reason(
        client: MqttBus, ledger: Path | str) -> None:
    wrong_employer = await client.request(CONTRIBUTION_POST_TOPIC,
                                          contribution("x1", npp=SITI.employer_npp), 5)
    inactive = await client.request(CONTRIBUTION_POST_TOPIC, contribution("x2", who=DEWI), 5)
    unknown = await client.request(CONTRIBUTION_POST_TOPIC,
                                   contribution("x3", kpj="19999999999"), 5)

    assert (wrong_employer["result"], wrong_employer["jht_sen"]) == ("FORBIDDEN", None)
    assert (inactive["result"], inactive["reason"]) == ("REJECTED",
                                                        "the participant is NONAKTIF")
    assert unknown["result"] == "NOT_FOUND"
    assert _posted_keys(ledger) == []


MALFORMED_POSTS = [
    ({"wage_sen": 6_000_000.5}, "wage_sen: must be an integer"),
    ({"wage_sen": True}, "wage_sen: must be an integer"),
    ({"wage_sen": "600000000"}, "wage_sen: must be an integer"),
    ({"wage_sen": 0}, "wage_sen: must be between"),
    ({"wage_sen": 10**15}, "wage_sen: must be between"),
    ({"key": ...}, "key: missing"),
    ({"key": "k" * 129}, "key: longer than 128"),
    ({"period": "2026-13"}, "period: must be YYYY-MM"),
    ({"period": "2026-1"}, "period: must be YYYY-MM"),
    ({"paid_on": "10-11-2026"}, "paid_on: must be a date"),
    ({"npp": "1001208"}, "npp: must be 8 digits"),
    ({"kpj": "1001234567"}, "11 digits"),
    ({"reply_to": ...}, None),  # cannot be answered at all: dropped, and not posted
]


async def test_a_malformed_post_gets_an_error_reply_and_changes_nothing(
        amqtt_broker: EmbeddedBroker, tmp_path: Path) -> None:
    # Reading the post is the same whatever the broker or database: one of each suffices.
    async with ledger_on(amqtt_broker, tmp_path / "l.db"), MqttBus(
            amqtt_broker.endpoint, "poster") as bus:
        assert await bus.wait_connected(10)
        for fields, mentions in MALFORMED_POSTS:
            if mentions is None:
                await bus.publish(CONTRIBUTION_POST_TOPIC, contribution("unanswerable",
                                                                        **fields))
                continue
            reply = await bus.request(CONTRIBUTION_POST_TOPIC, contribution("bad", **fields), 5)
            assert reply["result"] == "ERROR", fields
            assert reply["reason"].startswith("bad request: "), reply["reason"]
            assert mentions in reply["reason"], (mentions, reply["reason"])
            assert reply["jht_sen"] is None and reply["duplicate"] is False
        good = await bus.request(CONTRIBUTION_POST_TOPIC, contribution("good"), 5)

    assert good["result"] == "POSTED"
    assert _posted_keys(tmp_path / "l.db") == ["good"]


@pytest.mark.mosquitto
async def test_a_database_that_fails_gets_error_replies_and_the_worker_recovers(
        mosquitto_broker: EmbeddedBroker) -> None:
    import psycopg

    with postgres_schema(postgres_base_url()) as (url, name):
        async with ledger_on(mosquitto_broker, url), MqttBus(mosquitto_broker.endpoint,
                                                            "pg-test") as bus:
            assert await bus.wait_connected(10)
            ok = await bus.request(BALANCE_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)
            with psycopg.connect(postgres_base_url(), autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s", (f"atmsim-{name}",)).fetchone()
            failed = await bus.request(BALANCE_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)
            posted = await bus.request(CONTRIBUTION_POST_TOPIC, contribution("after"), 5)
            replayed = await bus.request(CONTRIBUTION_POST_TOPIC, contribution("after"), 5)
            recovered = await bus.request(BALANCE_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)

    assert ok["result"] == "OK" and killed == (1,)
    # The request that found the connection gone: a clear ERROR, not a hang or a crash.
    assert (failed["result"], failed["reason"]) == (
        "ERROR", "internal error: ledger storage unavailable")
    # The worker opened a new connection by itself and carries on.
    assert (posted["result"], replayed["duplicate"]) == ("POSTED", True)
    assert recovered["balance_sen"] == ok["balance_sen"] + 342_000_00


async def test_logs_never_show_a_nik_or_a_name(client: MqttBus, ledger: Path | str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="atmsim.ledger"):
        await client.request(STATEMENT_REQUEST_TOPIC, inquiry(ANDI.nik, BUDI.kpj), 5)
        await client.request(STATEMENT_REQUEST_TOPIC, inquiry(WAYAN.nik, None), 5)
        await client.request(CONTRIBUTION_POST_TOPIC, contribution("log-1", who=WAYAN), 5)
        await client.request(CONTRIBUTION_POST_TOPIC, contribution("log-2", npp="99999999"), 5)

    logged = caplog.text
    assert "contribution post" in logged and "forbidden" in logged  # there is a trail
    for secret in (ANDI.nik, WAYAN.nik, BUDI.nik, "Andi", "Wayan", "Sudarma", "Budi"):
        assert secret not in logged
