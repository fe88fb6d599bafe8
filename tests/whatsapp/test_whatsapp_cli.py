"""``atmsim whatsapp``'s mistakes a user can fix: one line, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port


def atmsim(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atmsim.shell.cli", *args,
                           "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=60)


def test_no_broker_is_one_line(tmp_path: Path) -> None:
    done = atmsim("whatsapp", "bot", "--mqtt-port", str(free_port()), "--port",
                  str(free_port()), "--graph-port", str(free_port()), data_dir=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("atmsim: no MQTT broker at ")
    assert "Traceback" not in done.stderr
    # The secrets were made once, for the owner only.
    assert (tmp_path / "whatsapp" / "secrets.json").stat().st_mode & 0o077 == 0


def test_a_bad_number_or_port_is_one_line(tmp_path: Path) -> None:
    bad_number = atmsim("whatsapp", "--wa-id", "08123'; --", data_dir=tmp_path)
    bad_port = atmsim("whatsapp", "bot", "--port", "70000", data_dir=tmp_path)
    assert bad_number.returncode == bad_port.returncode == 2
    assert "--wa-id" in bad_number.stderr and "--port 70000" in bad_port.stderr
    assert "Traceback" not in bad_number.stderr + bad_port.stderr
