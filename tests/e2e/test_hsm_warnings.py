"""A payShield warning is not a failure: IBM 3624 under a double-length PVK answers 02.

The demo PVK is double length, as most issuers' are today. A real payShield verifies with
TDES and answers 02 ("PVK not single length") for a right PIN; a switch that read every
non-00 as a fault would decline every right PIN with 96.
"""

from __future__ import annotations

import logging

import pytest

from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to


async def test_right_pin_under_a_double_length_pvk_is_approved(
    amqtt_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(bytes.fromhex(DEMO_KEYS["PVK"].clear_hex)) == 16
    caplog.set_level(logging.DEBUG, logger="hsm_mock")
    budi = card("Budi")
    async with link_to(amqtt_stack) as link:
        _, right = await inquire(link, budi)
        _, wrong = await inquire(link, budi, pin="000000")
    assert (right.response_code, wrong.response_code) == ("00", "55")
    # The HSM did answer the warning, so the 00 above is the switch reading it as success.
    assert "cmd=DA err=02" in caplog.text and "cmd=DA err=01" in caplog.text
