"""Captured switch traffic decodes in Wireshark's ISO 8583 dissector with nothing malformed.

Needs tshark and the right to capture on the loopback interface (root in CI). Skipped
without them, unless ATMSIM_REQUIRE_TSHARK=1 (set by .ci/run), where that is a failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import PinPad
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

    rows = decoded(tshark, capture, port, "iso8583.bit11", "iso8583.bit39")
    mtis = [row[0] for row in rows]
    assert mtis.count("0200") == len(DEMO_CARDS) + 3
    assert mtis.count("0210") == len(DEMO_CARDS) + 3
    assert mtis.count("0420") == 2 and mtis.count("0421") == 1 and mtis.count("0430") == 3
    assert [row[2] for row in rows if row[0] == "0430"] == ["00", "00", "25"]
    assert mtis.count("0800") == 2 and mtis.count("0810") == 2
    assert {row[2] for row in rows if row[0] == "0210"} >= {"00", "25", "55"}


def decoded(tshark: str, capture: Path, port: int, *fields: str) -> list[list[str]]:
    """The ISO 8583 messages of ``capture`` (MTI, then ``fields``), after checking that
    tshark finds nothing malformed in any of them."""
    decode = [tshark, "-r", str(capture), "-d", f"tcp.port=={port},iso8583",
              "-o", "iso8583.len_endian:bigendian"]
    malformed = subprocess.run(decode + ["-Y", "iso8583.MALFORMED || _ws.malformed"],
                               capture_output=True, text=True, timeout=60)
    assert malformed.stdout.strip() == "", malformed.stdout
    columns = [arg for name in ("iso8583.mti", *fields) for arg in ("-e", name)]
    out = subprocess.run(decode + ["-Y", "iso8583", "-T", "fields", *columns],
                         capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in out.stdout.splitlines() if line.strip()]


async def test_maced_inquiries_and_key_changes_decode_in_tshark_without_malformed(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    tshark = need_tshark()
    assert amqtt_stack.switch is not None
    port = amqtt_stack.switch.port
    capture = tmp_path / "secured.pcapng"
    pinpad = PinPad(DEMO_KEYS["TPK"].clear_hex, DEMO_KEYS["TAK"].clear_hex,
                    DEMO_KEYS["TMK"].clear_hex)
    siti = card("Siti")

    async def maced_inquiry(link: AtmHostLink) -> str:
        request = balance_inquiry_request(
            CardData(siti.pan, siti.expiry, siti.track2), pinpad.encrypt_pin(siti.pin, siti.pan),
            terminal_id=link.terminal_id, stan=link.next_stan())
        return (await link.exchange(request))["39"]

    async with capturing(port, capture):
        link = AtmHostLink(amqtt_stack.switch.host, port, terminal_id="BNI00001",
                           timeout=30.0, pinpad=pinpad, send_mac=True)
        async with link:
            await link.sign_on()
            assert await maced_inquiry(link) == "00"             # 0200/0210 with field 64
            assert await link.change_keys() == 2                 # ATM-initiated: 0800/0810, 48
            assert await maced_inquiry(link) == "00"             # under the new TAK
            assert await amqtt_stack.switch.rotate_keys("BNI00001") == 3  # bank-initiated
            assert await maced_inquiry(link) == "00"

    rows = decoded(tshark, capture, port, "iso8583.bit39", "iso8583.bit48", "iso8583.bit64",
                   "iso8583.bit70")
    maced = [row for row in rows if row[0] in ("0200", "0210")]
    # tshark shows field 64 as the 16 characters sent (MAC 8H + 00000000, docs/wire.md).
    assert len(maced) == 6 and all(len(row[3]) == 16 for row in maced), maced
    key_changes = [row for row in rows if row[0] in ("0800", "0810") and row[4] == "161"]
    # ATM-initiated: the 0810 carries 48; bank-initiated: the switch's 0800 does.
    assert [(row[0], bool(row[2])) for row in key_changes] == [
        ("0800", False), ("0810", True), ("0800", True), ("0810", False)], key_changes
    assert all(row[2].startswith("PK33X") for row in key_changes if row[2])


async def test_hop_timings_in_field_63_decode_in_tshark_without_malformed(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    tshark = need_tshark()
    assert amqtt_stack.switch is not None
    port = amqtt_stack.switch.port
    capture = tmp_path / "hops.pcapng"
    budi = card("Budi")
    async with capturing(port, capture), link_to(amqtt_stack) as link:
        for asked in (True, False):
            request = balance_inquiry_request(
                CardData(budi.pan, budi.expiry, budi.track2),
                PINPAD.encrypt_pin(budi.pin, budi.pan), terminal_id=link.terminal_id,
                stan=link.next_stan(), hop_timings=asked)
            assert (await link.exchange(request))["39"] == "00"

    rows = decoded(tshark, capture, port, "iso8583.bit63")
    # Asked: HQ011 out, the timings back; not asked: no field 63 either way.
    assert [row[0] for row in rows] == ["0200", "0210", "0200", "0210"]
    assert rows[0][1] == "HQ011" and rows[1][1].startswith("HS")
    assert rows[2][1] == "" and rows[3][1] == ""
