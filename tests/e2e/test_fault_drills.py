"""HSM, ledger or broker gone: the ATM gets 91 within the deadline, never a hang, and
service resumes by itself when the part comes back. Dogfood: through the pytest plugin's
``atm`` and ``faults`` fixtures (each test has a stack, broker included, of its own)."""

from __future__ import annotations

import asyncio
import time

import pytest

from atmsim import AtmClient, HostUnavailable
from atmsim.kernel.demo_data import DemoCard
from atmsim.testing.harness import Faults
from tests.e2e.atm import card
from tests.e2e.conftest import HSM_DEADLINE, LEDGER_DEADLINE

MARGIN = 1.0  # scheduling slack on a loaded 2-core machine
# The suite's short deadlines on the plugin's stack: a 91 in seconds, not the defaults'.
pytestmark = pytest.mark.atmsim(switch={"hsm_deadline": HSM_DEADLINE,
                                        "ledger_deadline": LEDGER_DEADLINE})


async def _until_approved(atm: AtmClient, demo: DemoCard, within: float) -> str:
    deadline = time.monotonic() + within
    code = ""
    while time.monotonic() < deadline:
        try:
            code = (await atm.inquire(demo.pan, demo.pin)).response_code
        except HostUnavailable:  # the ATM's connection went with the part: it reconnects
            code = "no connection"
        if code == "00":
            return code
        await asyncio.sleep(0.2)
    return code


async def _timed(atm: AtmClient, demo: DemoCard) -> tuple[str, float]:
    started = time.monotonic()
    result = await atm.inquire(demo.pan, demo.pin)
    return result.response_code, time.monotonic() - started


async def test_hsm_down_gives_91_then_service_resumes(atm: AtmClient, faults: Faults) -> None:
    with faults.kill("hsm"):
        code, elapsed = await _timed(atm, card("Budi"))
        assert code == "91" and elapsed < HSM_DEADLINE + MARGIN
    assert await _until_approved(atm, card("Budi"), within=10) == "00"


async def test_ledger_down_gives_91_within_the_deadline_then_resumes(
        atm: AtmClient, faults: Faults) -> None:
    with faults.kill("ledger"):
        code, elapsed = await _timed(atm, card("Siti"))
        assert code == "91" and elapsed < LEDGER_DEADLINE + MARGIN
    assert await _until_approved(atm, card("Siti"), within=10) == "00"


async def test_broker_down_gives_91_then_service_resumes(atm: AtmClient,
                                                         faults: Faults) -> None:
    assert (await atm.inquire(card("Budi").pan, card("Budi").pin)).response_code == "00"
    with faults.kill("broker"):
        code, elapsed = await _timed(atm, card("Budi"))
        assert code == "91" and elapsed < LEDGER_DEADLINE + MARGIN
    assert await _until_approved(atm, card("Budi"), within=20) == "00"
