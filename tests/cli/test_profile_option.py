"""``--profile NAME|FILE`` on every command that speaks ISO 8583, and ``atmsim profile``."""

from __future__ import annotations

from pathlib import Path

import pytest

from atmsim.kernel.wire.profile_file import load_profile
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.cli import build_parser
from atmsim.shell.options import settings_from
from atmsim.shell.stack import Stack
from tests.cli.helpers import run_atmsim
from tests.conftest import stack_settings

PAN, PIN = "5264220000100010", "123456"  # Budi, docs/demo-data.md


@pytest.mark.parametrize("command", [
    ["switch"], ["atm"], ["inquire", "--pan", PAN, "--pin", PIN], ["load"], ["up"], ["demo"]])
def test_every_iso8583_command_takes_a_profile(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--profile", "bcd-binary"])
    profile, framing = settings_from(args).switch.wire()
    assert profile.name == "bcd-binary" and profile.header.kind == "tpdu"
    assert framing.kind == "2be"


def test_the_profile_is_a_config_key_too(tmp_path: Path) -> None:
    config = tmp_path / "atmsim.toml"
    config.write_text('[switch]\nprofile = "ebcdic"\nframing = "4ascii"\n')
    args = build_parser().parse_args(["switch", "--config", str(config)])
    profile, framing = settings_from(args).switch.wire()
    assert profile.name == "ebcdic" and framing.kind == "4ascii"  # framing overrides


async def test_a_bad_profile_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text('[encoding]\nmti = "bcd"\n\n[fields]\n35 = { format = "z..37x" }\n')
    run = await run_atmsim("inquire", "--pan", PAN, "--pin", PIN, "--profile", str(bad))
    assert run.code == 2
    assert run.stderr_lines == [
        f"atmsim: switch.profile from --profile: {bad} line 5: field 35: 'z..37x' is not a "
        "field format: a type (n, an, ans, z, b, x+n), then .. for LLVAR or ... for LLLVAR "
        "or nothing for a fixed length, then the length (1-999), e.g. n6, n..19"]
    check = await run_atmsim("profile", "check", str(bad))
    assert check.code == 2 and len(check.stderr_lines) == 1
    assert check.stderr_lines[0].startswith(f"atmsim: {bad} line 5: field 35")


async def test_profile_show_writes_a_file_that_loads_back(tmp_path: Path) -> None:
    show = await run_atmsim("profile", "show", "bcd-binary")
    assert show.code == 0, show.stderr
    copy = tmp_path / "copy.toml"
    copy.write_text(show.stdout)
    check = await run_atmsim("profile", "check", str(copy))
    assert check.code == 0, check.stderr
    assert "tpdu header 6000010000" in check.stdout and "numeric bcd" in check.stdout
    assert load_profile(str(copy)).spec == load_profile("bcd-binary").spec


async def test_inquire_and_load_speak_bcd_binary_to_a_bcd_binary_switch(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.switch.profile = "bcd-binary"
    async with Stack(settings) as stack:
        assert stack.switch is not None
        switch = f"{stack.switch.host}:{stack.switch.port}"
        run = await run_atmsim("inquire", "--switch", switch, "--profile", "bcd-binary",
                               "--pan", PAN, "--pin", PIN, "--timeout", "10")
        assert run.code == 0, run.stderr
        assert f"{PAN[:6]}******{PAN[-4:]}  00 approved" in run.stdout
        assert "Saldo JHT Rp" in run.stdout
        load = await run_atmsim("load", "--switch", switch, "--profile", "bcd-binary",
                                "--concurrency", "2", "--count", "20", "--wrong-pin", "0",
                                "--unknown-kpj", "0", "--no-progress")
        assert load.code == 0, load.stderr
        assert "answered    20" in load.stdout and "timeouts    0" in load.stdout
