"""A switch short of file descriptors keeps serving the connections it has: it keeps
descriptors for its own links, refuses ATMs beyond what the limit allows at once, says so
in its own words (once, then counted), and accepts again once descriptors are free."""

from __future__ import annotations

import asyncio
import os
import resource
from pathlib import Path

from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from tests.e2e.atm import card, inquire
from tests.e2e.switch_process import switch_process, wait_for_text

FLOOD = 300


async def _held_or_refused(reader: asyncio.StreamReader) -> str:
    """"refused" when the switch closes the connection, "held" when it keeps it open."""
    try:
        rest = await asyncio.wait_for(reader.read(), 3)
    except TimeoutError:
        return "held"
    except ConnectionResetError:
        return "refused"
    return "refused" if rest == b"" else f"sent {rest!r}"


async def _flood(port: int, existing: AtmHostLink) -> tuple[int, int]:
    """Open FLOOD connections; the existing link must still get an inquiry answered."""
    flood = [await asyncio.open_connection("127.0.0.1", port) for _ in range(FLOOD)]
    outcomes = await asyncio.gather(*(_held_or_refused(r) for r, _ in flood))
    assert (await existing.echo())["39"] == "00"
    _, result = await inquire(existing, card("Budi"))
    assert result.response_code == "00"
    for _, writer in flood:
        writer.close()
    held, refused = outcomes.count("held"), outcomes.count("refused")
    assert held + refused == FLOOD, outcomes  # none left hanging without an answer
    return held, refused


async def _newcomer_is_served(port: int) -> None:
    await asyncio.sleep(0.5)  # the flood's descriptors are closed by now
    async with AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as newcomer:
        assert (await newcomer.echo())["39"] == "00"


def _limit_128() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


async def test_a_low_descriptor_limit_caps_connections_and_keeps_the_hsm_reachable(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    stderr = tmp_path / "switch.err"
    async with switch_process(amqtt_stack, "", stderr, preexec_fn=_limit_128) as (port, _):
        existing = AtmHostLink("127.0.0.1", port, terminal_id="BNI00001")
        async with existing:
            assert (await existing.sign_on())["39"] == "00"
            held, refused = await _flood(port, existing)  # the HSM link opens only now
            assert held == 128 - 64 - 1 and refused == FLOOD - held  # 64 kept in reserve
            await _newcomer_is_served(port)
    log = stderr.read_text()
    assert "the file descriptor limit (128) is below what 2000 connections need" in log
    refusals = [line for line in log.splitlines() if "refused a connection" in line]
    assert len(refusals) == 1 and "(the file descriptor limit)" in refusals[0]
    assert "Traceback" not in log


async def test_running_out_of_descriptors_is_logged_once_and_survived(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    stderr = tmp_path / "switch.err"
    async with switch_process(amqtt_stack, "", stderr) as (port, pid):
        async with AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as existing:
            assert (await existing.sign_on())["39"] == "00"
            _, result = await inquire(existing, card("Siti"))  # HSM and ledger links open
            assert result.response_code == "00"
            # Descriptors run out under the switch's feet (something else took them, or
            # an operator lowered the limit): 20 more, and accept fails with EMFILE.
            in_use = len(os.listdir(f"/proc/{pid}/fd"))
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 20, in_use + 20))
            held, refused = await _flood(port, existing)
            assert 0 < held <= 20 and refused > 0
            await _newcomer_is_served(port)
        log = await wait_for_text(stderr, "cannot accept new connections", 5)
    lines = [line for line in log.splitlines() if "cannot accept new connections" in line]
    assert len(lines) == 1, lines  # once in full: the repeat interval is 60 s
    assert "Too many open files" in lines[0] and "still serving" in lines[0]
    assert "Traceback" not in log and "out of system resource" not in log
