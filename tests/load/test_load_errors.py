"""Mistakes on the command line: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.load.helpers import atmsim_load


@pytest.mark.parametrize("args, words", [
    (["--switch", "localhost"], "expected HOST:PORT"),
    (["--rate", "0"], "rate must be above 0"),
    (["--atms", "1200", "--rate", "10"], "past BNI00999"),
    (["--wrong-pin", "150%"], "not between 0 and 1"),
    (["--wrong-pin", "60%", "--unknown-kpj", "60%"], "add up to more than 1"),
    (["--cards", "/nonexistent/cards.csv"], "cannot read card file"),
    (["--plot", "latency.gif"], ".png or .svg"),
    (["--first-terminal", "ATM1"], "terminal ID like BNI00002"),
    (["--no-demo-cards"], "needs --cards"),
    (["--rate", "fast"], "invalid float value"),
])
async def test_bad_arguments(args: list[str], words: str, tmp_path: Path) -> None:
    run = await atmsim_load("--switch", "127.0.0.1:1", *args) if args[0] != "--switch" \
        else await atmsim_load(*args)
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atmsim: ") and words in lines[0], run.stderr
    assert "Traceback" not in run.stderr


async def test_a_card_file_error_names_the_line(tmp_path: Path) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text("pan,pin\n5264220000100010,123456\n5264220000100028,12ab56\n")
    run = await atmsim_load("--switch", "127.0.0.1:1", "--cards", str(cards))
    assert run.code == 2
    assert "line 3: pin must be 4 to 12 digits" in run.stderr
    assert "12ab56" not in run.stderr  # not even a wrong PIN is echoed


async def test_no_switch_listening_is_one_line() -> None:
    run = await atmsim_load("--switch", f"127.0.0.1:{free_port()}", "--count", "1",
                            "--no-progress")
    assert run.code == 2
    assert run.stderr.startswith("atmsim: cannot reach the switch at 127.0.0.1:")
    assert len(run.stderr.strip().splitlines()) == 1
