"""The README's "each part also runs alone" commands, run as written (only the port numbers
changed, and the data directory and ports given as ATMSIM_* variables), each in a process
of its own, on Mosquitto and on the pip-only amqtt: the inquiry gets 00."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, require_broker

ROOT = Path(__file__).resolve().parents[2]
READY = {"broker": "broker listening on", "hsm": "HSM listening on",
         "ledger": "answering on", "switch": ", MQTT mqtt://"}


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    at = text.index("Each part also runs alone")
    block = re.search(r"```sh\n(.*?)```", text[at:], re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines()
            if line.startswith("atmsim ")]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in reversed(started):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(process: subprocess.Popen[str], text: str, within: float = 30) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + within
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no {text!r} from {process.args}: {''.join(seen)}")


@pytest.mark.parametrize("kind", ["nats", "amqtt", "mosquitto"])
def test_the_readme_parts_alone_answer_an_inquiry(kind: str, tmp_path: Path,
                                                  processes: list[subprocess.Popen[str]]
                                                  ) -> None:
    require_broker(kind)
    mqtt, hsm, switch = free_port(), free_port(), free_port()
    env = {**os.environ, "ATMSIM_DATA_DIR": str(tmp_path / "data"), "ATMSIM_MQTT_BROKER": kind,
           "ATMSIM_MQTT_PORT": str(mqtt), "ATMSIM_HSM_PORT": str(hsm),
           "ATMSIM_SWITCH_PORT": str(switch), "PYTHONUNBUFFERED": "1"}
    commands = readme_commands()
    assert [c.split()[1] for c in commands] == ["broker", "hsm", "ledger", "switch", "inquire"]
    for command in commands[:-1]:
        argv = command.replace("1883", str(mqtt)).replace("1500", str(hsm)).split()
        process = subprocess.Popen([sys.executable, "-m", "atmsim.shell.cli", *argv[1:]], cwd=ROOT,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        processes.append(process)
        line = _wait_for(process, READY[argv[1]])
        assert "***" in line or argv[1] in ("broker", "hsm")  # the account, never its password
    result = subprocess.run([sys.executable, "-m", "atmsim.shell.cli", *commands[-1].split()[1:]],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 00 " in result.stdout.splitlines()[0]
