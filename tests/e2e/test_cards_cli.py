"""``atmsim cards``: what an operator does about a blocked card, seen at the ATM afterwards."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.shell.cli import main
from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to

ATMSIM = [sys.executable, "-m", "atmsim.shell.cli"]
FULL_PAN = re.compile(r"\d{12,19}")


def cards(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["cards", *args, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert not FULL_PAN.search(out + err), out + err
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], data_dir: Path) -> dict[str, list[str]]:
    code, out, _ = cards(capsys, data_dir, "list")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    return {row[0]: row[-2:] for row in rows}  # masked PAN -> [status, wrong PINs]


async def test_unblock_from_another_process_while_the_switch_runs(amqtt_stack: Stack) -> None:
    siti = card("Siti")
    async with link_to(amqtt_stack) as link:
        codes = [(await inquire(link, siti, pin="000000"))[1].response_code for _ in range(3)]
        assert codes == ["55", "55", "75"]
        assert (await inquire(link, siti))[1].response_code == "75"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
        run = subprocess.run([*ATMSIM, "cards", "unblock", siti.pan, "--data-dir",
                              str(amqtt_stack.data_dir)], env=env, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["526422******0028", "S**i", "R****u", "ACTIVE", "0"]
        assert siti.pan not in run.stdout + run.stderr
        assert (await inquire(link, siti))[1].response_code == "00"


async def test_block_gives_62_and_unblock_gives_the_card_back(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    budi, data_dir = card("Budi"), amqtt_stack.data_dir
    code, out, _ = cards(capsys, data_dir, "block", budi.pan)
    assert code == 0 and "BLOCKED" in out
    assert listed(capsys, data_dir)["526422******0010"] == ["BLOCKED", "0"]
    async with link_to(amqtt_stack) as link:
        assert (await inquire(link, budi))[1].response_code == "62"
        assert (await inquire(link, card("Siti")))[1].response_code == "00"  # others unaffected
        assert cards(capsys, data_dir, "unblock", budi.pan)[0] == 0
        assert (await inquire(link, budi))[1].response_code == "00"


async def test_reset_demo_gives_every_demo_card_its_fresh_state(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    budi, siti, data_dir = card("Budi"), card("Siti"), amqtt_stack.data_dir
    async with link_to(amqtt_stack) as link:
        assert cards(capsys, data_dir, "block", budi.pan)[0] == 0
        for _ in range(2):
            assert (await inquire(link, siti, pin="000000"))[1].response_code == "55"
        table = listed(capsys, data_dir)
        assert table["526422******0010"] == ["BLOCKED", "0"]
        assert table["526422******0028"] == ["ACTIVE", "2"]
        code, out, _ = cards(capsys, data_dir, "reset-demo")
        assert code == 0 and out.strip() == f"{len(DEMO_CARDS)} demo cards reset: ACTIVE, no wrong PINs"
        assert set(map(tuple, listed(capsys, data_dir).values())) == {("ACTIVE", "0")}
        assert (await inquire(link, budi))[1].response_code == "00"
        # Siti's two wrong PINs are forgotten: one more is an ordinary 55, not a block.
        assert (await inquire(link, siti, pin="000000"))[1].response_code == "55"


def test_list_shows_masked_pans_holders_and_statuses(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cards(capsys, data_dir, "list")  # a fresh data directory: the demo cards
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["PAN", "holder", "status", "wrong", "PINs"]
    assert lines[1].split() == ["526422******0010", "B**i", "S*****o", "ACTIVE", "0"]
    assert len(lines) == 1 + len(DEMO_CARDS)


@pytest.mark.parametrize("args, message", [
    (["unblock", "5264220000999999"], "card 526422******9999 is not on file"),
    (["block", "5264229999999999"], "card 526422******9999 is not on file"),
    (["unblock", "52642200001000AB"], "is not a card number (12 to 19 digits)"),
    (["block", "12345"], "is not a card number (12 to 19 digits)"),
    (["unblock", "52642200001000101234"], "is not a card number (12 to 19 digits)"),
])
def test_a_bad_or_unknown_pan_is_one_line_and_exit_2(
        data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = cards(capsys, data_dir, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("atmsim: ") and message in err
    assert "Traceback" not in err


async def test_terminal_policies_set_from_the_command_line_apply_to_the_running_switch(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir, siti = amqtt_stack.data_dir, card("Siti")
    code, out, _ = cards(capsys, data_dir, "terminal", "BNI00003")
    assert (code, out) == (0, "BNI00003  acquirer 009  MAC optional  sign-on not_required\n")
    code, out, _ = cards(capsys, data_dir, "terminal", "BNI00003", "--mac", "required")
    assert (code, out) == (0, "BNI00003  acquirer 009  MAC required  sign-on not_required\n")
    async with link_to(amqtt_stack, "BNI00003") as link:  # no MAC, no sign-on
        assert (await inquire(link, siti))[1].response_code == "63"
        assert cards(capsys, data_dir, "terminal", "BNI00003", "--mac", "off",
                     "--sign-on", "required")[0] == 0
        assert (await inquire(link, siti))[1].response_code == "91"  # not signed on
        await link.sign_on()
        assert (await inquire(link, siti))[1].response_code == "00"
    async with link_to(amqtt_stack, "BNI00004") as link:  # other terminals unaffected
        assert (await inquire(link, siti))[1].response_code == "00"
    code, out, err = cards(capsys, data_dir, "terminal", "ZZZ99999", "--mac", "off")
    assert (code, out, err) == (2, "", "atmsim: terminal 'ZZZ99999' is not on file\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["cards", "terminal", "BNI00003", "--sign-on", "sometimes"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err
