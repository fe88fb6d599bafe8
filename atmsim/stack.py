"""The whole back end in one process: broker, HSM, ledger and switch, on loopback.

``Stack`` is what ``atmsim up`` and ``atmsim demo`` run and what the integration tests
start. It owns every part and closes them in reverse order. Each part can also be stopped
and started again on the same address, which is how the fault drills take one away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from atm_switch.card_store import CardStore
from atm_switch.hsm_link import HsmLink
from atm_switch.inquiry import SwitchDeps
from atm_switch.server import SwitchServer
from atm_switch.wire import Framing, default_profile
from atmsim.broker import EmbeddedBroker
from atmsim.bus import MqttBus, MqttEndpoint, parse_mqtt_url
from atmsim.config import Settings
from atmsim.provisioning import ledger_db_path, load_lmk, open_card_store, provision_switch
from bpjs_ledger.service import run_ledger
from hsm_mock.server import HsmServer

__all__ = ["Stack", "StackError", "mqtt_endpoint"]

log = logging.getLogger("atmsim.stack")


class StackError(RuntimeError):
    """A part of the stack could not start; the message says which and why."""


def mqtt_endpoint(settings: Settings, broker: EmbeddedBroker | None) -> MqttEndpoint:
    client = settings.mqtt.client
    if client not in ("atmsim", "aiomqtt"):
        raise StackError(f"mqtt.client {client!r}: use atmsim or aiomqtt")
    if broker is not None:
        return dataclasses.replace(broker.endpoint, client=client)
    host, port = parse_mqtt_url(settings.mqtt.url)
    shared = settings.mqtt.shared_subscriptions != "no"
    return MqttEndpoint(host, port, protocol=settings.mqtt.protocol, shared_subscriptions=shared,
                        client=client)


@dataclass
class Addresses:
    switch: str
    hsm: str
    mqtt: str
    broker_kind: str
    data_dir: Path


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.broker: EmbeddedBroker | None = None
        self.hsm: HsmServer | None = None
        self.switch: SwitchServer | None = None
        self.endpoint: MqttEndpoint | None = None
        self._lmk = load_lmk(settings.hsm.lmk_file)
        self._ledger_task: asyncio.Task[None] | None = None
        self._ledger_stop: asyncio.Event | None = None
        self._switch_bus: MqttBus | None = None
        self._hsm_link: HsmLink | None = None
        self._cards: CardStore | None = None

    # -- whole stack ----------------------------------------------------------------

    async def __aenter__(self) -> Stack:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        s = self.settings
        ledger_db_path(self.data_dir).parent.mkdir(parents=True, exist_ok=True)
        if provision_switch(self.data_dir, self._lmk):
            log.info("fresh data directory %s: demo cards and keys created", self.data_dir)
        if s.mqtt_is_embedded:
            self.broker = EmbeddedBroker(s.mqtt.host, s.mqtt.port, self.data_dir, s.mqtt.broker)
            await self.broker.start()
        self.endpoint = mqtt_endpoint(s, self.broker)
        await self.start_hsm()
        await self.start_ledger()
        self._cards = open_card_store(self.data_dir, self._lmk)
        self._hsm_link = HsmLink(s.hsm.host, self.hsm.port if self.hsm else s.hsm.port,
                                 header_len=s.hsm.header_len, deadline=s.switch.hsm_deadline)
        self._switch_bus = MqttBus(self.endpoint, "switch")
        await self._switch_bus.__aenter__()
        deps = SwitchDeps(cards=self._cards, hsm=self._hsm_link, bus=self._switch_bus,
                          hsm_deadline=s.switch.hsm_deadline,
                          ledger_deadline=s.switch.ledger_deadline, pin_tries=s.switch.pin_tries)
        self.switch = SwitchServer(deps, default_profile(),
                                   Framing(s.switch.framing, s.switch.max_frame),
                                   host=s.switch.host, port=s.switch.port,
                                   max_in_flight=s.switch.max_in_flight,
                                   max_pending=s.switch.max_pending)
        try:
            await self.switch.start()
        except OSError as exc:
            raise StackError(f"switch cannot listen on {s.switch.host}:{s.switch.port}: "
                             f"{exc.strerror}") from None
        if not await self._switch_bus.wait_connected(10):
            raise StackError(f"switch cannot reach the MQTT broker at {self.endpoint.url}")

    async def close(self) -> None:
        if self.switch:
            await self.switch.close()
            self.switch = None
        if self._switch_bus:
            await self._switch_bus.close()
            self._switch_bus = None
        if self._hsm_link:
            await self._hsm_link.close()
            self._hsm_link = None
        if self._cards:
            self._cards.close()
            self._cards = None
        await self.stop_ledger()
        await self.stop_hsm()
        if self.broker:
            await self.broker.stop()
            self.broker = None

    def addresses(self) -> Addresses:
        assert self.switch and self.endpoint
        hsm = f"{self.settings.hsm.host}:{self.hsm.port if self.hsm else self.settings.hsm.port}"
        return Addresses(
            switch=f"{self.switch.host}:{self.switch.port}", hsm=hsm, mqtt=self.endpoint.url,
            broker_kind=self.broker.kind if self.broker else "external",
            data_dir=self.data_dir)

    # -- parts, for fault drills ------------------------------------------------------

    async def start_hsm(self) -> None:
        s = self.settings.hsm
        self.hsm = HsmServer(s.host, s.port, lmk=self._lmk, header_len=s.header_len)
        try:
            await self.hsm.start()
        except OSError as exc:
            self.hsm = None
            raise StackError(f"HSM cannot listen on {s.host}:{s.port}: {exc.strerror}") from None
        s.port = self.hsm.port  # keep an ephemeral port across a restart

    async def stop_hsm(self) -> None:
        if self.hsm:
            await self.hsm.close()
            self.hsm = None

    async def start_ledger(self) -> None:
        assert self.endpoint is not None
        self._ledger_stop = asyncio.Event()
        ready = asyncio.Event()
        self._ledger_task = asyncio.create_task(run_ledger(
            self.settings.ledger.db or ledger_db_path(self.data_dir), self.endpoint,
            workers=self.settings.ledger.workers,
            stop=self._ledger_stop, ready=ready))
        done, _ = await asyncio.wait([self._ledger_task, asyncio.ensure_future(ready.wait())],
                                     timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if self._ledger_task in done:
            self._ledger_task.result()  # raises what stopped it
            raise StackError("the ledger stopped during start-up")

    async def stop_ledger(self) -> None:
        if self._ledger_task:
            assert self._ledger_stop is not None
            self._ledger_stop.set()
            try:
                await asyncio.wait_for(self._ledger_task, 10)
            except (TimeoutError, asyncio.CancelledError):
                self._ledger_task.cancel()
            except Exception:
                log.exception("ledger stopped with an error")
            self._ledger_task = None

    async def stop_broker(self) -> None:
        if self.broker:
            await self.broker.stop()

    async def start_broker(self) -> None:
        if self.broker:
            await self.broker.start()
