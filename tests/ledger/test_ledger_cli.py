"""``atmsim ledger seed|balance|statement|serve`` as a user runs them: the parser of
``atmsim.shell.ledger_cli`` under an ``atmsim`` parser, real files, a real PostgreSQL, and the
service in a process of its own."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from atmsim.shell import ledger_cli
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC

BUDI, SITI, ANDI, DEWI, WAYAN = DEMO_PARTICIPANTS
ROOT = Path(__file__).resolve().parents[2]
YEAR_KEYS = {"year", "opening_sen", "contributions_sen", "returns_sen", "claims_sen",
             "closing_sen", "return_rate_percent"}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="atmsim")
    ledger_cli.add_parser(top.add_subparsers(dest="command", required=True))
    return top


def atmsim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = ledger_cli.run(parser().parse_args(list(argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("ATMSIM_") and "TEST" not in n
                 and "REQUIRE" not in n]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ATMSIM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_seed_then_balance_and_statement(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    seeded = atmsim(capsys, "ledger", "seed", "--participants", "200", "--seed", "4",
                    "--as-of", "2026-10-31")
    balance = atmsim(capsys, "ledger", "balance", BUDI.kpj)
    statement = atmsim(capsys, "ledger", "statement", WAYAN.kpj)
    as_json = atmsim(capsys, "ledger", "statement", "--json", WAYAN.kpj)
    balance_json = atmsim(capsys, "ledger", "balance", "--json", WAYAN.kpj)

    assert seeded[0] == 0 and "205 participants (5 demo + 200 synthetic, seed 4)" in seeded[1]
    assert (env / "ledger" / "ledger.db").exists() and (env / "switch" / "cards.db").exists()
    assert balance == (0, "KPJ 10012345678  B**i S*****o  PU  AKTIF\nSaldo JHT "
                       "Rp122.209.530,25 per 31/10/2026 (last contribution 2026-09)\n", "")
    code, text, _ = statement
    lines = text.splitlines()
    assert code == 0 and lines[0] == "KPJ 09012300033  W***n S*****a  PU  AKTIF"
    assert "Saldo JHT Rp150.568.686,79 per 31/10/2026" in lines[2]
    assert lines[4].split() == ["year", "opening", "contributions", "returns", "rate", "%",
                                "claims", "closing"]
    assert lines[5].split()[0] == "1995" and lines[-2].split()[0] == "2026"
    assert lines[-2].split()[-1] == "150.568.686,79"
    document = json.loads(as_json[1])
    years = document["years"]
    assert [y["year"] for y in years] == list(range(1995, 2027))
    assert all(set(y) == YEAR_KEYS for y in years)
    assert all(type(y[k]) is int for y in years for k in YEAR_KEYS - {"return_rate_percent"})
    assert years[-1]["closing_sen"] == document["balance_sen"] == 150_568_686_79
    assert json.loads(balance_json[1])["balance_sen"] == 150_568_686_79
    for output in (balance[1], statement[1], as_json[1], balance_json[1]):
        assert WAYAN.nik not in output and "Wayan" not in output and "Budi" not in output


def test_the_same_commands_on_postgresql(capsys: pytest.CaptureFixture[str], env: Path,
                                         postgres_url: str) -> None:
    seeded = atmsim(capsys, "ledger", "--db", postgres_url, "seed", "--participants", "50",
                    "--as-of", "2026-10-31")
    balance = atmsim(capsys, "ledger", "--db", postgres_url, "balance", "--json", SITI.kpj)
    statement = atmsim(capsys, "ledger", "statement", "--db", postgres_url, "--json", SITI.kpj)

    assert seeded[0] == 0 and "postgresql://atmsim:***@" in seeded[1]
    assert "atmsim:atmsim@" not in seeded[1] + seeded[2]  # the password is never printed
    assert json.loads(balance[1])["balance_sen"] == 47_026_673_73
    assert json.loads(statement[1])["years"][-1]["closing_sen"] == 47_026_673_73


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["balance", "1001234567"], 2, "atmsim: KPJ must be exactly 11 digits, got 10 characters"),
    (["balance", "19999999999"], 1, "atmsim: KPJ 19999999999 is not in the ledger at "),
    (["statement", "19999999999"], 1, "atmsim: KPJ 19999999999 is not in the ledger at "),
    (["seed", "--participants", "5"], 2, "already holds 10 participants (use --replace"),
    (["seed", "--as-of", "31-10-2026"], 2, "atmsim: --as-of '31-10-2026': expected a date"),
    (["seed", "--as-of", "1990-01-31", "--replace"], 2, "--as-of must be 1993-02-01 or later"),
    (["seed", "--participants", "-1", "--replace"], 2, "atmsim: --participants cannot be"),
    (["--db", "mysql://x/y", "balance", BUDI.kpj], 2, "atmsim: --db mysql://x/y: use a file"),
    (["--db", "postgresql://u:secret@127.0.0.1:9/x", "balance", BUDI.kpj], 2,
     "atmsim: cannot connect to postgresql://u:***@127.0.0.1:9/x"),
])
def test_mistakes_are_one_line_and_leave_the_ledger_alone(
        capsys: pytest.CaptureFixture[str], env: Path, argv: list[str], code: int,
        message: str) -> None:
    assert atmsim(capsys, "ledger", "seed", "--participants", "5", "--as-of", "2026-10-31")[0] == 0

    result = atmsim(capsys, "ledger", *argv)
    after = atmsim(capsys, "ledger", "balance", BUDI.kpj)

    assert result[0] == code and result[1] == ""
    assert result[2].count("\n") == 1 and message in result[2], result[2]
    assert "secret" not in result[2] and "Traceback" not in result[2]
    assert after[0] == 0 and "Rp122.209.530,25" in after[1]


def test_a_query_does_not_create_a_ledger(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, out, err = atmsim(capsys, "ledger", "balance", BUDI.kpj)

    assert (code, out) == (2, "")
    assert err.startswith("atmsim: no ledger at ") and "atmsim ledger seed" in err
    assert not (env / "ledger" / "ledger.db").exists()


def test_options_before_and_after_the_subcommand_both_count(tmp_path: Path) -> None:
    before = parser().parse_args(["ledger", "--db", "a.db", "balance", BUDI.kpj])
    after = parser().parse_args(["ledger", "balance", "--db", "b.db", BUDI.kpj])
    bare = parser().parse_args(["ledger", "--mqtt", "mqtt://127.0.0.1:1", "--workers", "2"])

    assert (before.db, before.ledger_command) == ("a.db", "balance")
    assert after.db == "b.db"
    assert (bare.ledger_command, bare.mqtt, bare.workers) == (None, "mqtt://127.0.0.1:1", 2)


@pytest.mark.mosquitto
async def test_ledger_without_a_subcommand_serves_until_told_to_stop(
        mosquitto_broker: EmbeddedBroker, tmp_path: Path) -> None:
    driver = ("import sys, argparse; from atmsim.shell import ledger_cli; "
              "p = argparse.ArgumentParser(prog='atmsim'); "
              "ledger_cli.add_parser(p.add_subparsers(dest='command')); "
              "sys.exit(ledger_cli.run(p.parse_args(sys.argv[1:])))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    env["PYTHONPATH"] = str(ROOT)
    serve = subprocess.Popen(
        [sys.executable, "-c", driver, "ledger", "--data-dir", str(tmp_path / "data"),
         "--mqtt", mosquitto_broker.endpoint.secret_url], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        banner = serve.stdout.readline()
        async with MqttBus(mosquitto_broker.endpoint, "cli-test") as bus:
            assert await bus.wait_connected(10)
            reply = await bus.request(BALANCE_REQUEST_TOPIC, {
                "nik": BUDI.nik, "kpj": BUDI.kpj, "channel": "ATM", "terminal_id": "BNI00001",
                "requested_at": datetime.now(UTC).isoformat()}, 10)
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=20)

    assert banner.startswith(f"ledger {tmp_path / 'data' / 'ledger' / 'ledger.db'} answering "
                             f"on {mosquitto_broker.endpoint.url}")
    assert reply["result"] == "OK" and reply["kpj"] == BUDI.kpj
    assert serve.returncode == 0 and "Traceback" not in err
