"""``atmsim demo --channels`` as a user runs it: one command, every channel against one
ledger, the same balance to the sen on the ATM, SMS 2757 and the JMO portal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atmsim.kernel.money import format_rupiah
from bpjs_ledger.store import LedgerStore
from tests.conftest import free_port


@pytest.mark.parametrize("broker", ["auto", "nats"])  # nats: the pip-only default broker
def test_one_balance_through_every_channel(tmp_path: Path, broker: str) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "ATMSIM_DATA_DIR": str(data)}
    done = subprocess.run(
        [sys.executable, "-m", "atmsim.shell.cli", "demo", "--channels",
         "--switch-port", str(free_port()), "--hsm-port", str(free_port()),
         "--mqtt-port", str(free_port()), "--broker", broker],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    with LedgerStore(data / "ledger" / "ledger.db", seed_demo=False) as store:
        balance = format_rupiah(store.account("10012345678").balance_sen or 0)
    out = done.stdout
    assert f"00 approved, Saldo JHT {balance}" in out
    assert "Saldo JHT KPJ 10012345678 per" in out and balance in out.split("SMS 2757")[1]
    assert f"Cek Saldo JHT {balance}" in out
    assert "tidak melayani informasi saldo JHT" in out  # WhatsApp gives no balance
    assert "the same balance to the sen on every channel that shows one: yes" in out
    assert "Traceback" not in done.stderr and "3171011505850001" not in out
