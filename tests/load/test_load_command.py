"""``atmsim load`` against a real stack on loopback: what it sends, reports and leaves."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from atm_switch.journal import TransactionJournal, journal_path
from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.shell.stack import Stack
from tests.e2e.atm import card, inquire, link_to
from tests.load.helpers import atmsim_load, switch_of


def _no_secrets(text: str) -> None:
    for demo in DEMO_CARDS:
        assert demo.pan not in text
    assert "Traceback" not in text


async def test_closed_loop_reports_throughput_latency_and_codes(amqtt_stack: Stack,
                                                               tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run = await atmsim_load("--switch", switch_of(amqtt_stack), "--concurrency", "4",
                            "--count", "60", "--wrong-pin", "0", "--unknown-kpj", "0",
                            "--seed", "7", "--json", str(report), "--no-progress")
    assert run.code == 0, run.stderr
    assert "answered    60" in run.stdout
    assert "timeouts    0" in run.stdout
    assert "00  " in run.stdout and "approved" in run.stdout
    doc = json.loads(report.read_text())
    assert doc["sent"] == doc["answered"] == 60
    assert doc["atms"] == 4 and doc["timeouts"] == 0 and doc["errors"] == 0
    codes = doc["response_codes"]
    # Five demo cards get 00 (Dewi is NONAKTIF but answered); Rudi is no participant: 25.
    assert set(codes) <= {"00", "25"} and codes["00"]["count"] > 0
    lat = doc["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    assert doc["throughput_per_s"] > 0 and doc["machine"]["cores"] >= 1
    _no_secrets(run.stdout + run.stderr + report.read_text())


async def test_open_loop_stops_by_itself_at_its_duration(amqtt_stack: Stack,
                                                         tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    started = time.monotonic()
    run = await atmsim_load("--switch", switch_of(amqtt_stack), "--rate", "40", "--atms", "3",
                            "--duration", "1.5", "--json", str(report), "--no-progress")
    assert run.code == 0, run.stderr
    assert time.monotonic() - started < 20
    doc = json.loads(report.read_text())
    assert 55 <= doc["sent"] <= 61  # 40/s for 1.5 s, on schedule
    assert doc["answered"] == doc["sent"]
    assert "open loop at 40/s" in run.stdout


async def test_wrong_pins_are_answered_55_and_never_block_a_card(amqtt_stack: Stack,
                                                                 tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run = await atmsim_load("--switch", switch_of(amqtt_stack), "--concurrency", "6",
                            "--count", "150", "--wrong-pin", "40%", "--unknown-kpj", "0",
                            "--json", str(report), "--no-progress")
    assert run.code == 0, run.stderr
    doc = json.loads(report.read_text())
    assert doc["response_codes"]["55"]["count"] == doc["kinds"]["wrong PIN"] > 0
    assert "75" not in doc["response_codes"]
    # Every card was left as found: its right PIN still works, and one wrong PIN is only
    # the first of three (55), not the one that blocks it (75).
    async with link_to(amqtt_stack) as link:
        for name in ("Budi", "Siti", "Andi", "Dewi", "Wayan"):
            kpj = "13055500011" if name == "Andi" else None
            _, right = await inquire(link, card(name), kpj=kpj)
            assert right.response_code == "00", name
            _, wrong = await inquire(link, card(name), pin="000000", kpj=kpj)
            assert wrong.response_code == "55", name


async def test_unknown_kpjs_come_back_25_with_seeded_style_cards(amqtt_stack: Stack,
                                                                 tmp_path: Path) -> None:
    cards = tmp_path / "cards.csv"
    budi, siti = card("Budi"), card("Siti")
    cards.write_text(f"pan,pin,expiry,kpj\n{budi.pan},{budi.pin},3012,\n"
                     f"{siti.pan},{siti.pin},3012,\n")
    report = tmp_path / "report.json"
    run = await atmsim_load("--switch", switch_of(amqtt_stack), "--concurrency", "3",
                            "--count", "80", "--cards", str(cards), "--no-demo-cards",
                            "--unknown-kpj", "30%", "--wrong-pin", "0", "--json", str(report),
                            "--no-progress")
    assert run.code == 0, run.stderr
    doc = json.loads(report.read_text())
    unknown = doc["kinds"]["unknown KPJ"]
    assert unknown > 0
    assert doc["response_codes"]["25"]["count"] == unknown
    assert doc["response_codes"]["00"]["count"] == 80 - unknown
    _no_secrets(run.stdout + run.stderr)


async def test_plot_is_a_png_picture(amqtt_stack: Stack, tmp_path: Path) -> None:
    picture = tmp_path / "latency.png"
    run = await atmsim_load("--switch", switch_of(amqtt_stack), "--concurrency", "2",
                            "--count", "40", "--plot", str(picture), "--no-progress")
    assert run.code == 0, run.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000  # two panels, not an empty canvas


async def _silent_switch(*, hang_up: bool = False) -> tuple[asyncio.Server, int]:
    """Signs terminals on, then never answers an inquiry (or hangs up on it)."""
    from atmsim.kernel.wire import Framing, default_profile, read_frame

    profile, framing = default_profile(), Framing()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (raw := await read_frame(reader, framing)) is not None:
            message = profile.decode(raw)
            if message["t"] == "0800":
                reply = {"t": "0810", **{k: message[k] for k in ("7", "11", "41", "70")},
                         "39": "00"}
                reply = dict(sorted(reply.items(), key=lambda kv: -1 if kv[0] == "t"
                                    else int(kv[0])))
                writer.write(framing.frame(profile.encode(reply)))
            elif hang_up:
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_unanswered_inquiries_are_counted_as_timeouts_and_the_run_ends(
        tmp_path: Path) -> None:
    server, port = await _silent_switch()
    async with server:
        started = time.monotonic()
        run = await atmsim_load("--switch", f"127.0.0.1:{port}", "--concurrency", "2",
                                "--count", "4", "--timeout", "0.5", "--no-progress",
                                "--data-dir", str(tmp_path))
        elapsed = time.monotonic() - started
    assert run.code == 1
    assert "timeouts    4" in run.stdout and "answered    0" in run.stdout
    assert "4 unanswered inquiries reversed (0420)" in run.stdout
    assert "4 still owed in the store-and-forward queue" in run.stdout
    assert elapsed < 15


async def test_atms_whose_switch_hangs_up_stop_and_are_reported(tmp_path: Path) -> None:
    server, port = await _silent_switch(hang_up=True)
    async with server:
        started = time.monotonic()
        run = await atmsim_load("--switch", f"127.0.0.1:{port}", "--concurrency", "3",
                                "--duration", "30", "--no-progress",
                                "--data-dir", str(tmp_path))
        elapsed = time.monotonic() - started
    assert run.code == 1
    assert "3 ATMs lost their connection to the switch" in run.stdout
    assert "errors      3" in run.stdout
    # Their inquiries went out before the line dropped: reversed, owed until a reconnect.
    assert "3 unanswered inquiries reversed (0420)" in run.stdout
    assert "3 still owed in the store-and-forward queue" in run.stdout
    assert elapsed < 15  # the run ends when no ATM is left, not at its 30 s


async def test_timeouts_are_reversed_and_owed_reversals_sent_by_the_next_run(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    data = tmp_path / "load-data"
    await amqtt_stack.stop_ledger()  # every 0200 outlives the 0.3 s the ATMs wait
    run = await atmsim_load("--switch", switch_of(amqtt_stack), "--concurrency", "1",
                            "--count", "2", "--timeout", "0.3", "--wrong-pin", "0",
                            "--unknown-kpj", "0", "--data-dir", str(data), "--no-progress")
    assert run.code == 1, run.stderr  # some inquiries timed out
    assert "timeouts    2" in run.stdout
    assert "2 unanswered inquiries reversed (0420)" in run.stdout
    assert len(list((data / "saf").glob("reversals-*.db"))) == 1
    await amqtt_stack.start_ledger()
    again = await atmsim_load("--switch", switch_of(amqtt_stack), "--concurrency", "1",
                              "--count", "1", "--wrong-pin", "0", "--unknown-kpj", "0",
                              "--data-dir", str(data), "--no-progress")
    assert again.code == 0, again.stderr
    assert "0 still owed in the store-and-forward queue" in again.stdout
    journal = TransactionJournal(journal_path(amqtt_stack.data_dir))
    try:
        reversals = [e for e in journal.entries() if e.kind in ("0420", "0421")]
    finally:
        journal.close()
    # Both reversed, each once (a late 0430 of the first run may have done it already).
    assert {e.response_code for e in reversals} == {"00"}
    assert sum(e.note.startswith("reversed") for e in reversals) == 2
