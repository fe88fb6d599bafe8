"""``atmsim keys``: keys it prints under the LMK are the keys the HSM then uses."""

from __future__ import annotations

import argparse
import io
import re

import pytest
from hsm_helpers import RawHsm

from atmsim.shell import keys_cli
from hsm_mock.keys import combine_components, kcv


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="atmsim")
    keys_cli.add_parser(parser.add_subparsers(dest="command"))
    code = keys_cli.run(parser.parse_args(["keys", *argv]))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def key_and_check(out: str) -> tuple[str, str]:
    key = re.search(r"under LMK \d\d-\d\d: (\S+)", out)
    check = re.search(r"^check value: ([0-9A-F]{6})$", out, re.MULTILINE)
    assert key and check, out
    return key.group(1), check.group(1)


async def hsm_check_value(raw: RawHsm, key_type: str, key: str) -> str:
    flag = {16: "0", 33: "1", 49: "2"}[len(key)]
    reply = await raw.command("BU", "FF" + flag + key + ";" + key_type + ";001")
    assert reply.error_code == "00"
    return reply.fields.decode()


@pytest.mark.parametrize(("scheme", "length"), [("Z", 16), ("U", 33), ("T", 49)])
async def test_generated_key_is_what_the_hsm_sees(
    raw: RawHsm, capsys: pytest.CaptureFixture[str], scheme: str, length: int
) -> None:
    code, out, err = run(["generate", "--type", "TPK", "--scheme", scheme], capsys)
    key, check = key_and_check(out)
    assert (code, err, len(key)) == (0, "", length)
    assert await hsm_check_value(raw, "002", key) == check
    assert "TEST LMK" in out and "CLEAR" not in out


async def test_ceremony_components_combine_to_the_printed_key(
    raw: RawHsm, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["generate", "--type", "ZMK", "--components", "3"], capsys)
    assert code == 0 and "CLEAR KEY COMPONENTS" in out
    components = re.findall(r"component \d: ((?:[0-9A-F]{4} ?){8})  KCV ([0-9A-F]{6})", out)
    assert len(components) == 3
    clear = [bytes.fromhex(c.replace(" ", "")) for c, _ in components]
    assert [kcv(c) for c in clear] == [check for _, check in components]
    key, check = key_and_check(out)
    assert kcv(combine_components(clear)) == check
    assert await hsm_check_value(raw, "000", key) == check


async def test_import_forms_the_key_from_its_components(
    raw: RawHsm, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = ["0123456789ABCDEFFEDCBA9876543210", "1C1C1C1C1C1C1C1C 7A7A7A7A7A7A7A7A"]
    code, out, _ = run(["import", "--type", "ZPK", "--component", parts[0],
                        "--component", parts[1]], capsys)
    key, check = key_and_check(out)
    expected = combine_components([bytes.fromhex(p.replace(" ", "")) for p in parts])
    assert code == 0 and check == kcv(expected)
    assert await hsm_check_value(raw, "001", key) == check
    # Only check values of the components are shown, never the components.
    assert parts[0] not in out and "1C1C" not in out


def test_import_reads_components_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("0123456789ABCDEF\nFEDCBA9876543210\n"))
    code, out, _ = run(["import", "--type", "TAK"], capsys)
    assert code == 0 and key_and_check(out)[1] == kcv(bytes.fromhex("FEFEFEFEFEFEFEFE"))


def test_check_gives_the_jpos_test_key_check_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "--type", "ZPK", "U34E2FC8EAD7CD07BFA2B7ED5FE4D8212"], capsys)
    assert code == 0 and "check value: 6FB1C8" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--type", "NOPE"],
        ["check", "--type", "TPK", "U1234"],
        ["import", "--type", "ZMK", "--component", "0123456789ABCDEF"],
        ["import", "--type", "ZMK", "--component", "00" * 8, "--component", "01" * 8],
        ["import", "--type", "ZMK", "--component", "XYZ", "--component", "01" * 8],
        ["generate", "--type", "TPK", "--lmk-file", "/nonexistent/lmk.json"],
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("atmsim: ") and err.count("\n") == 1 and "Traceback" not in err
