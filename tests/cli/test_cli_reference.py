"""docs/cli.md says what the parser does: its command reference is the one rendered from
the ``atmsim`` parser, and neither it nor the command's help and docstrings send a user to
a file the repository does not have."""

from __future__ import annotations

import re
from pathlib import Path

from atmsim.shell.cli import build_parser
from atmsim.shell.cli_reference import BEGIN, END, render, updated

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"
OUTSIDE = re.compile(r"DESIGN\.md|DOMAIN_NOTES|\.\./shared|STYLE\.md")


def test_the_command_reference_is_the_parsers() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert updated(document, build_parser()) == document, (
        "docs/cli.md is out of date: python -m atmsim.shell.cli_reference docs/cli.md")


def test_every_command_and_flag_is_in_the_reference() -> None:
    reference = render(build_parser())
    for command in ("demo", "atm", "up", "inquire", "switch", "hsm", "broker", "ledger seed",
                    "ledger balance", "keys generate", "cards unblock", "load"):
        assert f"### `atmsim {command}`" in reference
    for flag in ("--switch-port", "--mqtt-ca", "--db", "--lmk-file", "--web-port", "--rate"):
        assert f"`{flag} " in reference


def test_a_stale_reference_is_replaced_between_its_markers() -> None:
    stale = f"# head\n{BEGIN}\n### `atmsim gone`\n{END}\ntail\n"
    fresh = updated(stale, build_parser())
    assert "atmsim gone" not in fresh and "### `atmsim up`" in fresh
    assert fresh.startswith("# head\n") and fresh.endswith(f"{END}\ntail\n")


def test_the_shell_cites_only_files_of_the_repository() -> None:
    shell = ROOT / "atmsim" / "shell"
    citing = [str(p.relative_to(ROOT)) for p in shell.rglob("*.py")
              if OUTSIDE.search(p.read_text(encoding="utf-8"))]
    assert not citing
    assert not OUTSIDE.search(render(build_parser()))
    assert not OUTSIDE.search(DOC.read_text(encoding="utf-8"))
    for cited in set(re.findall(r"docs/[\w.-]+\.md", DOC.read_text(encoding="utf-8"))):
        assert (ROOT / cited).is_file(), cited
