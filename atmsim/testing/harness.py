"""What the pytest fixtures hand out, usable without pytest too.

``RunningStack`` runs :class:`atmsim.shell.stack.Stack` on an event loop in a thread of its
own: a test, sync or async, on any event loop, talks to it over loopback sockets as any
client would, and ``stop()`` closes it from outside.

``AtmClient`` is a thin adapter over the ATM's own pieces (``terminal_ui.device``: host
link, PIN pad, 0200 builder and 0210 reader, the same path as ``atmsim inquire``); each
call opens its own connection and signs on, so it works on whichever event loop the test
runs. ``HsmClient`` and ``LedgerClient`` likewise use the scenario runner's HSM link and
the kernel's MQTT bus.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atmsim.kernel.bus import MqttBus, MqttEndpoint
from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL, DEMO_KEYS
from atmsim.shell.config import load_settings
from atmsim.shell.provisioning import issue_card, load_lmk
from atmsim.shell.scenario.links import HsmLink
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import (
    CardData,
    InquiryResult,
    balance_inquiry_request,
    read_inquiry_response,
)

__all__ = ["AtmClient", "HsmClient", "HsmReply", "InquiryResult", "LedgerClient",
           "RunningStack"]

START_TIMEOUT = 30.0


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

    def __init__(self, stack: Stack, loop: asyncio.AbstractEventLoop,
                 thread: threading.Thread) -> None:
        self.stack = stack
        self._loop = loop
        self._thread = thread
        self.start_seconds = 0.0
        self.stop_seconds = 0.0

    @classmethod
    def start(cls, data_dir: Path, *, broker: str = "auto") -> RunningStack:
        switch_port, hsm_port, mqtt_port = _free_ports(3)
        settings = load_settings(env={}, overrides={
            "data_dir": str(data_dir), "switch": {"port": switch_port},
            "hsm": {"port": hsm_port}, "mqtt": {"port": mqtt_port, "broker": broker}})
        started = time.perf_counter()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="atmsim-stack", daemon=True)
        thread.start()
        stack = Stack(settings)
        try:
            asyncio.run_coroutine_threadsafe(stack.__aenter__(), loop).result(START_TIMEOUT)
        except BaseException:
            cls._end_loop(loop, thread)
            raise
        running = cls(stack, loop, thread)
        running.start_seconds = time.perf_counter() - started
        return running

    @staticmethod
    def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    def stop(self) -> None:
        started = time.perf_counter()
        future: Future[None] = asyncio.run_coroutine_threadsafe(self.stack.close(), self._loop)
        try:
            future.result(10)
        finally:
            self._end_loop(self._loop, self._thread)
            self.stop_seconds = time.perf_counter() - started

    # -- where things are -------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.stack.data_dir

    @property
    def switch_address(self) -> tuple[str, int]:
        assert self.stack.switch is not None
        return self.stack.settings.switch.host, self.stack.settings.switch.port

    @property
    def hsm_address(self) -> tuple[str, int]:
        assert self.stack.hsm is not None
        return self.stack.settings.hsm.host, self.stack.hsm.port

    @property
    def switch_endpoint(self) -> MqttEndpoint:
        """The switch's broker account (it may ask the ledger for balances)."""
        assert self.stack.endpoint is not None
        return self.stack.endpoint

    def issue_card(self, pan: str, pin: str, *, holder: str = "Kartu Uji",
                   nik: str = "3171011505850001", kpj: str | None = "10012345678",
                   status: str = "ACTIVE") -> None:
        """Issue one more card (PIN verified with IBM 3624), e.g. one a test may block."""
        issue_card(self.data_dir, load_lmk(self.stack.settings.hsm.lmk_file), pan, pin,
                   holder=holder, nik=nik, kpj=kpj, status=status)


class AtmClient:
    """An ATM on the switch at ``host:port``: ``await atm.inquire(pan, pin, kpj=None)``."""

    def __init__(self, host: str, port: int, *, terminal_id: str = DEMO_ATM_TERMINAL,
                 tpk_hex: str = DEMO_KEYS["TPK"].clear_hex, timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self.terminal_id = terminal_id
        self.timeout = timeout
        self._pinpad = PinPad(tpk_hex)

    def _link(self) -> AtmHostLink:
        return AtmHostLink(self.host, self.port, terminal_id=self.terminal_id,
                           timeout=self.timeout)

    async def inquire(self, pan: str, pin: str, kpj: str | None = None, *,
                      expiry: str = "3012") -> InquiryResult:
        """Sign on, send one balance inquiry (PIN under the TPK), read the 0210."""
        card = CardData(pan, expiry, f"{pan}={expiry}101")
        async with self._link() as link:
            await link.sign_on()
            request = balance_inquiry_request(
                card, self._pinpad.encrypt_pin(pin, pan), terminal_id=link.terminal_id,
                stan=link.next_stan(), acquirer_id=link.acquirer_id, kpj=kpj)
            return read_inquiry_response(await link.exchange(request))

    async def echo(self) -> str:
        """An 0800 echo test; its response code."""
        async with self._link() as link:
            return (await link.echo()).get("39", "")


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
