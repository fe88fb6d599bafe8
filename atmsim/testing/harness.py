"""What the pytest fixtures hand out, usable without pytest too.

``RunningStack`` runs :class:`atmsim.shell.stack.Stack` on an event loop in a thread of its
own: a test, sync or async, on any event loop, talks to it over loopback sockets as any
client would, and ``stop()`` closes it from outside. Its switch, HSM and ledger serve with
rule books a test may fill while it runs (``set_rules``, docs/rules.md): a misbehaving
issuer on demand. Started with ``faults=True`` it is the drill's topology instead
(``atmsim.shell.drill.topology.ProxiedStack``: a fault proxy on every hop), and
``RunningStack.faults`` puts a delay, drop, partition or kill on a hop or a part now, or
carries out a whole fault schedule (docs/faults.md).

The ATM is :class:`atmsim.AtmClient` itself (``RunningStack.atm()``); ``HsmClient`` and
``LedgerClient`` use the scenario runner's HSM link and the kernel's MQTT bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import socket
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from atmsim.kernel.bus import MqttBus, MqttEndpoint
from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL
from atmsim.kernel.faults import Fault, Schedule, load_schedule, parse_schedule
from atmsim.kernel.rules import RuleBook, RuleSet, load_rules, parse_rules
from atmsim.shell.config import load_settings
from atmsim.shell.drill.topology import ProxiedStack
from atmsim.shell.provisioning import card_store_target, issue_card, load_lmk
from atmsim.shell.scenario.links import HsmLink
from atmsim.shell.stack import Stack, rule_books
from terminal_ui.device.client import AtmClient, Backoff, Inquiry

__all__ = ["AtmClient", "ActiveFault", "Faults", "FaultRun", "HsmClient", "HsmReply",
           "Inquiry", "LedgerClient", "RunningStack", "Rules"]

START_TIMEOUT = 30.0
# The fixture's ATM comes back quickly after a fault cut its connection: a test waits
# tenths of a second, not the real ATM's 1 s doubling to 30 s.
TEST_BACKOFF = Backoff(initial=0.05, maximum=1.0)

T = TypeVar("T")
# Rules as a test gives them: YAML text, the list (or {rules: [...]}) it would load as,
# a path to a YAML file, or a parsed RuleSet.
Rules = str | list[Any] | dict[str, Any] | Path | RuleSet


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:  # all bound at once: never the same port twice
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class RunningStack:
    """A started stack in its own thread. ``start_seconds`` / ``stop_seconds`` say how long
    it took to come up and to go away."""

    def __init__(self, parts: Stack | ProxiedStack, books: dict[str, RuleBook],
                 loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._parts = parts
        self.books = books
        self._loop = loop
        self._thread = thread
        self.start_seconds = 0.0
        self.stop_seconds = 0.0
        if isinstance(parts, ProxiedStack):
            assert parts.switch is not None
            self.stack = parts.switch  # the switch's part: its settings, data, account
            self.faults: Faults | None = Faults(self, parts)
        else:
            self.stack = parts
            self.faults = None

    @classmethod
    def start(cls, data_dir: Path, *, broker: str = "auto",
              rules: Mapping[str, Rules] | None = None, faults: bool = False,
              settings: Mapping[str, Mapping[str, Any]] | None = None) -> RunningStack:
        """Start a stack with the demo data in ``data_dir``; ``rules`` by part (``switch``,
        ``hsm``, ``ledger``) to serve with from the start; ``faults``: through the drill's
        fault proxies; ``settings``: by section, settings of docs/configuration.md (say
        ``{"switch": {"hsm_deadline": 1.0}}``); the ports are always free ones."""
        switch_port, hsm_port, mqtt_port = _free_ports(3)
        overrides: dict[str, Any] = {section: dict(values)
                                     for section, values in (settings or {}).items()}
        for section, values in {"switch": {"port": switch_port}, "hsm": {"port": hsm_port},
                                "mqtt": {"port": mqtt_port, "broker": broker}}.items():
            overrides.setdefault(section, {}).update(values)
        overrides["data_dir"] = str(data_dir)
        chosen = load_settings(env={}, overrides=overrides)
        books = rule_books(chosen)
        for part, given in (rules or {}).items():
            _use(books, part, given)
        started = time.perf_counter()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="atmsim-stack", daemon=True)
        thread.start()
        parts: Stack | ProxiedStack = (ProxiedStack(chosen, rules=books) if faults
                                       else Stack(chosen, rules=books))
        try:
            asyncio.run_coroutine_threadsafe(parts.__aenter__(), loop).result(START_TIMEOUT)
        except BaseException:
            cls._end_loop(loop, thread)
            raise
        running = cls(parts, books, loop, thread)
        running.start_seconds = time.perf_counter() - started
        return running

    @staticmethod
    def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    def stop(self) -> None:
        started = time.perf_counter()
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._parts.close(),
                                                                self._loop)
        try:
            future.result(10)
        finally:
            self._end_loop(self._loop, self._thread)
            self.stop_seconds = time.perf_counter() - started

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coroutine`` on the stack's own event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- where things are -------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.stack.data_dir

    @property
    def switch_address(self) -> tuple[str, int]:
        """Where an ATM connects (with faults: the ``atm-switch`` hop's proxy)."""
        if isinstance(self._parts, ProxiedStack):
            return self._parts.atm_address
        assert self.stack.switch is not None
        return self.stack.settings.switch.host, self.stack.settings.switch.port

    @property
    def hsm_address(self) -> tuple[str, int]:
        hsm_part = self._parts.back if isinstance(self._parts, ProxiedStack) else self.stack
        assert hsm_part is not None and hsm_part.hsm is not None
        return hsm_part.settings.hsm.host, hsm_part.hsm.port

    @property
    def switch_endpoint(self) -> MqttEndpoint:
        """The switch's broker account (it may ask the ledger for balances)."""
        assert self.stack.endpoint is not None
        return self.stack.endpoint

    def atm(self, **options: Any) -> AtmClient:
        """An ATM (terminal BNI00001, the demo TPK) for this stack's switch, not yet
        connected: ``async with stack.atm() as atm``. Reconnects after a lost connection
        within tenths of a second; ``options`` are ``AtmClient``'s."""
        settings: dict[str, Any] = dict(timeout=10.0, connect_timeout=5.0, reconnect=True,
                                        backoff=TEST_BACKOFF)
        settings.update(options)
        return AtmClient(*self.switch_address, **settings)

    def issue_card(self, pan: str, pin: str, *, holder: str = "Kartu Uji",
                   nik: str = "3171011505850001", kpj: str | None = "10012345678",
                   status: str = "ACTIVE") -> None:
        """Issue one more card (PIN verified with IBM 3624), e.g. one a test may block."""
        issue_card(self.data_dir, load_lmk(self.stack.settings.hsm.lmk_file), pan, pin,
                   holder=holder, nik=nik, kpj=kpj, status=status,
                   target=card_store_target(self.stack.settings))

    # -- a misbehaving issuer -----------------------------------------------------------

    def set_rules(self, rules: Rules, part: str = "switch") -> RuleSet:
        """Serve ``part`` (``switch``, ``hsm`` or ``ledger``) by ``rules`` from the next
        request on (docs/rules.md); ``RuleError`` for rules the part cannot use."""
        return _use(self.books, part, rules)

    def clear_rules(self) -> None:
        """Every part answers as usual again."""
        for book in self.books.values():
            book.use(RuleSet())


def _use(books: Mapping[str, RuleBook], part: str, given: Rules) -> RuleSet:
    if part not in books:
        raise ValueError(f"rules are for {', '.join(books)}, not {part!r}")
    book = books[part]
    if isinstance(given, RuleSet):
        rules = given
    elif isinstance(given, Path):
        rules = load_rules(given, book.schema)
    else:
        rules = parse_rules(given, book.schema, f"<{part} rules>")
    book.use(rules)
    return rules


# -- faults -------------------------------------------------------------------------------

# Faults switched on by hand are numbered apart from a schedule's (1, 2, ...): a proxy
# keys what is in force by number.
_BY_HAND = itertools.count(1_000_001)


class ActiveFault:
    """A fault in force from its creation until ``end()`` (or the end of a ``with``)."""

    def __init__(self, faults: Faults, fault: Fault) -> None:
        self._faults = faults
        self.fault = fault
        self.ended = False

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._faults._switch(self.fault, False)

    def __enter__(self) -> ActiveFault:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end()

    def __repr__(self) -> str:
        return f"<{self.fault.kind} on {self.fault.target}{' (ended)' if self.ended else ''}>"


class FaultRun:
    """A fault schedule being carried out: ``events`` grows as it goes (the event log of
    docs/faults.md), ``wait()`` (or ``await run.finished()``) until its last event."""

    def __init__(self, schedule: Schedule, future: Future[None],
                 events: list[dict[str, Any]]) -> None:
        self.schedule = schedule
        self.events = events  # appended on the stack's thread as the schedule goes
        self._future = future

    @property
    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> list[dict[str, Any]]:
        self._future.result(timeout)
        return self.events

    async def finished(self) -> list[dict[str, Any]]:
        await asyncio.wrap_future(self._future)
        return self.events


class Faults:
    """Faults on the hops (``atm-switch``, ``switch-hsm``, ``switch-broker``,
    ``broker-ledger``, ``ledger-database``) and parts (``hsm``, ``ledger``, ``broker``) of a
    stack started with ``faults=True``. Each method switches its fault on before it
    returns and hands back an ``ActiveFault`` to end it (or use it in ``with``); a wrong
    hop or value is a ``FaultError`` saying so. ``clear()`` ends them all."""

    def __init__(self, running: RunningStack, parts: ProxiedStack) -> None:
        self._running = running
        self._parts = parts
        self._active: list[ActiveFault] = []

    def delay(self, hop: str, seconds: float, jitter: float = 0.0,
              seed: int = 0) -> ActiveFault:
        """Hold each message on ``hop``, both ways, ``seconds`` (plus up to ``jitter``)."""
        return self._begin({"hop": hop, "kind": "delay", "delay": seconds,
                            "jitter": jitter}, seed)

    def drop(self, hop: str, probability: float = 1.0, seed: int = 0) -> ActiveFault:
        """Lose each message on ``hop`` with ``probability``; connections stay open."""
        return self._begin({"hop": hop, "kind": "drop", "probability": probability}, seed)

    def partition(self, hop: str) -> ActiveFault:
        """Cut ``hop``'s open connections and refuse new ones until the fault ends."""
        return self._begin({"hop": hop, "kind": "partition"}, 0)

    def kill(self, part: str) -> ActiveFault:
        """Stop ``part`` (``hsm``, ``ledger`` or ``broker``); ending the fault starts it
        again on the same address."""
        return self._begin({"part": part, "kind": "kill"}, 0)

    def clear(self) -> None:
        for active in self._active:
            active.end()
        self._active.clear()

    def run(self, schedule: str | Mapping[str, Any] | Path, seed: int = 0) -> FaultRun:
        """Carry out a fault schedule (docs/faults.md: YAML text, its mapping, or a file)
        from now on, in the background; its ``at`` times count from this call."""
        drawn = (load_schedule(schedule, seed) if isinstance(schedule, Path)
                 else parse_schedule(schedule, seed))
        events: list[dict[str, Any]] = []
        future = asyncio.run_coroutine_threadsafe(
            self._parts.carry_out(drawn, time.perf_counter(), events.append),
            self._running._loop)
        return FaultRun(drawn, future, events)

    def _begin(self, entry: dict[str, Any], seed: int) -> ActiveFault:
        drawn = parse_schedule({"faults": [{**entry, "at": 0, "for": 0}]}, seed).faults[0]
        fault = dataclasses.replace(drawn, number=next(_BY_HAND), name=drawn.kind)
        self._switch(fault, True)
        active = ActiveFault(self, fault)
        self._active.append(active)
        return active

    def _switch(self, fault: Fault, begins: bool) -> None:
        self._running.call(self._parts.apply(fault, begins))


@dataclass(frozen=True)
class HsmReply:
    response: str  # the response code, e.g. "ND"
    error: str  # the payShield error code, "00" for none
    data: str  # the rest of the reply


class HsmClient:
    """Thales host commands to the HSM at ``host:port``: ``await hsm.command("NC")``."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.timeout = timeout

    async def command(self, code: str, data: str = "") -> HsmReply:
        link = HsmLink(self.host, self.port)
        try:
            return HsmReply(*await link.command(code, data, self.timeout))
        finally:
            await link.close()


class LedgerClient:
    """The ledger's MQTT contract (docs/ledger.md): ``await ledger.balance(nik, kpj)``."""

    def __init__(self, endpoint: MqttEndpoint, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    async def request(self, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with MqttBus(self.endpoint, "pytest") as bus:
            await bus.established(self.timeout)
            return await bus.request(topic, payload, self.timeout)

    async def balance(self, nik: str, kpj: str | None = None) -> dict[str, Any]:
        """The balance reply: ``result``, ``kpj``, ``balance_sen``, ``as_of``..."""
        return await self.request("bpjs/jht/v1/balance/req", {
            "nik": nik, "kpj": kpj, "channel": "TEST", "terminal_id": DEMO_ATM_TERMINAL,
            "requested_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())})
