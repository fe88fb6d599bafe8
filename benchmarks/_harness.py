"""What the benchmark scripts share: free ports, child processes, CPU accounting, medians.

Everything runs on 127.0.0.1. Child processes are started in their own session and are
stopped by their process ID (SIGTERM, then SIGKILL), never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "free_port", "wait_for_port", "Child", "cpu_seconds", "descendants",
           "process_label", "start_in_order", "stop_parts", "running_bare_server",
           "run_load", "median", "machine_line", "LoadFigures"]

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = [sys.executable, str(ROOT / "benchmarks" / "launch.py")]
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_label(pid: int) -> str:
    """What a process of the stack is: its ``atmsim`` command (``switch``, ``ledger``...),
    or its program's name (``mosquitto``, ``nats-server``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return str(pid)
    if "atmsim.shell.cli" in argv:
        rest = argv[argv.index("atmsim.shell.cli") + 1:]
        return rest[0] if rest else "atmsim"
    if len(argv) > 2 and argv[1].endswith(("launch.py", "/atmsim")):
        return "supervisor"
    return Path(argv[0]).name if argv else str(pid)


def descendants(pid: int) -> list[int]:
    """The process and every process below it (the embedded broker is a grandchild)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


@dataclass
class Child:
    """One ``atmsim`` command as a child process, with its output in a file."""

    name: str
    args: list[str]
    log_dir: Path
    loop: str = "asyncio"
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None  # a whole command line instead of an atmsim command
    process: subprocess.Popen[bytes] | None = None
    root: Path = ROOT  # the checkout whose code runs (another one for an A/B comparison)

    def start(self) -> None:
        log = open(self.log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by Popen
        launch = [sys.executable, str(self.root / "benchmarks" / "launch.py")]
        command = self.command or [*launch, "--loop", self.loop, "--", *self.args]
        self.process = subprocess.Popen(
            command, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **self.env}, cwd=self.root)
        log.close()

    def pids(self) -> list[int]:
        return descendants(self.process.pid) if self.process else []

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_in_order(parts: Sequence[Child], ready: dict[str, Callable[[], None]]) -> None:
    """Start ``parts`` one by one; after each, wait with the ``ready`` check of the first
    key its name starts with (none: go on at once)."""
    for part in parts:
        part.start()
        for prefix, check in ready.items():
            if part.name.startswith(prefix):
                check()
                break


def stop_parts(parts: Sequence[Child], logs: Path) -> None:
    """Stop ``parts`` in reverse order; while an exception is on its way out (a part that
    did not start, a run that failed), show the end of every part's log on stderr."""
    for part in reversed(parts):
        part.stop()
    if sys.exc_info()[0] is not None:
        for log in sorted(logs.iterdir()):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}",
                  file=sys.stderr)


@contextlib.contextmanager
def running_bare_server(loop: str = "uvloop") -> Iterator[tuple[int, Child]]:
    """(b) the bare server (``bare_server.py``) on a free port: the port and the process."""
    with tempfile.TemporaryDirectory(prefix="atmsim-bare-") as tmp:
        port = free_port()
        server = Child("bare server", [], Path(tmp), loop, command=[
            sys.executable, str(ROOT / "benchmarks" / "bare_server.py"), "--port", str(port),
            "--loop", loop])
        server.start()
        try:
            wait_for_port(port)
            yield port, server
        finally:
            server.stop()


@dataclass(frozen=True)
class LoadFigures:
    throughput: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    answered: int
    timeouts: int
    errors: int
    codes: dict[str, int]
    cpu_s: dict[str, float]  # CPU seconds per part during the run

    @property
    def cpu_us_per_inquiry(self) -> dict[str, float]:
        if not self.answered:
            return {}
        return {name: seconds * 1e6 / self.answered for name, seconds in self.cpu_s.items()}


def run_load(switch_port: int, shape: Sequence[str], parts: Sequence[Child], *,
             loop: str = "asyncio", extra: Sequence[str] = ()) -> LoadFigures:
    """Run ``atmsim load`` as its own process against the switch; CPU per part measured."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [*LAUNCH, "--loop", "asyncio", "--", "load", "--switch",
                   f"127.0.0.1:{switch_port}", "--no-progress", "--loop", loop,
                   "--json", str(report), *shape, *extra]
        before: dict[str, list[tuple[int, float]]] = {}
        for part in parts:
            pids = part.pids()
            for pid in pids:
                # A supervisor's children each get a line of their own (its part's name).
                name = part.name if len(pids) == 1 else f"{part.name}: {process_label(pid)}"
                before.setdefault(name, []).append((pid, cpu_seconds(pid)))
        generator = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, cwd=ROOT)
        _, stderr = generator.communicate(timeout=600)
        cpu = {name: sum(cpu_seconds(pid) - was for pid, was in pids)
               for name, pids in before.items()}
        if generator.returncode not in (0, 1):
            raise RuntimeError(f"atmsim load failed: {stderr.decode(errors='replace')}")
        doc: dict[str, Any] = json.loads(report.read_text())
    # The generator's own account covers the measured run only, not its start-up.
    cpu["load generator"] = doc["generator_cpu_s"]
    lat = doc["latency_ms"]
    return LoadFigures(doc["throughput_per_s"], lat.get("p50", 0.0), lat.get("p99", 0.0),
                       lat.get("max", 0.0), doc["answered"], doc["timeouts"], doc["errors"],
                       {c: v["count"] for c, v in doc["response_codes"].items()}, cpu)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"load average {load}")
