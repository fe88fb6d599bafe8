"""HSM, ledger or broker gone: the ATM gets 91 within the deadline, never a hang, and
service resumes by itself when the part comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.conftest import HSM_DEADLINE, LEDGER_DEADLINE, stack_settings

MARGIN = 1.0  # scheduling slack on a loaded 2-core machine


async def _until_approved(link, demo, within: float) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    code = ""
    while time.monotonic() < deadline:
        _, result = await inquire(link, demo)
        code = result.response_code
        if code == "00":
            return code
        await asyncio.sleep(0.2)
    return code


async def test_hsm_down_gives_91_then_service_resumes(amqtt_stack: Stack) -> None:
    async with link_to(amqtt_stack) as link:
        await amqtt_stack.stop_hsm()
        started = time.monotonic()
        _, result = await inquire(link, card("Budi"))
        assert result.response_code == "91"
        assert time.monotonic() - started < HSM_DEADLINE + MARGIN
        await amqtt_stack.start_hsm()
        assert await _until_approved(link, card("Budi"), within=10) == "00"


async def test_ledger_down_gives_91_within_the_deadline_then_resumes(amqtt_stack: Stack) -> None:
    async with link_to(amqtt_stack) as link:
        await amqtt_stack.stop_ledger()
        started = time.monotonic()
        _, result = await inquire(link, card("Siti"))
        elapsed = time.monotonic() - started
        assert result.response_code == "91"
        assert elapsed < LEDGER_DEADLINE + MARGIN
        await amqtt_stack.start_ledger()
        assert await _until_approved(link, card("Siti"), within=10) == "00"


async def test_broker_down_gives_91_then_service_resumes(data_dir: Path) -> None:
    # A stack with its own embedded broker, so stopping it disturbs no other test.
    async with Stack(stack_settings(data_dir)) as stack, link_to(stack) as link:
        _, before = await inquire(link, card("Budi"))
        assert before.response_code == "00"
        await stack.stop_broker()
        started = time.monotonic()
        _, during = await inquire(link, card("Budi"))
        assert during.response_code == "91"
        assert time.monotonic() - started < LEDGER_DEADLINE + MARGIN
        await stack.start_broker()
        assert await _until_approved(link, card("Budi"), within=20) == "00"
