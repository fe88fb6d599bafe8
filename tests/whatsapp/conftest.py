"""One back end (embedded broker + ledger) and one WhatsApp stack (bot webhook, simulated
Graph API) per test module, on free loopback ports; ``phone(wa_id)`` posts signed
webhooks as that user and ``replies`` reads what the bot sent them."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from atmsim.shell.config import WhatsappSettings
from atmsim.shell.stack import Stack
from atmsim.shell.whatsapp_cli import WhatsappSecrets, WhatsappStack
from tests.conftest import stack_settings
from whatsapp_sim.phone import Phone

KEYS = WhatsappSecrets("test-app-secret", "test-verify-token", "test-access-token")
PHONE_NUMBER_ID = "106540352242922"


async def start_backend(data_dir: Path, db: str = "") -> Stack:
    settings = stack_settings(data_dir)
    settings.ledger.db = db
    stack = Stack(settings, parts=("broker", "ledger"))
    await stack.__aenter__()
    return stack


async def start_whatsapp(backend: Stack, **config: Any) -> WhatsappStack:
    assert backend.broker is not None
    settings = dataclasses.replace(WhatsappSettings(), port=0, graph_port=0,
                                   ledger_deadline=3.0, **config)
    chat = WhatsappStack(backend.broker.endpoint_for("whatsapp"), settings, KEYS)
    await chat.__aenter__()
    assert await chat.bus.wait_connected(10)
    return chat


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    stack = await start_backend(tmp_path_factory.mktemp("wa-data"))
    yield stack
    await stack.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def whatsapp(backend: Stack) -> AsyncIterator[WhatsappStack]:
    chat = await start_whatsapp(backend)
    yield chat
    await chat.close()


@pytest.fixture
def phone(whatsapp: WhatsappStack) -> Callable[[str], Phone]:
    made: list[Phone] = []

    def make(wa_id: str) -> Phone:
        p = Phone(whatsapp.webhook_url, wa_id, app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
        made.append(p)
        return p

    return make


def text_of(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return str(body["text"]["body"])
    return str(body["interactive"]["body"]["text"])


def choice_ids(body: dict[str, Any]) -> list[str]:
    i = body.get("interactive") or {}
    if i.get("type") == "button":
        return [b["reply"]["id"] for b in i["action"]["buttons"]]
    if i.get("type") == "list":
        return [r["id"] for s in i["action"]["sections"] for r in s["rows"]]
    return []
