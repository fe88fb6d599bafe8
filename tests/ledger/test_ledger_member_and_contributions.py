"""Membership checks and contribution histories over MQTT, as the JMO/SSO portal asks
them: a real broker (amqtt and Mosquitto), the ledger on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.identity import parse_nik
from bpjs_ledger.service import (
    BALANCE_REQUEST_TOPIC,
    CONTRIBUTIONS_REQUEST_TOPIC,
    MEMBER_REQUEST_TOPIC,
)
from tests.ledger.test_ledger_statement_and_posting import ledger_on

BUDI, SITI, ANDI, DEWI, WAYAN = DEMO_PARTICIPANTS
MEMBER_KEYS = {"id", "result", "kpj", "name", "status", "segment", "member_since"}
CONTRIBUTION_KEYS = {"period", "wage_sen", "employer_sen", "worker_sen", "jht_sen",
                     "jp_employer_sen", "jp_worker_sen", "paid_on", "posted_on"}


@pytest.fixture
async def ledger(broker: EmbeddedBroker, db_target: Path | str):
    async with ledger_on(broker, db_target):
        yield db_target


def member(who=BUDI, **fields: Any) -> dict[str, Any]:
    body = {"nik": who.nik, "birth_date": parse_nik(who.nik).birth_date.isoformat(), "name": who.name,
            "kpj": None, "channel": "JMO"}
    body.update(fields)
    return body




def inquiry(nik: str, kpj: str | None) -> dict[str, Any]:
    return {"nik": nik, "kpj": kpj, "channel": "JMO", "terminal_id": "jmo-portal",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}


async def test_a_membership_check_confirms_only_when_nik_birth_date_and_name_match(
        client: MqttBus, ledger: Path | str) -> None:
    found = await client.request(MEMBER_REQUEST_TOPIC, member(SITI, name="siti  RAHAYU"), 5)
    with_kpj = await client.request(MEMBER_REQUEST_TOPIC, member(BUDI, kpj=BUDI.kpj), 5)
    wrong_birth = await client.request(MEMBER_REQUEST_TOPIC,
                                       member(BUDI, birth_date="1985-05-16"), 5)
    wrong_name = await client.request(MEMBER_REQUEST_TOPIC, member(BUDI, name="Budi Santosa"), 5)
    wrong_kpj = await client.request(MEMBER_REQUEST_TOPIC, member(BUDI, kpj=SITI.kpj), 5)
    nobody = await client.request(MEMBER_REQUEST_TOPIC,
                                  member(BUDI, nik="6471052212800005", birth_date="1980-12-22",
                                         name="Rudi Hartono"), 5)

    assert set(found) == MEMBER_KEYS
    assert (found["result"], found["kpj"], found["name"], found["status"], found["segment"]) == (
        "OK", SITI.kpj, "Siti Rahayu", "AKTIF", "PU")
    assert with_kpj["result"] == "OK" and with_kpj["kpj"] == BUDI.kpj
    # every mismatch is one answer that says nothing about which part was right
    for refused in (wrong_birth, wrong_name, wrong_kpj, nobody):
        assert {k: v for k, v in refused.items() if k != "id"} == {
            "result": "NO_MATCH", **dict.fromkeys(MEMBER_KEYS - {"id", "result"})}


async def test_a_malformed_membership_check_gets_an_error_naming_the_field(
        client: MqttBus, ledger: Path | str) -> None:
    bad_date = await client.request(MEMBER_REQUEST_TOPIC, member(birth_date="15-05-1985"), 5)
    bad_nik = await client.request(MEMBER_REQUEST_TOPIC, member(nik="31710115"), 5)
    sqlish = await client.request(MEMBER_REQUEST_TOPIC, member(name="x' OR '1'='1"), 5)
    long_name = await client.request(MEMBER_REQUEST_TOPIC, member(name="A" * 101), 5)

    assert bad_date["result"] == "ERROR" and "birth_date" in bad_date["reason"]
    assert bad_nik["result"] == "ERROR" and "16 digits" in bad_nik["reason"]
    assert "31710115" not in bad_nik["reason"]
    assert sqlish["result"] == "NO_MATCH"
    assert long_name["result"] == "ERROR" and "name" in long_name["reason"]


async def test_the_contribution_history_is_the_participants_own_newest_first(
        client: MqttBus, ledger: Path | str) -> None:
    mine = await client.request(CONTRIBUTIONS_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)
    balance = await client.request(BALANCE_REQUEST_TOPIC, inquiry(BUDI.nik, BUDI.kpj), 5)
    others = await client.request(CONTRIBUTIONS_REQUEST_TOPIC, inquiry(ANDI.nik, BUDI.kpj), 5)

    assert mine["result"] == "OK" and mine["kpj"] == BUDI.kpj
    rows = mine["contributions"]
    assert rows and all(set(r) == CONTRIBUTION_KEYS for r in rows)
    assert [r["period"] for r in rows] == sorted((r["period"] for r in rows), reverse=True)
    assert rows[0]["period"] == balance["last_contribution"]
    assert all(r["jht_sen"] == r["employer_sen"] + r["worker_sen"] for r in rows)
    assert all(type(r[k]) is int for r in rows for k in CONTRIBUTION_KEYS if k.endswith("_sen"))
    assert others == {"id": others["id"], "result": "FORBIDDEN", "kpj": None,
                      "contributions": None}
