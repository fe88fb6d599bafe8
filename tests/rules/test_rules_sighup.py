"""A part run by ``atmsim`` with rules reloads them on SIGHUP: the connection stays open,
the next request gets the new rules; a broken file keeps the old ones (one log line)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from atmsim.shell.cli import build_parser
from atmsim.shell.options import settings_from
from atmsim.shell.stack import Stack
from tests.e2e.switch_process import switch_process, wait_for_text
from tests.rules.wire_client import WireClient, echo_request


def test_rules_flag_sets_the_parts_rules_setting(tmp_path: Path) -> None:
    for command in (["switch"], ["hsm"], ["ledger"], ["ledger", "serve"]):
        args = build_parser().parse_args([*command, "--rules", "r.yaml"])
        part = command[0]
        assert getattr(settings_from(args), part).rules == "r.yaml"


async def test_sighup_reloads_the_switch_rules_and_keeps_the_connection(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{match: {terminal: BNI00201}, respond: '05'}]\n")
    log = tmp_path / "switch.err"
    async with switch_process(amqtt_stack, f"[switch]\nrules = {str(rules)!r}",
                              log) as (port, pid), \
            WireClient("127.0.0.1", port) as client:
        await client.send(echo_request("BNI00201"))
        first = await client.message()
        assert first is not None and first["39"] == "05"

        rules.write_text("rules: [{match: {terminal: BNI00201}, respond: '91'}]\n")
        os.kill(pid, signal.SIGHUP)
        assert "rules reloaded" in await wait_for_text(log, "rules reloaded", 10)
        await client.send(echo_request("BNI00201"))
        second = await client.message()
        assert second is not None and second["39"] == "91"

        rules.write_text("rules: [{match: {terminal: BNI00201}, respond: 'toolong'}]\n")
        os.kill(pid, signal.SIGHUP)
        text = await wait_for_text(log, "rules not reloaded", 10)
        assert "keeping the 1 in force" in text
        await client.send(echo_request("BNI00201"))
        third = await client.message()
        assert third is not None and third["39"] == "91"
