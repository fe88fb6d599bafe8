"""An --mqtt broker that is not there is one line and exit 2 within seconds, never a
minute's silence; the password in the URL is masked in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
WITHIN = 5.0  # the promise
MARGIN = 3.0  # interpreter start-up and imports on a loaded 2-core machine


@pytest.mark.parametrize("command", [
    ["up", "--switch-port", "{switch}", "--hsm-port", "{hsm}"],
    ["switch", "--switch-port", "{switch}", "--hsm-port", "{hsm}"],
    ["ledger"],
])
def test_an_unreachable_broker_is_one_line_and_exit_2(command: list[str],
                                                      tmp_path: Path) -> None:
    closed = free_port()
    url = f"mqtt://ledger:s3cr3t-pw@127.0.0.1:{closed}"
    argv = [a.format(switch=free_port(), hsm=free_port()) for a in command]
    env = {**os.environ, "ATMSIM_DATA_DIR": str(tmp_path / "data")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "atmsim.shell.cli", *argv, "--mqtt", url,
                             "--log-level", "WARNING"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert elapsed < WITHIN + MARGIN
    lines = result.stderr.strip().splitlines()
    assert lines == [f"atmsim: cannot connect to the MQTT broker "
                     f"mqtt://ledger:***@127.0.0.1:{closed}: cannot reach 127.0.0.1:{closed}: "
                     "Connection refused"], result.stderr
    assert "s3cr3t-pw" not in result.stdout + result.stderr


def test_wrong_credentials_are_one_line_too(tmp_path: Path, mosquitto_broker: object) -> None:
    from atmsim.shell.broker import EmbeddedBroker

    assert isinstance(mosquitto_broker, EmbeddedBroker)
    url = f"mqtt://switch:wrong-pw@127.0.0.1:{mosquitto_broker.port}"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "atmsim.shell.cli", "switch", "--switch-port",
                             str(free_port()), "--hsm-port", str(free_port()), "--mqtt", url,
                             "--data-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert time.monotonic() - started < WITHIN + MARGIN
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"atmsim: cannot connect to the MQTT broker mqtt://switch:***@127.0.0.1:"
        f"{mosquitto_broker.port}: broker refused the connection")
    assert "Traceback" not in result.stderr and "wrong-pw" not in result.stderr
