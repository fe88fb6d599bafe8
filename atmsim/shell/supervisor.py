"""The back end as supervised processes: what ``atmsim up`` and ``atmsim demo`` run by
default (``--single-process``: ``atmsim.shell.stack.Stack`` in one process instead).

The supervisor runs ``Stack.check`` (every one-line start-up error a port, a file or a
setting can cause, before anything starts), then starts each part in order (broker, HSM,
ledger, switch; no broker with an ``--mqtt`` URL) as a child process and waits until it
is ready before the next. What it and a part agree on:

- command: ``python -m atmsim.shell.cli broker | hsm | ledger serve | switch``, the
  commands that run one part alone, with no flags;
- settings: every setting of the supervisor's as an ``ATMSIM_*`` variable
  (``config.settings_env``; no ``ATMSIM_CONFIG``), except ``log.file``, which is empty:
  a part logs to its stderr and the supervisor writes each line to its own log,
  prefixed ``[hsm] `` (``logs.relay_line``; masked there once more);
- stdin ``/dev/null``, a session of its own (Ctrl-C in the terminal reaches the
  supervisor alone, which stops the parts in order), and ``PR_SET_PDEATHSIG``: a part
  gets SIGTERM when the supervisor dies, even by SIGKILL;
- ready: the first line a part prints on stdout (``HSM listening on ...``, printed once
  it listens and is connected); a part that exits first failed, and its last stderr
  line ``atmsim: <error>`` is the supervisor's ``StackError``;
- stop: SIGTERM in reverse order (``STOP_STAGES``), SIGKILL for a part still there
  after its share of ``STOP_LIMIT``.

A part that dies while the back end runs is reported in one line and started again on
the same address after a pause that doubles with each quick death (``Backoff``); the
switch and the ATMs reconnect by themselves. After ``Backoff.give_up_after`` quick deaths
in a row the supervisor gives up: one line, the back end stops, the command exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from atmsim.kernel.bus import MqttEndpoint
from atmsim.shell.broker import choose_broker_kind, die_with_parent
from atmsim.shell.config import Settings, settings_env
from atmsim.shell.logs import relay_line
from atmsim.shell.stack import PARTS, Addresses, Stack, StackError, mqtt_endpoint

__all__ = ["Backoff", "PART_COMMANDS", "Supervisor", "child_environment", "report_line",
           "start_error"]

log = logging.getLogger("atmsim.supervisor")

# The command of each part, after ``python -m atmsim.shell.cli``.
PART_COMMANDS: Mapping[str, tuple[str, ...]] = {
    "broker": ("broker",), "hsm": ("hsm",), "ledger": ("ledger", "serve"),
    "switch": ("switch",)}
# How a part is named in a line for the user (a log line's prefix is the part itself).
_NAMES = {"hsm": "HSM"}

# Seconds a part may take to be ready (a fresh ledger file is made first).
READY_LIMIT = 60.0
# Seconds from the first Ctrl-C until every part has ended, SIGKILL for the late ones:
# inside the 3 s a user waits, and before the supervisor's own forced exit
# (lifecycle.FORCE_EXIT_AFTER).
STOP_LIMIT = 2.0
# The most one part of them may take of it.
PART_STOP_LIMIT = 1.2
# The order they stop in: the start's, reversed; the HSM and the ledger need nothing of
# each other, so they stop together.
STOP_STAGES = (("switch",), ("ledger", "hsm"), ("broker",))
# The longest line read from a part (a longer one is cut).
LINE_LIMIT = 1 << 20


def _name(part: str) -> str:
    return _NAMES.get(part, part)


@dataclass
class Backoff:
    """When to start a part again after it died: ``first`` s after a quick death (one
    within ``steady_after`` s of being ready), doubling with each quick death in a row up
    to ``cap``; None (give up) at the ``give_up_after``-th. A part that was up a while
    starts over from ``first``.

    >>> b = Backoff()
    >>> [b.after_death(uptime=0.2) for _ in range(6)]
    [0.5, 1.0, 2.0, 4.0, 5.0, None]
    >>> b = Backoff()
    >>> b.after_death(0.1), b.after_death(0.1), b.after_death(uptime=3600.0)
    (0.5, 1.0, 0.5)
    """

    first: float = 0.5
    factor: float = 2.0
    cap: float = 5.0
    steady_after: float = 10.0
    give_up_after: int = 6
    quick_deaths: int = 0

    def after_death(self, uptime: float) -> float | None:
        if uptime >= self.steady_after:
            self.quick_deaths = 0
        self.quick_deaths += 1
        if self.quick_deaths >= self.give_up_after:
            return None
        return min(self.cap, self.first * self.factor ** (self.quick_deaths - 1))


def start_error(part: str, error: str | None, code: int | None) -> str:
    """The supervisor's one line for a part that ended before it was ready: the part's own
    line, named as the one-process stack names it (only a broker's failure says whose).

    >>> start_error("switch", "switch cannot listen on 127.0.0.1:8583: address already in use", 2)
    'switch cannot listen on 127.0.0.1:8583: address already in use'
    >>> start_error("broker", "mosquitto exited during start-up; see x/broker.out", 2)
    'broker: mosquitto exited during start-up; see x/broker.out'
    >>> start_error("hsm", None, -9)
    'HSM exited with code -9 during start-up'
    """
    if error is None:
        return f"{_name(part)} exited with code {code} during start-up"
    return f"broker: {error}" if part == "broker" else error


def child_environment(settings: Settings, base: Mapping[str, str] | None = None
                      ) -> dict[str, str]:
    """The environment of a part: ``base`` (default ours) with every setting of
    ``settings`` as its ``ATMSIM_*`` variable, no config file and no log file."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k != "ATMSIM_CONFIG"}
    env.update(settings_env(settings))
    env["ATMSIM_LOG_FILE"] = ""  # its lines come to the supervisor's log
    return env


def report_line(line: str, *, terminal: bool = True) -> None:
    """Tell the user about a part (it died, it is back): ``atmsim: <line>`` on stderr
    when the terminal is ours (``terminal``), and in the log when that is a file."""
    if terminal:
        print(f"atmsim: {line}", file=sys.stderr, flush=True)
    if not terminal or any(isinstance(h, logging.FileHandler)
                           for h in logging.getLogger().handlers):
        log.warning("%s", line)


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # longer than LINE_LIMIT: what was read, cut
            raw = await stream.read(LINE_LIMIT)
        if not raw:
            return
        yield raw.decode(errors="replace").rstrip("\r\n")


class Child:
    """One part's process: started, its output read, stopped. Started again by calling
    ``spawn`` again once it has ended."""

    def __init__(self, part: str, env: Mapping[str, str]) -> None:
        self.part = part
        self.command = [sys.executable, "-m", "atmsim.shell.cli", *PART_COMMANDS[part]]
        self.env = dict(env)
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.ready_at: float | None = None
        self.last_error: str | None = None
        self._readers: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def spawn(self) -> None:
        self.ready = asyncio.Event()
        self.ready_at = None
        self.last_error = None
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env, start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
            limit=LINE_LIMIT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [asyncio.create_task(self._read_stdout(self.process.stdout)),
                         asyncio.create_task(self._read_stderr(self.process.stderr))]
        log.debug("%s started: pid %d", self.part, self.process.pid)

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        async for line in _lines(stream):
            if not self.ready.is_set():
                self.ready_at = asyncio.get_running_loop().time()
                self.ready.set()
                log.debug("%s ready: %s", self.part, line)
            else:
                relay_line(self.part, line)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in _lines(stream):
            if line.startswith("atmsim: "):
                # Its last word before it ends: in the line that reports the end (or the
                # start-up error), so logged only at DEBUG.
                self.last_error = line.removeprefix("atmsim: ")
                relay_line(self.part, line, logging.DEBUG)
            else:
                relay_line(self.part, line)

    async def drain(self, limit: float = 0.5) -> None:
        """Wait (at most ``limit`` s) until everything the ended process wrote is read."""
        if self._readers:
            await asyncio.wait(self._readers, timeout=limit)

    async def wait_ready(self, limit: float = READY_LIMIT) -> None:
        """Until the part is ready; ``StackError`` (its own line) if it ends first or is
        not ready within ``limit`` s (then it is stopped)."""
        assert self.process is not None
        ended = asyncio.ensure_future(self.process.wait())
        ready = asyncio.ensure_future(self.ready.wait())
        try:
            await asyncio.wait([ended, ready], timeout=limit,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            ready.cancel()
        if self.ready.is_set():
            return
        if self.process.returncode is None:
            await self.stop(PART_STOP_LIMIT)
            raise StackError(f"{_name(self.part)} was not ready within {limit:g} s")
        await self.drain()
        raise StackError(start_error(self.part, self.last_error, self.process.returncode))

    async def stop(self, limit: float) -> None:
        """SIGTERM, SIGKILL if it has not ended within ``limit`` s; its output read."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), limit)
            except TimeoutError:
                log.warning("%s did not stop within %.1f s; killed", _name(self.part), limit)
                self.kill()
                await process.wait()
        await self.drain(0.2)
        for reader in self._readers:
            reader.cancel()

    def kill(self) -> None:
        """SIGKILL now, without the event loop (a forced exit)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)


class Supervisor:
    """The back end of ``settings``, each part its own child process (module docstring).

    ``report`` gets the lines about parts that die and come back (``report_line``);
    ``stop`` is set when a part is given up on, and ``gave_up`` then says why."""

    def __init__(self, settings: Settings, report: Callable[[str], None] = report_line,
                 stop: asyncio.Event | None = None) -> None:
        self.settings = settings
        self.parts = tuple(p for p in PARTS if p != "broker" or settings.mqtt_is_embedded)
        self.report = report
        self.stop = stop or asyncio.Event()
        self.gave_up: str | None = None
        self.children: dict[str, Child] = {}
        # The parts that answer by a rules file: SIGHUP is passed on to them.
        self.rules = [p for p in ("hsm", "ledger", "switch")
                            if getattr(settings, p).rules]
        self._env = child_environment(settings)
        self._watchers: list[asyncio.Task[None]] = []
        self._closing = False
        self._addresses: Addresses | None = None

    async def start(self) -> None:
        Stack(self.settings).check()  # a port in use, a bad file: one line, nothing started
        self._addresses = self._find_addresses()
        for part in self.parts:
            child = self.children[part] = Child(part, self._env)
            await child.spawn()
            await child.wait_ready()
        self._watchers = [asyncio.create_task(self._watch(part)) for part in self.parts]

    def _find_addresses(self) -> Addresses:
        s = self.settings
        if s.mqtt_is_embedded:
            kind, mqtt = choose_broker_kind(s.mqtt.broker), MqttEndpoint(s.mqtt.host,
                                                                          s.mqtt.port).url
        else:
            kind, mqtt = "external", mqtt_endpoint(s, None, "switch").url  # masked
        return Addresses(switch=f"{s.switch.host}:{s.switch.port}",
                         hsm=f"{s.hsm.host}:{s.hsm.port}", mqtt=mqtt, broker_kind=kind,
                         data_dir=s.data_dir)

    def addresses(self) -> Addresses:
        assert self._addresses is not None, "not started"
        return self._addresses

    def pids(self) -> dict[str, int]:
        """Each running part's process ID."""
        return {part: child.pid for part, child in self.children.items()
                if child.pid is not None}

    async def _watch(self, part: str) -> None:
        """Start ``part`` again each time it dies, until the back end stops or it is
        given up on."""
        child = self.children[part]
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if self._closing:
                return
            await child.drain()
            uptime = loop.time() - child.ready_at if child.ready_at is not None else 0.0
            delay = backoff.after_death(uptime)
            why = f" ({child.last_error})" if child.last_error else ""
            if delay is None:
                self.gave_up = (f"{_name(part)} exited with code {code}{why}, "
                                f"{backoff.quick_deaths} times within "
                                f"{backoff.steady_after:g} s of starting; giving up, "
                                "stopping the back end")
                self.report(self.gave_up)
                self.stop.set()
                return
            self.report(f"{_name(part)} exited with code {code}{why}; "
                        f"restarting in {delay:g} s")
            await asyncio.sleep(delay)
            await child.spawn()
            try:
                await child.wait_ready()
            except StackError:
                continue  # its death is the next round's line
            self.report(f"{_name(part)} is back (pid {child.pid})")

    def reload_rules(self) -> None:
        """SIGHUP to each part that answers by a rules file: it reads it again."""
        for part in self.rules:
            child = self.children.get(part)
            if child is not None and child.process is not None \
                    and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGHUP)

    async def close(self) -> None:
        """Stop every part, the last started first (``STOP_STAGES``), all within
        ``STOP_LIMIT`` s."""
        self._closing = True
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.cancel()
        if watchers:
            await asyncio.wait(watchers, timeout=0.5)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_LIMIT
        for stage in STOP_STAGES:
            children = [self.children.pop(part) for part in stage if part in self.children]
            if children:
                limit = max(0.05, min(PART_STOP_LIMIT, deadline - loop.time()))
                await asyncio.gather(*(child.stop(limit) for child in children))

    def kill_children(self) -> None:
        """The last resort of a forced exit: SIGKILL every part, without the loop."""
        for child in self.children.values():
            child.kill()
