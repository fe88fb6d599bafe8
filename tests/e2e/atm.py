"""The ATM side as the tests drive it: a signed-on link and one-call inquiries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS, DemoCard
from atmsim.kernel.wire import IsoMessage
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import (
    CardData,
    InquiryResult,
    balance_inquiry_request,
    read_inquiry_response,
)

PINPAD = PinPad(DEMO_KEYS["TPK"].clear_hex)


def card(holder_first_name: str) -> DemoCard:
    return next(c for c in DEMO_CARDS if c.holder.split()[0] == holder_first_name)


def link_to(stack: Stack, terminal_id: str = "BNI00001", timeout: float = 30.0) -> AtmHostLink:
    assert stack.switch is not None
    return AtmHostLink(stack.switch.host, stack.switch.port, terminal_id=terminal_id,
                       timeout=timeout)


async def inquire(link: AtmHostLink, demo: DemoCard, pin: str | None = None,
                  kpj: str | None = None) -> tuple[IsoMessage, InquiryResult]:
    data = CardData(demo.pan, demo.expiry, demo.track2)
    request = balance_inquiry_request(data, PINPAD.encrypt_pin(pin or demo.pin, demo.pan),
                                      terminal_id=link.terminal_id, stan=link.next_stan(),
                                      kpj=kpj)
    response = await link.exchange(request)
    return response, read_inquiry_response(response)


async def demo_round(link: AtmHostLink) -> int:
    """Sign-on, an inquiry per demo card, a typed KPJ, a wrong PIN (Budi's), an echo; the
    number of requests sent."""
    await link.sign_on()
    for demo in DEMO_CARDS:
        await inquire(link, demo)
    await inquire(link, card("Andi"), kpj="13055500011")
    await inquire(link, card("Budi"), pin="000001")
    await link.echo()
    return len(DEMO_CARDS) + 4


async def json_messages(client: aiomqtt.Client, count: int,
                        within: float = 10.0) -> list[dict[str, Any]]:
    """The next ``count`` messages ``client`` receives, as JSON (events, for instance)."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        async for message in client.messages:
            received.append(json.loads(message.payload))  # type: ignore[arg-type]
            if len(received) == count:
                break
    return received
