"""At DEBUG, no log line holds a PIN, a PIN block or a clear key."""

from __future__ import annotations

import logging

import pytest

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS
from atmsim.shell.stack import Stack
from tests.e2e.atm import PINPAD, card, inquire, link_to


async def test_debug_logs_hold_no_pin_pin_block_or_clear_key(
        amqtt_stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pin_blocks = set()
    async with link_to(amqtt_stack) as link:
        await link.sign_on()
        for demo in DEMO_CARDS:
            await inquire(link, demo)
            pin_blocks.add(PINPAD.encrypt_pin(demo.pin, demo.pan))
        for wrong in ("384721", "905162"):
            await inquire(link, card("Andi"), pin=wrong)
            pin_blocks.add(PINPAD.encrypt_pin(wrong, card("Andi").pan))
        await amqtt_stack.stop_hsm()  # error paths log too
        await inquire(link, card("Budi"))
        await amqtt_stack.start_hsm()
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "atmsim.switch" in text  # the flows did log at DEBUG/INFO
    secrets = {c.pin for c in DEMO_CARDS} | pin_blocks | {"384721", "905162"}
    secrets |= {k.clear_hex for k in DEMO_KEYS.values()}
    secrets |= {k.clear_hex[:16] for k in DEMO_KEYS.values()}
    lowered = text.lower()
    for secret in secrets:
        assert secret.lower() not in lowered, "a PIN, PIN block or clear key reached the log"
    for demo in DEMO_CARDS:
        assert demo.pan not in text  # PANs appear masked only
