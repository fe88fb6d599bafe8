"""Above ``max_pending`` inquiries in progress, the switch answers 91 at once instead of
queueing without bound (which would make every answer late)."""

from __future__ import annotations

import asyncio
import time

from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.conftest import LEDGER_DEADLINE


async def test_inquiries_beyond_the_bound_get_91_at_once(amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    amqtt_stack.switch.max_pending = 2
    await amqtt_stack.stop_ledger()  # the first two then wait out the ledger deadline
    async with link_to(amqtt_stack) as link:
        slow = [asyncio.create_task(inquire(link, card(name))) for name in ("Budi", "Siti")]
        await asyncio.sleep(0.3)  # both are in progress, waiting for the ledger
        started = time.monotonic()
        _, third = await inquire(link, card("Wayan"))
        shed_after = time.monotonic() - started
        held = [result for _, result in await asyncio.gather(*slow)]
    assert third.response_code == "91"
    assert shed_after < LEDGER_DEADLINE / 2  # answered at once, not after the deadline
    assert [r.response_code for r in held] == ["91", "91"]  # the ledger deadline passed


async def test_below_the_bound_nothing_is_refused(amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    amqtt_stack.switch.max_pending = 8
    async with link_to(amqtt_stack) as link:
        results = await asyncio.gather(*(inquire(link, card("Budi")) for _ in range(8)))
    assert {result.response_code for _, result in results} == {"00"}
