"""The bot when the ledger answers by rules (docs/rules.md): a complaint the ledger fails
gets an apology and a retry button, a silent ledger an apology after the deadline."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atmsim.kernel.rules import LEDGER_SCHEMA, RuleBook, parse_rules
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.config import WhatsappSettings
from atmsim.shell.whatsapp_cli import WhatsappStack
from bpjs_ledger.service import run_ledger
from tests.whatsapp.conftest import KEYS, PHONE_NUMBER_ID, choice_ids, text_of
from whatsapp_sim.phone import Phone

RULES = """
rules:
  - {name: complaints down, match: {type: complaint}, error: "internal error: down"}
  - {name: silent bsu, match: {type: bsu}, action: no_reply}
"""


@pytest.fixture
async def whatsapp(mosquitto_broker: EmbeddedBroker, tmp_path: Path
                   ) -> AsyncIterator[WhatsappStack]:
    rules = RuleBook(LEDGER_SCHEMA, rules=parse_rules(RULES, LEDGER_SCHEMA))
    stop, ready = asyncio.Event(), asyncio.Event()
    ledger = asyncio.create_task(run_ledger(tmp_path / "ledger.db", mosquitto_broker.endpoint,
                                            stop=stop, ready=ready, rules=rules))
    await asyncio.wait_for(ready.wait(), 15)
    config = dataclasses.replace(WhatsappSettings(), port=0, graph_port=0,
                                 ledger_deadline=1.0)
    async with WhatsappStack(mosquitto_broker.endpoint, config, KEYS) as chat:
        assert await chat.bus.wait_connected(10)
        yield chat
    stop.set()
    await asyncio.wait_for(ledger, 10)


async def test_failing_and_silent_ledger(whatsapp: WhatsappStack) -> None:
    phone = Phone(whatsapp.webhook_url, "6281200000301", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    for step in ("m_complaint", "cat_IURAN"):
        await phone.pick(step)
    await phone.say("Iuran tidak tercatat")
    await phone.pick("skip", kind="button_reply")
    await phone.pick("send", kind="button_reply")
    sent = [m.body for m in whatsapp.outbox.of("6281200000301")]
    assert "tidak dapat diproses" in text_of(sent[-2])
    assert choice_ids(sent[-1]) == ["send", "menu"]  # try again, or leave it

    await phone.pick("m_bsu")
    await phone.pick("bsu_2020")
    await phone.say("3273024708900002")
    assert (await phone.say("07-08-1990")).status_code == 200
    await phone.close()
    last = [m.body for m in whatsapp.outbox.of("6281200000301")][-2]
    assert "tidak dapat diproses" in text_of(last)
