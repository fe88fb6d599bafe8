"""A flood of bad frames cannot fill the disk: the log rotates at its configured size, the
warnings about them are logged once per interval with a count, and the switch still
answers a good inquiry afterwards."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import iso8583

from atmsim.kernel.wire import default_profile
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from tests.e2e.atm import card, inquire
from tests.e2e.switch_process import switch_process

MAX_BYTES = 64 * 1024
BACKUPS = 2
CONNECTIONS = 4
PER_CONNECTION = 5000  # 20,000 bad frames in all

BAD_FIELD = {"t": "0200", "2": "5264220000100010", "3": "31A000", "7": "1121060000",
             "11": "123456", "41": "BNI00001", "49": "360", "52": "0123456789ABCDEF"}
ECHO = {"t": "0800", "7": "1121060000", "11": "999999", "41": "BNI00001", "70": "301"}


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(2, "big") + body


async def _flood_one_connection(port: int) -> int:
    """Send PER_CONNECTION bad frames (3 in 4 answerable, 1 in 4 not), then an echo;
    the number of 30s that came back once the echo's answer arrives."""
    answerable = _frame(bytes(iso8583.encode(dict(BAD_FIELD), default_profile().spec)[0]))
    unanswerable = _frame(b"0\xff00" + answerable[6:])  # no MTI: nothing to address
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frames = [unanswerable if i % 4 == 3 else answerable for i in range(PER_CONNECTION)]
    writer.write(b"".join(frames) + _frame(default_profile().encode(ECHO)))
    format_errors = 0
    try:
        while True:
            header = await asyncio.wait_for(reader.readexactly(2), 30)
            reply = default_profile().decode(
                await reader.readexactly(int.from_bytes(header, "big")))
            if reply["t"] == "0810":
                return format_errors
            assert reply["39"] == "30"
            format_errors += 1
    finally:
        writer.close()


async def test_bad_frame_flood_stays_within_the_log_bound(amqtt_stack: Stack,
                                                          tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    # At DEBUG every answer (a 30 to each bad frame) is a line; INFO logs ten a second.
    config = (f"log_level = 'DEBUG'\n"
              f"[log]\nfile = {str(logs / 'switch.log')!r}\nmax_bytes = {MAX_BYTES}\n"
              f"backups = {BACKUPS}\nrepeat_interval = 1.0\n")
    async with switch_process(amqtt_stack, config, tmp_path / "switch.err",
                              log=logs / "switch.log") as (port, _):
        answered = await asyncio.gather(*(_flood_one_connection(port)
                                          for _ in range(CONNECTIONS)))
        assert sum(answered) == CONNECTIONS * PER_CONNECTION * 3 // 4
        await asyncio.sleep(2.5)  # the last window is over and its count reported
        async with AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as link:
            _, result = await inquire(link, card("Budi"))
            assert result.response_code == "00"
    files = sorted(logs.iterdir())
    assert [f.name for f in files] == ["switch.log", "switch.log.1", "switch.log.2"]
    assert sum(f.stat().st_size for f in files) <= (BACKUPS + 1) * MAX_BYTES
    text = "\n".join(f.read_text() for f in files)
    # Each kind of warning once per 1 s window in full, the rest counted.
    suppressed = [int(n.replace(",", "")) for n in re.findall(
        r"format error from terminal .*\(([\d,]+) similar messages suppressed in the last", text)]
    assert suppressed and max(suppressed) >= 100, suppressed
    assert re.search(r"dropped a message that cannot be answered .*\([\d,]+ similar "
                     r"messages suppressed", text)
    full = [line for line in text.splitlines() if "format error from terminal" in line
            and "suppressed" not in line]
    assert len(full) <= 30  # at most one per second of flood, not one per frame
    assert "rc=00" in files[0].read_text()  # the good inquiry, logged after the flood
    assert BAD_FIELD["2"] not in text
