"""Complaints (e-Form pengaduan) on both database engines, filed through the bot and over
the ledger's MQTT contract; and the member-service topics' refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from atmsim.kernel.bus import BusError, MqttBus
from bpjs_ledger.store import LedgerStore
from tests.ledger.conftest import postgres_base_url, postgres_schema
from tests.whatsapp.conftest import KEYS, PHONE_NUMBER_ID, start_backend, start_whatsapp
from whatsapp_sim.phone import Phone

COMPLAINT = "bpjs/jht/v1/complaint/post"
MEMBERSHIP = "bpjs/jht/v1/membership/req"
BSU = "bpjs/jht/v1/bsu/req"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    with postgres_schema(postgres_base_url()) as (url, _):
        yield url


@pytest.fixture
async def parts(db: str, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    backend = await start_backend(tmp_path / "data", db)
    whatsapp = await start_whatsapp(backend)
    try:
        yield backend, whatsapp
    finally:
        await whatsapp.close()
        await backend.close()


def envelope(**fields: Any) -> dict[str, Any]:
    return {"channel": "whatsapp", "terminal_id": "WA-TEST",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"), **fields}


async def test_a_complaint_is_stored_once_with_its_ticket(parts, db: str) -> None:
    backend, whatsapp = parts
    phone = Phone(whatsapp.webhook_url, "6281200000201", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    for step, kind in (("m_complaint", "list_reply"), ("cat_LAYANAN", "list_reply")):
        assert (await phone.pick(step, kind=kind)).status_code == 200
    text = "Antrean di kantor cabang lama; SELECT * FROM participants WHERE '1'='1"
    await phone.say(text)
    await phone.pick("skip", kind="button_reply")
    await phone.pick("send", kind="button_reply")
    await phone.close()
    filed = whatsapp.outbox.of("6281200000201")[-2].body["text"]["body"]
    ticket = filed.split("nomor tiket ")[1].split(".")[0]

    async with MqttBus(backend.broker.endpoint_for("whatsapp"), "wa-direct") as bus:
        assert await bus.wait_connected(10)
        post = envelope(key="wamid.same", contact="6281200000202", nik=None, kpj=None,
                        category="IURAN", text="Iuran Oktober belum tercatat")
        first = await bus.request(COMPLAINT, post, 5)
        again = await bus.request(COMPLAINT, post, 5)
        bad = await bus.request(COMPLAINT, {**post, "key": "k2", "category": "DROP TABLE"}, 5)
        empty = await bus.request(COMPLAINT, {**post, "key": "k3", "text": "   "}, 5)

    assert first["result"] == "FILED" and first["duplicate"] is False
    assert again == {**first, "id": again["id"], "duplicate": True}
    assert bad["result"] == "ERROR" and bad["reason"].startswith("bad request: category")
    assert empty["result"] == "ERROR"
    with LedgerStore(db, seed_demo=False) as store:
        rows = store.db.query("SELECT ticket, category, body, nik FROM complaints ORDER BY id")
    assert [tuple(r) for r in rows] == [(ticket, "LAYANAN", text, None),
                                        (first["ticket"], "IURAN",
                                         "Iuran Oktober belum tercatat", None)]


async def test_member_services_refuse_what_breaks_the_contract(parts) -> None:
    backend, _ = parts
    async with MqttBus(backend.broker.endpoint_for("whatsapp"), "wa-direct2") as bus:
        assert await bus.wait_connected(10)
        no_proof = await bus.request(MEMBERSHIP, envelope(nik="3171011505850001",
                                                          birth_date=None, kpj=None), 5)
        bad_nik = await bus.request(MEMBERSHIP, envelope(nik="1' OR '1'='1",
                                                         birth_date="1985-05-15"), 5)
        wrong_day = await bus.request(MEMBERSHIP, envelope(nik="3171011505850001",
                                                           birth_date="1985-05-16"), 5)
        unknown = await bus.request(MEMBERSHIP, envelope(nik="3171011505850099",
                                                         birth_date="1985-05-15"), 5)
        ok = await bus.request(MEMBERSHIP, envelope(nik="3171011505850001",
                                                    birth_date="1985-05-15",
                                                    kpj="10012345678"), 5)
        bsu = await bus.request(BSU, envelope(nik="3171011505850001", kpj="10012345678",
                                              programme="2019"), 5)
        # The bot's account may not ask for balances: the broker never delivers it.
        with pytest.raises(BusError):
            await bus.request("bpjs/jht/v1/balance/req", envelope(
                nik="3171011505850001", kpj=None), 1.5)

    assert no_proof["result"] == "ERROR" and "birth_date or kpj" in no_proof["reason"]
    assert bad_nik["result"] == "ERROR" and "1' OR" not in bad_nik["reason"]
    assert wrong_day["result"] == "NOT_VERIFIED" and wrong_day["name"] is None
    assert unknown["result"] == "NOT_FOUND"
    assert ok["result"] == "OK" and ok["name"] == "Budi Santoso"
    assert "balance_sen" not in ok
    assert bsu["result"] == "ERROR" and "programme" in bsu["reason"]
