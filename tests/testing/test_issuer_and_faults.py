"""The plugin's ``mock_issuer`` and ``faults`` fixtures: the stack answers by rules a test
gives, and faults a test puts on a hop or a part show in what the ATM gets."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from atmsim import AtmClient, HostTimeout, HostUnavailable
from atmsim.kernel.faults import FaultError
from atmsim.kernel.rules import RuleError
from atmsim.testing.harness import Faults, HsmClient

BUDI, SITI = ("5264220000100010", "123456"), ("5264220000100028", "246810")


async def _until_approved(atm: AtmClient, within: float = 10.0) -> str:
    """Inquire until approved (the stack recovering from a fault): the last code."""
    deadline, code = time.monotonic() + within, ""
    while time.monotonic() < deadline:
        try:
            code = (await atm.inquire(*BUDI)).response_code
        except HostUnavailable:
            code = "no connection"
        if code == "00":
            break
        await asyncio.sleep(0.1)
    return code


async def test_a_mock_issuer_answers_by_the_rules_a_test_gives(atm, mock_issuer) -> None:  # type: ignore[no-untyped-def]
    mock_issuer([{"match": {"pan_prefix": "526422000010001"},
                  "respond": {"code": "62", "fields": {"44": "RULE62"}}}])
    declined = await atm.inquire(*BUDI)
    assert declined.response_code == "62" and declined.response["44"].strip() == "RULE62"
    assert (await atm.inquire(*SITI)).approved  # no rule for Siti: answered as usual

    mock_issuer(ledger="rules: [{match: {type: balance}, error: database gone}]")
    assert (await atm.inquire(*BUDI)).response_code == "96"  # the first rules are gone


async def test_a_mock_issuer_reads_a_rules_file_and_refuses_a_bad_one(
        atm: AtmClient, mock_issuer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "silent.yaml"
    rules.write_text("- {match: {mti: '0200', terminal: BNI00001}, action: drop}\n")
    mock_issuer(rules)
    with pytest.raises(HostTimeout):
        await atm.inquire(*BUDI, timeout=0.5)
    assert (await atm.echo())["39"] == "00"  # only 0200s are dropped

    with pytest.raises(RuleError, match="cannot match on 'termnal'"):
        mock_issuer([{"match": {"termnal": "BNI00001"}, "action": "drop"}])


async def test_the_hsm_hop_cut_off_gives_91_then_service_resumes(
        atm: AtmClient, faults: Faults) -> None:
    with faults.partition("switch-hsm"):
        assert (await atm.inquire(*BUDI)).response_code == "91"
    assert await _until_approved(atm) == "00"


async def test_a_killed_hsm_gives_91_and_is_started_again(atm: AtmClient, faults: Faults,
                                                           hsm: HsmClient) -> None:
    killed = faults.kill("hsm")
    assert (await atm.inquire(*BUDI)).response_code == "91"
    killed.end()
    assert (await hsm.command("NC")).error == "00"
    assert await _until_approved(atm) == "00"


async def test_a_delay_on_the_atm_hop_slows_every_answer(atm: AtmClient,
                                                         faults: Faults) -> None:
    with faults.delay("atm-switch", 0.3):
        slowed = await atm.inquire(*BUDI)
    assert slowed.approved and slowed.latency_ms >= 2 * 300  # held both ways


async def test_a_partition_on_the_atm_hop_cuts_the_atm_off_until_it_ends(
        atm: AtmClient, faults: Faults) -> None:
    cut = faults.partition("atm-switch")
    await asyncio.sleep(0.1)
    with pytest.raises(HostUnavailable):
        await atm.inquire(*BUDI)
    cut.end()
    assert await atm.wait_connected(10)  # the fixture's ATM reconnects by itself
    assert (await atm.inquire(*BUDI)).approved


async def test_a_fault_schedule_runs_from_now_and_logs_its_events(
        atm: AtmClient, faults: Faults) -> None:
    run = faults.run({"faults": [{"name": "HSM away", "hop": "switch-hsm",
                                  "kind": "partition", "at": 0, "for": 0.6}]}, seed=3)
    assert (await atm.inquire(*BUDI)).response_code == "91"
    events = await run.finished()
    assert [(e["event"], e["name"], e["at"]) for e in events] == [
        ("starts", "HSM away", 0.0), ("ends", "HSM away", 0.6)]
    assert await _until_approved(atm) == "00"


def test_a_wrong_hop_is_refused_in_a_sync_test(faults: Faults) -> None:
    with pytest.raises(FaultError, match="hop must be one of atm-switch"):
        faults.drop("atm-hsm")
