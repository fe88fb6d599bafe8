"""Captured switch traffic decodes in Wireshark's ISO 8583 dissector with nothing malformed.

Needs tshark and the right to capture on the loopback interface (root in CI). Skipped
without them, unless ATMSIM_REQUIRE_TSHARK=1 (set by .ci/run), where that is a failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.shell.stack import Stack
from terminal_ui.device.transactions import (
    CardData,
    balance_inquiry_request,
    repeat_of,
    reversal_request,
)
from tests.e2e.atm import PINPAD, card, demo_round, link_to
from tests.e2e.tshark import capturing, need_tshark


async def test_captured_traffic_decodes_in_tshark_without_malformed(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    tshark = need_tshark()
    assert amqtt_stack.switch is not None
    port = amqtt_stack.switch.port
    capture = tmp_path / "switch.pcapng"
    async with capturing(port, capture), link_to(amqtt_stack) as link:
        await demo_round(link)
        # A reversal and its repeat: 0420/0421 with field 90, answered 0430.
        siti = card("Siti")
        request = balance_inquiry_request(
            CardData(siti.pan, siti.expiry, siti.track2),
            PINPAD.encrypt_pin(siti.pin, siti.pan), terminal_id=link.terminal_id,
            stan=link.next_stan())
        await link.exchange(request)
        reversal = reversal_request(request, stan=link.next_stan())
        await link.exchange(reversal)
        await link.exchange(repeat_of(reversal))
        unknown = reversal_request(request, stan=link.next_stan())
        await link.exchange({**unknown, "2": card("Budi").pan})

    decode = [tshark, "-r", str(capture), "-d", f"tcp.port=={port},iso8583",
              "-o", "iso8583.len_endian:bigendian"]
    malformed = subprocess.run(decode + ["-Y", "iso8583.MALFORMED || _ws.malformed"],
                               capture_output=True, text=True, timeout=60)
    assert malformed.stdout.strip() == "", malformed.stdout
    fields = subprocess.run(decode + ["-Y", "iso8583", "-T", "fields", "-e", "iso8583.mti",
                                      "-e", "iso8583.bit11", "-e", "iso8583.bit39"],
                            capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("\t") for line in fields.stdout.splitlines() if line.strip()]
    mtis = [row[0] for row in rows]
    assert mtis.count("0200") == len(DEMO_CARDS) + 3
    assert mtis.count("0210") == len(DEMO_CARDS) + 3
    assert mtis.count("0420") == 2 and mtis.count("0421") == 1 and mtis.count("0430") == 3
    assert [row[2] for row in rows if row[0] == "0430"] == ["00", "00", "25"]
    assert mtis.count("0800") == 2 and mtis.count("0810") == 2
    assert {row[2] for row in rows if row[0] == "0210"} >= {"00", "25", "55"}
