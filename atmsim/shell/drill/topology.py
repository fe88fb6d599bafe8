"""A stack of its own wired through fault proxies, and a fault schedule carried out on it.

The parts run in this process as ``atmsim up`` runs them, but each hop goes through a
``FaultProxy``: the ATMs of ``atmsim load`` reach the switch through one, the switch
reaches the HSM and the broker through one each, and the ledger reaches the broker
through its own. The ledger's database calls pass the drill's hook
(``bpjs_ledger.db.set_fault_hook``). ``kill`` stops the HSM, the ledger or the broker and
starts it again on the same address. The schedule's clock is the load's: it starts when
the virtual ATMs have signed on.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from atmsim.kernel.faults import Fault, Schedule
from atmsim.kernel.rules import RuleBook
from atmsim.kernel.wire import WireError, default_profile
from atmsim.shell.config import Settings
from atmsim.shell.drill.proxy import FaultProxy
from atmsim.shell.drill.report import DrillReport, assess
from atmsim.shell.load.runner import LoadSettings, Outcome, run_load
from atmsim.shell.stack import Stack
from bpjs_ledger.db import StorageUnavailable, set_fault_hook

__all__ = ["ProxiedStack", "run_drill"]

log = logging.getLogger("atmsim.drill")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Answers:
    """Watches the answers on the ATM side of the switch's hop: the ones an ATM got
    twice (same MTI, terminal and STAN), timed on the load's clock."""

    def __init__(self) -> None:
        self.profile = default_profile()
        self.seen: set[tuple[str, str, str]] = set()
        self.duplicates: list[float] = []
        self.clock_start: float | None = None

    def __call__(self, direction: str, message: bytes) -> None:
        if direction != "down" or self.clock_start is None:
            return
        try:
            answer = self.profile.decode(message[2:])
        except WireError:
            return
        key = (answer.get("t", ""), answer.get("41", ""), answer.get("11", ""))
        if key in self.seen:
            self.duplicates.append(time.perf_counter() - self.clock_start)
        else:
            self.seen.add(key)


class _DatabaseFaults:
    """The ``ledger-database`` hop: the faults in force when the ledger calls its
    database (on the ledger's database threads)."""

    def __init__(self) -> None:
        self.active: dict[int, tuple[Fault, random.Random]] = {}

    def __call__(self, location: str) -> None:
        for fault, rng in list(self.active.values()):
            if fault.kind == "partition" or rng.random() < fault.probability:
                raise StorageUnavailable(f"{location}: cut off by the drill ({fault.name})")


class ProxiedStack:
    """The parts wired through a fault proxy on every hop (the module's description), as
    an async context manager: ``atm_address`` is where ATMs connect; ``apply`` switches a
    fault on or off now; ``carry_out`` applies a schedule on a clock. ``observe_atm`` sees
    every message through the ATM's hop. The drill and the pytest plugin's ``faults``
    fixture both run on it."""

    def __init__(self, settings: Settings, rules: Mapping[str, RuleBook] | None = None,
                 observe_atm: Callable[[str, bytes], None] | None = None) -> None:
        self.settings = settings
        self.rules = rules
        self.observe_atm = observe_atm
        self.database = _DatabaseFaults()
        self.proxies: dict[str, FaultProxy] = {}
        self.back: Stack | None = None
        self.ledger: Stack | None = None
        self.switch: Stack | None = None
        self.atm_address: tuple[str, int] = ("127.0.0.1", 0)
        self._exit = AsyncExitStack()

    async def __aenter__(self) -> ProxiedStack:
        try:
            self.atm_address = await self._build(self._exit)
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._exit.aclose()

    def _part_settings(self, mqtt_url: str = "") -> Settings:
        s = copy.deepcopy(self.settings)
        s.mqtt.url = mqtt_url
        return s

    async def _build(self, stack: AsyncExitStack) -> tuple[str, int]:
        """Start the parts and the proxies; the address the ATMs are to use."""
        back_settings = self._part_settings()
        back_settings.mqtt.port = _free_port()
        back_settings.hsm.port = _free_port()
        self.back = await stack.enter_async_context(
            Stack(back_settings, {"broker", "hsm"}, rules=self.rules))
        assert self.back.broker is not None and self.back.hsm is not None
        broker = self.back.broker

        async def proxy(hop: str, port: int, framing: str,
                        observe: Callable[[str, bytes], None] | None = None) -> FaultProxy:
            created = FaultProxy(hop, ("127.0.0.1", port), framing, observe=observe)
            await created.start()
            stack.push_async_callback(created.close)
            self.proxies[hop] = created
            return created

        to_hsm = await proxy("switch-hsm", self.back.hsm.port, "2be")
        switch_broker = await proxy("switch-broker", broker.port, "mqtt")
        ledger_broker = await proxy("broker-ledger", broker.port, "mqtt")

        def via(component: str, hop: FaultProxy) -> Settings:
            endpoint = dataclasses.replace(broker.endpoint_for(component), port=hop.port)
            s = self._part_settings(endpoint.secret_url)
            s.mqtt.protocol = endpoint.protocol
            s.mqtt.shared_subscriptions = "yes" if endpoint.shared_subscriptions else "no"
            return s

        set_fault_hook(self.database)
        stack.callback(set_fault_hook, None)
        self.ledger = await stack.enter_async_context(
            Stack(via("ledger", ledger_broker), {"ledger"}, rules=self.rules))
        switch_settings = via("switch", switch_broker)
        switch_settings.hsm.port = to_hsm.port
        switch_settings.switch.port = _free_port()
        self.switch = await stack.enter_async_context(
            Stack(switch_settings, {"switch"}, rules=self.rules))
        assert self.switch.switch is not None
        atm = await proxy("atm-switch", self.switch.switch.port, "2be", self.observe_atm)
        return atm.host, atm.port

    async def carry_out(self, schedule: Schedule, started: float,
                        record: Callable[[dict[str, Any]], None]) -> None:
        """Apply the schedule's events at their times, ``started`` being its zero
        (``time.perf_counter``); ``record`` gets each event as it is carried out."""
        faults = {f.number: f for f in schedule.faults}
        for event in schedule.events():
            wait = started + event["at"] - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            fault = faults[event["fault"]]
            entry = dict(event)
            try:
                await self.apply(fault, event["event"] in ("starts", "killed"))
            except Exception as exc:  # one failed step is reported, the schedule goes on
                entry["error"] = str(exc) or type(exc).__name__
                log.warning("drill: %s %s failed: %s", event["event"], fault.describe(), exc)
            record(entry)

    async def apply(self, fault: Fault, begins: bool) -> None:
        """Switch ``fault`` on (``begins``) or off: on its proxy, the database hook, or by
        stopping or starting its part again."""
        if fault.on_part:
            await (self._kill if begins else self._restart)(fault.target)
        elif fault.target == "ledger-database":
            if begins:
                self.database.active[fault.number] = (fault, random.Random(fault.seed))
            else:
                self.database.active.pop(fault.number, None)
        elif begins:
            self.proxies[fault.target].begin(fault)
        else:
            self.proxies[fault.target].end(fault)

    async def _kill(self, part: str) -> None:
        assert self.back is not None and self.ledger is not None
        if part == "hsm":
            await self.back.stop_hsm()
        elif part == "ledger":
            await self.ledger.stop_ledger()
        else:
            await self.back.stop_broker()

    async def _restart(self, part: str) -> None:
        assert self.back is not None and self.ledger is not None
        if part == "hsm":
            await self.back.start_hsm()
        elif part == "ledger":
            await self.ledger.start_ledger()
        else:
            await self.back.start_broker()


class _Drill:
    def __init__(self, schedule: Schedule, events: TextIO | None) -> None:
        self.schedule = schedule
        self.events_out = events
        self.events: list[dict[str, Any]] = []
        self.answers = _Answers()
        self.clock = asyncio.Event()

    def clock_started(self) -> None:
        self.answers.clock_start = time.perf_counter()
        self.clock.set()

    async def carry_out(self, parts: ProxiedStack) -> None:
        """Apply the schedule's events at their times on the load's clock."""
        await self.clock.wait()
        assert self.answers.clock_start is not None
        await parts.carry_out(self.schedule, self.answers.clock_start, self._record)

    def _record(self, entry: dict[str, Any]) -> None:
        self.events.append(entry)
        if self.events_out is not None:
            self.events_out.write(json.dumps(entry, sort_keys=True) + "\n")
            self.events_out.flush()


async def run_drill(schedule: Schedule, settings: Settings, load: LoadSettings,
                    events: Path | None = None) -> DrillReport:
    """Carry out ``schedule`` on a stack of its own (``settings``: its data directory and
    deadlines) under the load ``load`` (its host and port are replaced by the ATM proxy's;
    it runs for the schedule's duration). ``events``: the JSON lines event log."""
    out = events.open("w", encoding="utf-8") if events is not None else None
    try:
        drill = _Drill(schedule, out)
        outcomes: list[Outcome] = []
        async with ProxiedStack(settings, observe_atm=drill.answers) as parts:
            host, port = parts.atm_address
            run = dataclasses.replace(load, host=host, port=port, duration=schedule.duration,
                                      count=None)
            executor = asyncio.create_task(drill.carry_out(parts))
            try:
                await run_load(run, on_start=drill.clock_started, on_outcome=outcomes.append)
                await asyncio.wait_for(executor, timeout=max(
                    1.0, schedule.duration - (time.perf_counter()
                                              - (drill.answers.clock_start or 0)) + 5))
            finally:
                executor.cancel()
                await asyncio.gather(executor, return_exceptions=True)
        return assess(schedule, outcomes, drill.answers.duplicates, load.timeout, drill.events)
    finally:
        if out is not None:
            out.close()
