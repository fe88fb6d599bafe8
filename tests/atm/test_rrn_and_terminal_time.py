"""Field 37 is unique per terminal and day; the ATM's clock, 0200 and receipt agree.

The terminal's local time (WIB for Jakarta, or ``atm.time_zone``) is what fields 12/13
carry, what the RRN's day and hour are made of, what the receipt prints and what the
screen clock shows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from terminal_ui.app import AtmApp
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.transactions import (
    JAKARTA,
    CardData,
    balance_inquiry_request,
    retrieval_reference,
)
from terminal_ui.screens.idle import IdleScreen
from terminal_ui.screens.outcome import ReceiptScreen, ResultScreen
from terminal_ui.screens.pin import PinScreen
from tests.atm.fake_switch import VALID_54, fake_switch
from tests.atm.pilot import atm_config, on_screen, press, text_of, to_kpj_source, until
from tests.load.helpers import atmsim_load

CARD = CardData("5264220000100010", "3012", "5264220000100010=3012101")
PIN_BLOCK = "0123456789ABCDEF"
# 22:30:05 UTC on 1 December is 05:30:05 WIB on 2 December (day 336 of 2026).
LATE_EVENING_UTC = datetime(2026, 12, 1, 22, 30, 5, tzinfo=UTC)


def test_1000_consecutive_stans_of_one_terminal_give_1000_distinct_rrns() -> None:
    link = AtmHostLink("127.0.0.1", 9, terminal_id="BNI00001")  # never connected
    # All in the same hour: the old YYDDDhh + STAN cut to 12 gave ten STANs one RRN.
    rrns = [balance_inquiry_request(CARD, PIN_BLOCK, terminal_id="BNI00001",
                                    stan=link.next_stan(), now=LATE_EVENING_UTC)["37"]
            for _ in range(1000)]
    assert len(set(rrns)) == 1000
    assert all(len(rrn) == 12 and rrn.isdigit() for rrn in rrns)


def test_rrns_across_a_whole_day_and_a_stan_wrap_stay_distinct() -> None:
    # A STAN sequence that wraps from 999999 to 000001, spread over one Jakarta day.
    stans = [f"{(999_500 + n) % 999_999 + 1:06d}" for n in range(1000)]
    start = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 00:00 WIB on 2 December
    moments = [(start + timedelta(seconds=86 * n)).astimezone(JAKARTA) for n in range(1000)]
    assert {m.date() for m in moments} == {moments[0].date()}
    rrns = {retrieval_reference(moment, stan) for moment, stan in zip(moments, stans,
                                                                      strict=True)}
    assert len(rrns) == 1000


def test_rrn_day_and_hour_are_those_of_fields_12_and_13() -> None:
    request = balance_inquiry_request(CARD, PIN_BLOCK, terminal_id="BNI00001", stan="000123",
                                      now=LATE_EVENING_UTC)
    assert (request["13"], request["12"]) == ("1202", "053005")  # WIB, the next day
    assert request["7"] == "1201223005"  # transmission time stays UTC
    assert request["37"] == "633605000123"  # 2026 → 6, day 336, 05h, the STAN


async def test_rrns_on_the_wire_from_atmsim_load_are_unique_and_end_in_the_stan(
        tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    async with fake_switch(VALID_54) as switch:
        run = await atmsim_load("--switch", f"127.0.0.1:{switch.port}", "--atms", "1",
                                "--concurrency", "8", "--count", "1000", "--wrong-pin", "0",
                                "--unknown-kpj", "0", "--json", str(report), "--no-progress")
        requests = list(switch.requests)
    assert run.code == 0, run.stdout + run.stderr
    assert json.loads(report.read_text())["response_codes"]["00"]["count"] == 1000
    assert len(requests) == 1000 and {r["41"] for r in requests} == {"BNI00002"}
    rrns = [r["37"] for r in requests]
    assert len(set(rrns)) == 1000
    assert all(re.fullmatch(r"\d{12}", rrn) for rrn in rrns)
    assert all(r["37"].endswith(r["11"]) for r in requests)


async def _receipt_for(tmp_path: Path, **config: object) -> tuple[AtmApp, dict[str, str], str]:
    async with fake_switch(VALID_54) as switch:
        app = AtmApp(atm_config(switch.port, tmp_path, clock=lambda: LATE_EVENING_UTC,
                                **config))
        async with app.run_test(size=(80, 24)) as pilot:
            await on_screen(pilot, IdleScreen)
            clock = text_of(app, "#clock")
            await press(pilot, "1", "a")
            await on_screen(pilot, PinScreen)
            await press(pilot, *"123456", "enter")
            await to_kpj_source(pilot)
            await press(pilot, "a")
            await on_screen(pilot, ResultScreen)
            await press(pilot, "i")
            await on_screen(pilot, ReceiptScreen)
            await press(pilot, "a")
            await until(pilot, lambda: app.last_receipt_path is not None)
            assert app.last_receipt_path is not None
            return app, switch.requests[0], clock + "\n" + app.last_receipt_path.read_text()


async def test_receipt_and_clock_show_jakarta_time_the_same_as_fields_12_13(
        tmp_path: Path) -> None:
    _, request, shown = await _receipt_for(tmp_path)
    clock, receipt = shown.split("\n", 1)
    assert clock == "02/12/2026 05:30 WIB"
    stamp = re.search(r"(\d\d)/(\d\d)/(\d{4}) +(\d\d):(\d\d):(\d\d) WIB", receipt)
    assert stamp is not None, receipt
    day, month, _year, hh, mm, ss = stamp.groups()
    assert request["13"] == month + day and request["12"] == hh + mm + ss
    assert request["37"] in receipt


async def test_a_configured_terminal_time_zone_is_used_everywhere(tmp_path: Path) -> None:
    _, request, shown = await _receipt_for(tmp_path, time_zone="Asia/Jayapura")
    assert shown.startswith("02/12/2026 07:30 WIT")  # UTC+9
    assert (request["13"], request["12"]) == ("1202", "073005")
    assert "07:30:05 WIT" in shown and request["37"].startswith("633607")


def test_jakarta_time_without_a_zone_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from terminal_ui.device import clock

    def no_database(name: str) -> None:
        raise clock.ZoneInfoNotFoundError(name)

    monkeypatch.setattr(clock, "ZoneInfo", no_database)
    zone = clock.terminal_zone("Asia/Jakarta")
    moment = LATE_EVENING_UTC.astimezone(zone)
    assert (moment.hour, clock.zone_label(moment)) == (5, "WIB")
    with pytest.raises(ValueError, match="not a known time zone"):
        clock.terminal_zone("Asia/Makassar")


def test_an_unknown_terminal_time_zone_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    env.update(ATMSIM_DATA_DIR=str(tmp_path), ATMSIM_ATM_TIME_ZONE="Mars/Olympus_Mons")
    run = subprocess.run([sys.executable, "-m", "atmsim.shell.cli", "atm", "--switch",
                          "127.0.0.1:9"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert "'Mars/Olympus_Mons' is not a known time zone" in run.stderr
