"""The user's ways in: ``atmsim sms send`` from the shell and the phone terminal (Textual,
driven by Pilot), against the real SMSC, gateway, broker and ledger."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input, RichLog

from atmsim.shell.broker import EmbeddedBroker
from smsc_sim.phone_app import PhoneApp
from tests.sms.conftest import BUDI, Channel, sms_channel

pytestmark = pytest.mark.mosquitto


@pytest.fixture
async def channel(mosquitto: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Channel]:
    async with sms_channel(mosquitto, tmp_path / "ledger.db", tmp_path) as running:
        yield running


async def _atmsim(channel: Channel, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atmsim.shell.cli", "sms", *args, "--data-dir",
        str(channel.data_dir), "--smsc", f"127.0.0.1:{channel.smsc.port}", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_send_prints_the_reply(channel: Channel) -> None:
    code, out, _ = await _atmsim(channel, "send", "--msisdn", "081200000001",
                                 f"DAFTAR SALDO#{BUDI['nik']}#{BUDI['name']}#{BUDI['born']}"
                                 f"#{BUDI['kpj']}")
    assert code == 0 and "berhasil didaftarkan" in out
    code, out, _ = await _atmsim(channel, "send", "--msisdn", "+62 812 0000 0001",
                                 f"SALDO {BUDI['kpj']}")
    assert code == 0 and out.startswith(f"BPJSTK: Saldo JHT KPJ {BUDI['kpj']}")
    code, out, err = await _atmsim(channel, "send", "--msisdn", "0812", "INFO")
    assert code == 2 and err.strip().endswith("is not a phone number (e.g. 081234567890)")
    assert "Traceback" not in err


async def test_the_phone_terminal_shows_the_conversation(channel: Channel) -> None:
    app = PhoneApp(channel.phone("081200000002"))
    async with app.run_test() as pilot:
        log = app.query_one("#conversation", RichLog)

        async def shown(text: str) -> bool:
            for _ in range(100):
                if any(text in str(line.text) for line in log.lines):
                    return True
                await pilot.pause(0.05)
            return False

        assert await shown("connected to the SMSC as 6281200000002")
        app.query_one(Input).value = f"saldo {BUDI['kpj']}"
        await pilot.press("enter")
        assert await shown("> saldo 10012345678")
        assert await shown("< 2757: BPJSTK: Nomor Anda belum terdaftar.")
