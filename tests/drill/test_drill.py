"""``atmsim drill``: a short drill on a stack of its own reports each fault's 91s (or the
code the fault really causes) and its recovery, and a seeded schedule gives the same
event log on every run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atmsim.shell.cli import main

FAULTS = """
duration: 3.6
faults:
  - {name: HSM cut off, hop: switch-hsm, kind: partition, at: {between: [0.6, 0.8]}, for: 0.6}
  - {name: database gone, hop: ledger-database, kind: partition, at: 1.8, for: 0.5}
  - {name: HSM killed, part: hsm, kind: kill, at: 2.7, for: 0.4}
"""


def _drill(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, faults: str,
           seed: int, *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    path = tmp_path / "faults.yaml"
    path.write_text(faults)
    events = tmp_path / f"{name}.jsonl"
    assert main(["drill", "--faults", str(path), "--seed", str(seed), "--rate", "25",
                 "--events", str(events), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out), events.read_text()


def _dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int) -> str:
    assert main(["drill", "--faults", str(tmp_path / "faults.yaml"), "--seed", str(seed),
                 "--dry-run"]) == 0
    return capsys.readouterr().out


def test_a_drill_reports_each_faults_91s_and_its_recovery(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, events = _drill(tmp_path, capsys, "run", FAULTS, 5)
    cut, database, killed = report["faults"]

    assert cut["hop"] == "switch-hsm" and cut["first_91_s"] is not None
    assert cut["recovery_s"] is not None and cut["codes_during"].get("91", 0) > 0
    # The ledger answers ERROR without its database: the switch says 96, not 91.
    assert database["first_failure"] == "96" and database["recovery_s"] is not None
    assert killed["part"] == "hsm" and killed["first_91_s"] is not None
    assert killed["recovery_s"] is not None
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert report["codes"]["00"] > 0
    # What ran is what the seed planned.
    assert events == _dry_run(tmp_path, capsys, 5)


def test_the_same_seed_gives_the_same_event_log_twice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faults = """
duration: 1.2
faults:
  - {hop: atm-switch, kind: delay, at: {between: [0.1, 0.5]}, for: {between: [0.2, 0.4]},
     delay: 0.05, jitter: 0.05}
  - {hop: broker-ledger, kind: drop, at: {between: [0.2, 0.6]}, for: 0.3, probability: 0.5}
"""
    _, first = _drill(tmp_path, capsys, "first", faults, 11)
    _, second = _drill(tmp_path, capsys, "second", faults, 11)
    assert first == second and first.count("\n") == 4
    assert _dry_run(tmp_path, capsys, 12) != first


def test_a_bad_faults_file_is_one_line(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("faults: [{hop: ledger-database, kind: delay, at: 1, for: 1}]\n")
    assert main(["drill", "--faults", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "fault 1: kind on ledger-database must be one of drop, partition" in err


def test_lost_and_duplicated_answers_are_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The drill's switch answers terminal BNI00003 twice (a rule), and the ATMs' hop
    # loses everything for a moment: those inquiries are never answered.
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{match: {mti: '0200', terminal: BNI00003}, action: twice}]\n")
    config = tmp_path / "drill.toml"
    config.write_text(f"[switch]\nrules = {str(rules)!r}\n")
    faults = "faults: [{hop: atm-switch, kind: drop, at: 0.4, for: 0.3}]\nduration: 1.4\n"
    report, _ = _drill(tmp_path, capsys, "lossy", faults, 1, "--timeout", "1",
                       "--config", str(config))
    (dropped,) = report["faults"]
    assert dropped["lost"] > 0 and dropped["codes_during"].get("timeout") == dropped["lost"]
    assert report["lost"] == dropped["lost"]
    assert report["duplicated"] > 0 and dropped["duplicated"] > 0
    assert dropped["recovery_s"] is not None


def test_an_event_log_that_cannot_be_written_is_refused_before_the_drill(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults: []\n")
    events = tmp_path / "missing" / "events.jsonl"
    assert main(["drill", "--faults", str(path), "--events", str(events)]) == 2
    assert "directory" in capsys.readouterr().err and not events.exists()
