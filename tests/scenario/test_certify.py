"""The certification packs against our own parts, over real sockets: the whole switch pack
passes (its opt-in 91 against a stack whose ledger is silenced by the shipped rules file),
the HSM and issuer packs pass, and an HSM with one command disabled makes the pack report
exactly that scenario, in JUnit too."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from atm_switch.card_store import CardStatus
from atmsim.scenarios import RULES_DIR
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.cli import main
from atmsim.shell.provisioning import issue_card, load_lmk
from atmsim.shell.scenario_cli import PACK_ROOT
from atmsim.shell.stack import Stack
from hsm_mock.security import SecuritySettings
from hsm_mock.server import HsmServer
from tests.conftest import stack_settings

# Scenarios of the switch pack that run only against a switch prepared for them (``opt_in``).
OPT_IN = {"21-unavailable.yaml"}

BLOCKABLE = ("5264220000900017", "424242")
RESTRICTED = ("5264220000900025", "515151")


async def certify(*argv: str) -> int:
    # The command runs its own event loop (asyncio.run); the stack runs on the test's.
    return await asyncio.to_thread(main, ["certify", *argv])


async def test_our_switch_passes_the_switch_pack(amqtt_stack: Stack, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = amqtt_stack.settings.data_dir
    lmk = load_lmk("")
    issue_card(data_dir, lmk, BLOCKABLE[0], BLOCKABLE[1], holder="Uji Blokir",
               nik="3171011505850001", kpj="10012345678")
    issue_card(data_dir, lmk, RESTRICTED[0], RESTRICTED[1], holder="Uji Batas",
               nik="3171011505850001", kpj="10012345678", status=CardStatus.BLOCKED)
    # One terminal that requires both a MAC and a sign-on, set as a user would.
    policy = await asyncio.to_thread(main, ["cards", "terminal", "BNI00002", "--mac", "required",
                                            "--sign-on", "required", "--data-dir", str(data_dir)])
    assert policy == 0
    assert "BNI00002  acquirer 009  MAC required  sign-on required" in capsys.readouterr().out
    report = tmp_path / "switch.json"
    status = await certify("--role", "switch", f"127.0.0.1:{amqtt_stack.settings.switch.port}",
                           "--var", "mac_terminal=BNI00002", "--var", "sign_on_terminal=BNI00002",
                           "--var", f"blockable_pan={BLOCKABLE[0]}",
                           "--var", f"blockable_pin={BLOCKABLE[1]}",
                           "--var", f"restricted_pan={RESTRICTED[0]}",
                           "--var", f"restricted_pin={RESTRICTED[1]}", "--json", str(report))
    out = capsys.readouterr().out
    assert status == 0, out
    results = json.loads(report.read_text())
    statuses = {Path(s["file"]).name: s["status"] for s in results["scenarios"]}
    assert {name for name, st in statuses.items() if st == "skipped"} == OPT_IN
    assert {st for name, st in statuses.items() if name not in OPT_IN} == {"passed"}
    assert {"40-reversal.yaml", "41-reversal-unknown.yaml", "42-reversal-format-error.yaml",
            "51-mac-required.yaml", "60-sign-on-required.yaml"} <= set(statuses)
    assert results["summary"]["failed"] == 0 and results["summary"]["steps"] >= 45
    # Every response code path of docs/wire.md (91 from a silent ledger: the test below).
    for code in ("00", "12", "14", "25", "30", "54", "55", "57", "58", "62", "63", "75", "91",
                 "94"):
        assert any(code in s["tags"] for s in results["scenarios"] if s["status"] == "passed"), code
    assert "5264220000100010" not in out
    # The reversal scenario's original was reversed once, however many 0420/0421 came.
    await asyncio.to_thread(main, ["journal", "--data-dir", str(data_dir), "--json",
                                   "--limit", "500"])
    journal = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notes = [e["note"] for e in journal if e["kind"] in ("0420", "0421")]
    assert sum(n.startswith("reversed:") for n in notes) == 1, notes
    assert sum(n.startswith("already reversed:") for n in notes) == 2, notes
    assert sum(n.startswith("unknown original:") for n in notes) == 1, notes


async def test_a_switch_whose_ledger_is_silent_passes_the_91_scenario(
        amqtt_broker: EmbeddedBroker, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.ledger.rules = str(RULES_DIR / "ledger-silent.yaml")  # as [ledger] rules = ...
    scenario = str(PACK_ROOT / "certify" / "switch" / "21-unavailable.yaml")
    async with Stack(settings) as stack:
        target = f"127.0.0.1:{stack.settings.switch.port}"
        skipped = await asyncio.to_thread(main, ["scenario", "run", scenario, "--target", target])
        assert skipped == 1  # nothing ran: not a pass
        assert "opt-in: run with --include needs-rules" in capsys.readouterr().out
        status = await asyncio.to_thread(main, ["scenario", "run", scenario, "--target", target,
                                                "--include", "needs-rules"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "PASS  a ledger that does not answer gets 91" in out


async def test_without_the_test_cards_their_scenarios_say_what_they_need(
        amqtt_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    pack = PACK_ROOT / "certify" / "switch"
    status = await asyncio.to_thread(main, [
        "scenario", "run", str(pack / "19-restricted.yaml"), str(pack / "01-sign-on.yaml"),
        "--target", f"127.0.0.1:{amqtt_stack.settings.switch.port}"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "SKIP  a card the issuer blocked gets 62" in out
    assert "needs --var restricted_pan=...: a card the issuer has blocked" in out


async def test_our_hsm_passes_the_hsm_pack(capsys: pytest.CaptureFixture[str]) -> None:
    async with HsmServer(port=0) as hsm:
        status = await certify("--role", "hsm", f"127.0.0.1:{hsm.port}")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "12 passed, 0 failed, 0 errors, 0 skipped" in out


async def test_an_hsm_with_m8_disabled_fails_exactly_the_mac_scenario(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "hsm.xml"
    async with HsmServer(port=0, disabled_commands={"M8"}) as hsm:
        status = await certify("--role", "hsm", f"127.0.0.1:{hsm.port}", "--junit", str(junit))
    out = capsys.readouterr().out
    assert status == 1
    assert "11 passed, 1 failed" in out
    assert "FAIL  M6 generates the ISO 9797-1 annex B retail MAC" in out
    assert "step 2 'M8 the right MAC' (line 7): expectations not met" in out
    assert "error: expected '00', got '68'" in out
    cases = ET.parse(junit).getroot().findall("./testsuite/testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(cases) == 12
    assert [Path(c.get("classname", "")).name for c in failed] == ["05-mac.yaml"]
    failure = failed[0].find("failure")
    assert failure is not None and "M8 the right MAC" in (failure.get("message") or "")
    assert "got '68'" in (failure.text or "")


async def test_our_ledger_passes_the_issuer_pack(amqtt_stack: Stack,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings = amqtt_stack.settings
    status = await certify("--role", "issuer", settings.mqtt.url,
                           "--data-dir", str(settings.data_dir))
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 passed, 0 failed, 0 errors, 1 skipped" in out
    assert "3171011505850001" not in out


async def test_an_hsm_not_set_as_a_factory_one_fails_exactly_the_security_settings_scenario(
        capsys: pytest.CaptureFixture[str]) -> None:
    # An HSM set up for single-length ZMKs, otherwise factory: a bare 32H ZMK is not read.
    async with HsmServer(port=0, security=SecuritySettings(zmk_length="S")) as hsm:
        status = await certify("--role", "hsm", f"127.0.0.1:{hsm.port}")
    out = capsys.readouterr().out
    assert status == 1
    assert "11 passed, 1 failed" in out
    assert "FAIL  a factory-default HSM's security settings" in out
    assert "step 1 'A0 mode 1 a ZPK under the ZMK given as bare 32H' (line 10)" in out
    assert "error: expected '00', got '15'" in out
