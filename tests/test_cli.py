"""The command line as a user runs it: real processes, real ports, a fresh data directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_CARDS
from tests.conftest import free_port

ATMSIM = [sys.executable, "-m", "atmsim.shell.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    env.update({"ATMSIM_DATA_DIR": str(data_dir), "ATMSIM_SWITCH_PORT": str(free_port()),
                "ATMSIM_HSM_PORT": str(free_port()), "ATMSIM_MQTT_PORT": str(free_port()),
                "ATMSIM_MQTT_BROKER": "amqtt"})
    return env


def test_demo_headless_prints_every_card_outcome(data_dir: Path) -> None:
    run = subprocess.run(ATMSIM + ["demo", "--headless"], env=_env(data_dir), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "526422******0010  00 approved" in out
    assert "KPJ 10012345678  B**i S*****o  AKTIF  Saldo JHT Rp" in out
    assert "NONAKTIF" in out
    assert "57 KPJ belongs to someone else" in out
    assert "526422******0051  25 KPJ or participant not found" in out
    assert "14 unknown card" in out
    for demo in DEMO_CARDS:
        assert demo.pan not in out + run.stderr
    assert "Traceback" not in run.stderr
    assert (data_dir / "switch" / "cards.db").exists() and (data_dir / "ledger").is_dir()


def test_up_then_inquire_from_another_shell(data_dir: Path) -> None:
    env = _env(data_dir)
    up = subprocess.Popen(ATMSIM + ["up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        assert up.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if line.startswith("try:") or not line:
                break
        banner = "".join(lines)
        assert f"127.0.0.1:{env['ATMSIM_SWITCH_PORT']}" in banner, banner
        assert f"127.0.0.1:{env['ATMSIM_HSM_PORT']}" in banner
        switch = f"127.0.0.1:{env['ATMSIM_SWITCH_PORT']}"
        inquiry = subprocess.run(ATMSIM + ["inquire", "--pan", "5264220000100010", "--pin",
                                           "123456", "--switch", switch],
                                 capture_output=True, text=True, timeout=60, env=env)
        assert inquiry.returncode == 0, inquiry.stdout + inquiry.stderr
        out = inquiry.stdout
        assert out.startswith("526422******0010  00 approved")
        assert "Saldo JHT Rp" in out and "0200 sent:" in out and "0210 received:" in out
        assert "[8 bytes, not shown]" in out
        assert "5264220000100010" not in out
        assert not re.search(r"(?<!\d)123456(?!\d)", out)  # the PIN, not inside the KPJ
        wrong = subprocess.run(ATMSIM + ["inquire", "--pan", "5264220000100010", "--pin",
                                         "123457", "--switch", switch],
                               capture_output=True, text=True, timeout=60, env=env)
        assert wrong.returncode == 1 and "55 wrong PIN" in wrong.stdout
        # The banner's hint names no PIN; without --pin it is read from a piped stdin
        # (from the keyboard without echo on a terminal), so it is neither in ps nor in
        # the shell's history.
        assert "--pan 5264220000100010 --switch" in banner
        assert not re.search(r"(?<!\d)123456(?!\d)", banner)
        piped = subprocess.run(ATMSIM + ["inquire", "--pan", "5264220000100010", "--switch",
                                         switch], input="123456\n",
                               capture_output=True, text=True, timeout=60, env=env)
        assert piped.returncode == 0, piped.stdout + piped.stderr
        assert piped.stdout.startswith("526422******0010  00 approved")
        assert not re.search(r"(?<!\d)123456(?!\d)", piped.stdout + piped.stderr)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(20)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    assert up.returncode == 0
    assert "Traceback" not in (up.stderr.read() if up.stderr else "")


def test_user_errors_are_one_line_without_traceback(data_dir: Path) -> None:
    env = _env(data_dir)
    cases = [
        ["inquire", "--pan", "52642200", "--pin", "123456"],
        ["inquire", "--pan", "5264220000100010", "--pin", "12x4"],
        ["inquire", "--pan", "5264220000100010", "--pin", "123456", "--switch",
         f"127.0.0.1:{free_port()}"],
        ["inquire", "--pan", "5264220000100010", "--pin", "123456", "--switch", "nonsense"],
    ]
    for args in cases:
        run = subprocess.run(ATMSIM + args, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        assert run.stderr.startswith("atmsim: ") and run.stderr.count("\n") == 1, run.stderr
    bad_env = dict(env, ATMSIM_SWITCH_PORT="eighty")
    run = subprocess.run(ATMSIM + ["up"], env=bad_env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "switch.port" in run.stderr and "Traceback" not in run.stderr
