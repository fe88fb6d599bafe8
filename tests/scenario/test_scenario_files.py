"""``atmsim scenario run`` as a user meets it: a wrong file is one line naming file:line and
the step (exit 2, nothing sent); a failed expectation shows the masked field diff (exit 1);
captures, waits, repeats and parallel groups work against a real switch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from atmsim.shell.cli import main
from atmsim.shell.stack import Stack


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nsteps:\n  - send: {70: '301'}\n    expcet: {39: '00'}\n",
     "s.yaml:3: step 1: unknown key 'expcet' for a send step"),
    ("name: x\nsteps:\n  - name: first\n    wait: 0\n  - name: odd\n    hsm: {command: NC}\n"
     "    send: {}\n", "s.yaml:5: step 2 'odd': needs exactly one of send, hsm, bus"),
    ("name: x\nsteps:\n  - send: {t: '0800', 200: x}\n",
     "s.yaml:3: step 1: '200' is not a field number 2-128"),
    ("name: x\nsteps: [\n", "s.yaml:3: not valid YAML"),
    ("steps:\n  - wait: 1\n", "s.yaml:1: the scenario needs a name"),
    ("name: x\nsteps:\n  - repeat: 2\n    steps:\n      - wait: 0\n        expect: {39: '00'}\n",
     "s.yaml:5: step 1.1: unknown key 'expect' for a wait step"),
    ("name: x\nsteps:\n  - send: {39: {regex: '('}}\n    template: network_management\n"
     "    expect: {39: {regex: '('}}\n", "s.yaml:3: step 1: expect 39: bad regex"),
    ("name: x\nopt_in: a silent ledger\nsteps:\n  - wait: 0\n",
     "s.yaml:1: opt_in must say what the target needs, and the scenario needs a tag"),
])
def test_a_wrong_file_is_one_line_naming_file_line_and_step(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert main(["scenario", "run", str(path), "--target", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert message in err, err


def test_an_unknown_variable_is_an_error_before_anything_is_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The target is a closed port: an error naming the variable, not a connection error.
    path = write(tmp_path, "name: x\nsteps:\n  - wait: 0\n  - template: balance_inquiry\n"
                           "    send: {103: '${kpj_typo}'}\n    with: {pan: '1', pin: '1'}\n")
    assert main(["scenario", "run", str(path), "--target", "127.0.0.1:9"]) == 1
    out = capsys.readouterr().out
    assert "s.yaml:4: step 'step 2': unknown variable ${kpj_typo}" in out


async def test_a_failed_expectation_shows_the_masked_diff(
        amqtt_stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """
name: expecting a decline that does not come
steps:
  - name: approved really
    template: balance_inquiry
    send: {}
    with: {pan: "5264220000100010", pin: "123456"}
    expect: {39: "55", 2: "5264220000100028", 38: absent, 11: echo}
""")
    report = tmp_path / "r.json"
    status = await asyncio.to_thread(main, [
        "scenario", "run", str(path), "--target", f"127.0.0.1:{amqtt_stack.settings.switch.port}",
        "--json", str(report)])
    out = capsys.readouterr().out
    assert status == 1
    assert "39: expected '55', got '00'" in out
    assert "2: expected '526422******0028', got '526422******0010'" in out
    assert "38: expected absent, got" in out
    assert "11:" not in out.split("step 1")[1].split("field")[0]  # the echo held
    assert "5264220000100010" not in out and "5264220000100028" not in out
    assert "[8 bytes, not shown]" in out  # field 52
    failures = json.loads(report.read_text())["scenarios"][0]["steps"][0]["failures"]
    assert {f["key"] for f in failures} == {"39", "2", "38"}
    assert "5264220000100010" not in report.read_text()


async def test_capture_wait_repeat_and_parallel(amqtt_stack: Stack, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """
name: the step kinds together
vars: {pan: "5264220000100028", pin: "246810"}
steps:
  - template: balance_inquiry
    send: {}
    expect: {39: "00"}
    capture: {first_balance: 54, approval: 38}
  - wait: 0.05
  - repeat: 3
    steps:
      - parallel:
          - template: balance_inquiry
            send: {}
            expect: {39: "00", 54: "${first_balance}", 38: {regex: "\\\\d{6}"}}
          - template: network_management
            send: {70: "301"}
            expect: {39: "00", 70: echo}
""")
    status = await asyncio.to_thread(main, [
        "scenario", "run", str(path), "--target", f"127.0.0.1:{amqtt_stack.settings.switch.port}",
        "--verbose"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 passed, 0 failed, 0 errors, 0 skipped; 8 steps" in out
    assert "ok  step 3.3.1.2" in out


def test_a_link_not_given_is_an_error_saying_which_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "name: x\nsteps:\n  - hsm: {command: NC}\n")
    assert main(["scenario", "run", str(path), "--target", "127.0.0.1:9"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("ERROR x") and "needs --hsm (a hsm step)" in out
    assert "0 passed, 0 failed, 1 errors" in out


async def test_json_to_standard_output_is_json_alone(
        amqtt_stack: Stack, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "name: echo\nsteps:\n  - template: network_management\n"
                           "    send: {70: '301'}\n    expect: {39: '00', 70: echo}\n")
    status = await asyncio.to_thread(main, [
        "scenario", "run", str(path), "--target", f"127.0.0.1:{amqtt_stack.settings.switch.port}",
        "--json", "-"])
    out, err = capfd.readouterr()
    assert status == 0
    summary = json.loads(out)["summary"]
    assert (summary["passed"], summary["steps"], summary["ok"]) == (1, 1, True)
    assert summary["steps_per_second"] > 0
    assert "PASS  echo" in err
