"""The chat terminal (``atmsim whatsapp``) driven like a person: type, see bubbles, pick a
numbered choice; against the real bot, broker and ledger."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import OptionList, Static

from atmsim.shell.whatsapp_cli import WhatsappStack
from tests.whatsapp.conftest import KEYS, PHONE_NUMBER_ID
from whatsapp_sim.chat import ChatApp
from whatsapp_sim.phone import Phone

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _bubbles(app: ChatApp, wanted: str, timeout: float = 5.0) -> list[str]:
    for _ in range(int(timeout / 0.05)):
        texts = [str(s.content) for s in app.screen.query("#log Static").results(Static)]
        if any(wanted in t for t in texts):
            return texts
        await asyncio.sleep(0.05)
    raise AssertionError(f"no bubble with {wanted!r}: {texts}")


async def test_typing_and_picking_in_the_chat(whatsapp: WhatsappStack) -> None:
    phone = Phone(whatsapp.webhook_url, "6281200000401", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    app = ChatApp(phone, whatsapp.outbox)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press(*"menu", "enter")
        await _bubbles(app, "Selamat datang")
        options = app.screen.query_one("#choices", OptionList)
        assert options.option_count == 6 and "shown" in options.classes
        await pilot.press("3", "enter")  # Info kanal layanan
        texts = await _bubbles(app, "KANAL LAYANAN")
        assert "Info kanal layanan - JMO, SMS 2757, ATM, kantor cabang" in texts
        await pilot.press(*"saldo saya berapa", "enter")
        await _bubbles(app, "tidak melayani informasi saldo")
    await phone.close()
