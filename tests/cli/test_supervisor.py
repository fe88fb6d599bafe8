"""``atmsim up`` runs each part as its own supervised process (issue 13): four children,
a killed part reported in one line and started again, one Ctrl-C stopping them all with
no process left behind, a supervisor killed outright taking its parts with it, and
``--single-process`` still the one-process stack.

Real processes on free loopback ports; one supervised back end is shared by the tests of
this module that need it (in order: the last one stops it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli.helpers import ATMSIM, clean_env, port_is_free
from tests.conftest import free_port

PAN, PIN = "5264220000100010", "123456"
PARTS = ("broker", "hsm", "ledger", "switch")
# Ctrl-C stops every part within this (the promise).
CTRL_C_LIMIT = 3.0
# Waits for something a process will print; a hang fails the test at it.
WAIT = 60.0


@dataclass
class Up:
    """A running ``atmsim up``: its process, ports, and what it printed so far."""

    process: subprocess.Popen[str]
    switch: int
    hsm: int
    mqtt: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def _read(self, stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self.changed:
                into.append(line.rstrip("\n"))
                self.changed.notify_all()

    def start_reading(self) -> None:
        for stream, into in ((self.process.stdout, self.stdout),
                             (self.process.stderr, self.stderr)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()

    def wait_for(self, lines: list[str], pattern: str, after: int = 0) -> re.Match[str]:
        """The first line from ``after`` on that matches ``pattern``."""
        deadline = time.monotonic() + WAIT
        with self.changed:
            while True:
                for line in lines[after:]:
                    found = re.search(pattern, line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                ended = self.process.poll() is not None
                # An ended process: its last lines may still be on their way, no more.
                if left <= 0 or (ended and not self.changed.wait(0.5)):
                    raise AssertionError(f"no line like {pattern!r}: {lines}")
                if not ended:
                    self.changed.wait(min(left, 0.5))

    def pids(self) -> dict[str, int]:
        line = self.wait_for(self.stdout, r"^  pids    (.*?)  \(").group(1)
        return {part: int(pid) for part, pid in (item.split() for item in line.split(", "))}


def start_up(data_dir: Path, *extra: str) -> Up:
    switch, hsm, mqtt = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [*ATMSIM, "up", "--data-dir", str(data_dir), "--switch-port", str(switch),
         "--hsm-port", str(hsm), "--mqtt-port", str(mqtt), *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env())
    up = Up(process, switch, hsm, mqtt)
    up.start_reading()
    return up


def inquire(up: Up) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ATMSIM, "inquire", "--pan", PAN, "--pin", PIN, "--switch",
                           f"127.0.0.1:{up.switch}"], capture_output=True, text=True,
                          timeout=WAIT, env=clean_env(), check=False)


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and parent_of(int(entry)) == pid]


def alive(pid: int, command: str) -> bool:
    """Whether ``pid`` still runs ``command`` (a pid handed out again runs something else)."""
    return command in command_of(pid) and parent_of(pid) is not None


def wait_gone(pids: dict[int, str], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while True:
        left = [pid for pid, command in pids.items() if alive(pid, command)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def stop(up: Up) -> float:
    """SIGINT, as Ctrl-C; the seconds until the process ended (killed at WAIT)."""
    sent = time.monotonic()
    up.process.send_signal(signal.SIGINT)
    try:
        up.process.wait(WAIT)
    except subprocess.TimeoutExpired:
        up.process.kill()
        up.process.wait()
    return time.monotonic() - sent


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = start_up(tmp_path_factory.mktemp("supervised") / "data")
    try:
        running.wait_for(running.stdout, r"^try:")
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_up_runs_four_child_processes_and_answers(up: Up) -> None:
    pids = up.pids()
    assert list(pids) == list(PARTS)
    for part, pid in pids.items():
        assert parent_of(pid) == up.process.pid, part
        assert command_of(pid).endswith(f"-m atmsim.shell.cli {part} ".replace(
            "ledger ", "ledger serve ")), command_of(pid)
    assert set(children_of(up.process.pid)) == set(pids.values())
    inquiry = inquire(up)
    assert inquiry.returncode == 0, inquiry.stdout + inquiry.stderr
    assert inquiry.stdout.startswith("526422******0010  00 approved")
    # Each part's log comes out of the supervisor, named and masked.
    found = up.wait_for(up.stderr, r"^\[switch\] .* 0200 0210 .* pan=(\S+) rc=00")
    assert found.group(1) == "526422******0010"
    assert up.wait_for(up.stderr, r"^\[hsm\] .*HSM listening on")
    assert not any(PAN in line for line in up.stderr)  # (the "try:" line shows a demo card)


@pytest.mark.parametrize("part", ["ledger", "hsm"])
def test_a_killed_part_is_one_line_and_comes_back(up: Up, part: str) -> None:
    old = up.pids()[part]
    name = "HSM" if part == "hsm" else part
    seen = len(up.stderr)
    os.kill(old, signal.SIGKILL)
    up.wait_for(up.stderr, rf"^atmsim: {name} exited with code -9; restarting in 0\.5 s$",
                seen)
    new = int(up.wait_for(up.stderr, rf"^atmsim: {name} is back \(pid (\d+)\)$",
                          seen).group(1))
    assert new != old and parent_of(new) == up.process.pid
    reports = [line for line in up.stderr[seen:] if line.startswith("atmsim: ")]
    assert reports == [f"atmsim: {name} exited with code -9; restarting in 0.5 s",
                       f"atmsim: {name} is back (pid {new})"]
    inquiry = inquire(up)
    assert inquiry.returncode == 0, inquiry.stdout + inquiry.stderr
    assert "00 approved" in inquiry.stdout
    assert "Traceback" not in "\n".join(up.stderr)


def test_one_ctrl_c_stops_every_part_and_leaves_nothing(up: Up) -> None:
    parts = {pid: "atmsim.shell.cli" for pid in children_of(up.process.pid)}
    assert len(parts) == 4
    grandchildren = {pid: command_of(pid) for child in parts for pid in children_of(child)}
    took = stop(up)
    assert up.process.returncode == 0, up.stderr
    assert took < CTRL_C_LIMIT, f"Ctrl-C took {took:.1f} s"
    assert wait_gone({**parts, **grandchildren}, 0.5) == []
    assert port_is_free(up.switch) and port_is_free(up.hsm) and port_is_free(up.mqtt)
    assert up.stdout[-1] == "stopping"
    assert "Traceback" not in "\n".join(up.stderr)


def test_a_supervisor_killed_outright_takes_its_parts_along(tmp_path: Path) -> None:
    up = start_up(tmp_path / "data")
    try:
        pids = up.pids()
        grandchildren = {pid: command_of(pid) for pid in children_of(pids["broker"])}
        assert grandchildren, "the broker part has no broker process"
    finally:
        up.process.kill()
        up.process.wait()
    left = wait_gone({**{pid: "atmsim.shell.cli" for pid in pids.values()}, **grandchildren},
                     CTRL_C_LIMIT + 2)
    assert left == [], {pid: command_of(pid) for pid in left}


def test_a_part_that_fails_to_start_is_one_line_and_stops_the_rest(tmp_path: Path) -> None:
    """The HSM is up when the ledger fails (a broker URL nobody answers): the ledger's own
    line, exit 2, and the HSM stopped again."""
    closed, switch, hsm = free_port(), free_port(), free_port()
    run = subprocess.run([*ATMSIM, "up", "--data-dir", str(tmp_path), "--switch-port",
                          str(switch), "--hsm-port", str(hsm), "--mqtt",
                          f"mqtt://127.0.0.1:{closed}"], capture_output=True, text=True,
                         timeout=WAIT, env=clean_env(), check=False)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        f"atmsim: cannot connect to the MQTT broker mqtt://127.0.0.1:{closed}: "
        f"cannot reach 127.0.0.1:{closed}: Connection refused"]
    assert port_is_free(hsm) and port_is_free(switch)


def test_single_process_is_the_one_process_stack(tmp_path: Path) -> None:
    up = start_up(tmp_path / "data", "--single-process")
    try:
        up.wait_for(up.stdout, r"^try:")
        assert not any(line.startswith("  pids") for line in up.stdout)
        # Its one child is the broker program itself, no atmsim part.
        children = children_of(up.process.pid)
        assert len(children) == 1 and "atmsim.shell.cli" not in command_of(children[0])
        inquiry = inquire(up)
        assert inquiry.returncode == 0, inquiry.stdout + inquiry.stderr
        assert "00 approved" in inquiry.stdout
    finally:
        took = stop(up)
    assert up.process.returncode == 0 and took < CTRL_C_LIMIT
    assert wait_gone({child: command_of(child) for child in children}, 0.5) == []
