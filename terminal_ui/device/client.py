"""The embeddable ATM client: ``from atmsim import AtmClient``.

One client is one terminal (field 41) talking ISO 8583 to one switch, over TCP or TLS. It
is what the Textual ATM, ``atmsim inquire``, ``atmsim demo --headless`` and every virtual
ATM of ``atmsim load`` use, and what a bank engineer embeds in their own tests::

    async with AtmClient("127.0.0.1", 8583, terminal_id="BNI00001") as atm:
        result = await atm.inquire("5264220000100010", "123456")
        print(result.response_code, result.balance_sen, result.masked_name)

What it does, moov-io/iso8583-connection style (every default written down below):

- **connect**: TCP (or TLS with ``tls=ssl_context``), then the sign-on hook: an 0800
  sign-on (70 = 001) that must be answered 00, then ``on_connect(client)`` if given (a
  key exchange, a second sign-on...). ``connect()`` raises ``HostUnavailable`` (or
  ``SignOnRefused``, ``HostTimeout``) when the first connection cannot be made.
- **idle echo**: with ``echo_interval`` set, an 0800 echo test (70 = 301) goes out whenever
  the link has carried nothing for that many seconds; ``echo_failures`` echoes in a row
  unanswered (timed out, lost, or not 00) and the connection is dropped.
- **reconnect**: with ``reconnect=True``, a lost or dropped connection is opened again,
  the waits between attempts growing by ``Backoff`` (1 s doubling to 30 s, ±10% jitter),
  and signed on again before it is used. Requests made while there is no connection fail
  at once with ``HostUnavailable`` (an ATM shows "out of service"); ``on_state(True/False)``
  tells the owner when the terminal goes in and out of service.
- **matching**: many requests may be in flight; each reply is matched by fields 41 + 11.
- **timeouts**: a request unanswered within ``timeout`` raises ``HostTimeout`` whose
  ``request`` is the message sent: the original a reversal (0420) names; ``on_timeout``
  (if given) is called with it first, whoever made the request (the hook for a
  store-and-forward queue of reversals; it should ignore what is not an 0200).

The client never sees a clear PIN beyond ``inquire``'s call into the PIN pad, and logs none.

>>> Backoff(initial=1.0, maximum=8.0, jitter=0.0).delays(5)
[1.0, 2.0, 4.0, 8.0, 8.0]

A switch that is not there is a ``HostUnavailable`` at once (here: a port nobody listens on):

>>> import asyncio, socket
>>> with socket.socket() as probe:
...     probe.bind(("127.0.0.1", 0)); free_port = probe.getsockname()[1]
>>> async def try_it() -> str:
...     try:
...         async with AtmClient("127.0.0.1", free_port, connect_timeout=2):
...             return "connected"
...     except HostUnavailable as exc:
...         return type(exc).__name__
>>> asyncio.run(try_it())
'HostUnavailable'

A reply is read into a typed :class:`Inquiry` (what ``inquire`` returns):

>>> from atmsim.kernel.wire.additional_data import encode_balance_amount, encode_tlv
>>> reply = {"t": "0210", "11": "000001", "41": "BNI00001", "39": "00",
...          "48": encode_tlv([("KP", "13055500011"), ("NM", "A*** S**"), ("ST", "AKTIF")]),
...          "54": encode_balance_amount(123456)}
>>> result = Inquiry.read({"t": "0200", "11": "000001"}, reply, latency_ms=4.2)
>>> result.approved, result.balance_sen, result.masked_name, result.status
(True, 123456, 'A*** S**', 'AKTIF')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any

from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL, DEMO_KEYS
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import Framing, IsoMessage, WireProfile
from terminal_ui.device.clock import terminal_zone
from terminal_ui.device.config import AtmConfig
from terminal_ui.device.host_link import AtmHostLink, HostTimeout, HostUnavailable, StanSequence
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import (
    JAKARTA,
    CardData,
    InquiryResult,
    balance_inquiry_request,
    read_inquiry_response,
)

__all__ = ["AtmClient", "Backoff", "Inquiry", "SignOnRefused", "HostUnavailable",
           "HostTimeout", "ConnectHook"]

log = logging.getLogger("atmsim.atm")

ConnectHook = Callable[["AtmClient"], Awaitable[None]]


class SignOnRefused(HostUnavailable):
    """The switch answered the sign-on with a code other than 00."""

    def __init__(self, response_code: str) -> None:
        super().__init__(f"sign-on refused with {response_code} "
                         f"({ResponseCode.describe(response_code)})")
        self.response_code = response_code


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: ``initial`` seconds, times ``factor`` after
    each failure, at most ``maximum``, each spread by ``jitter`` (a share) so that many
    ATMs cut off together do not all come back in the same instant."""

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum and self.factor >= 1
                and 0 <= self.jitter < 1):
            raise ValueError("a backoff needs 0 < initial <= maximum, factor >= 1, "
                             "0 <= jitter < 1")

    def delays(self, attempts: int, rng: random.Random | None = None) -> list[float]:
        """The waits after ``attempts`` failed attempts in a row."""
        waits, wait = [], self.initial
        for _ in range(attempts):
            spread = 1 + self.jitter * (2 * rng.random() - 1) if rng and self.jitter else 1
            waits.append(round(wait * spread, 6))
            wait = min(self.maximum, wait * self.factor)
        return waits


@dataclass(frozen=True)
class Inquiry:
    """One balance inquiry: what was sent, what came back, and the reply read
    (``result``); the reply's figures are at hand as attributes of their own."""

    request: IsoMessage
    response: IsoMessage
    result: InquiryResult
    latency_ms: float

    @classmethod
    def read(cls, request: IsoMessage, response: IsoMessage, latency_ms: float) -> Inquiry:
        return cls(request, response, read_inquiry_response(response), latency_ms)

    @property
    def response_code(self) -> str:
        return self.result.response_code

    @property
    def meaning(self) -> str:
        return self.result.meaning

    @property
    def approved(self) -> bool:
        """Approved with a balance the customer may be shown (39 = 00 and a valid 54)."""
        return self.result.approved

    @property
    def balance_sen(self) -> int | None:
        return self.result.balance_sen

    @property
    def masked_name(self) -> str | None:
        return self.result.masked_name

    @property
    def status(self) -> str | None:
        return self.result.status

    @property
    def kpj(self) -> str | None:
        return self.result.kpj

    @property
    def as_of(self) -> date | None:
        return self.result.as_of

    @property
    def protocol_error(self) -> str | None:
        return self.result.protocol_error


@dataclass
class LinkStats:
    """What the client's link went through, for a caller's report."""

    connects: int = 0  # connections signed on, the first included
    echoes: int = 0
    echo_failures: int = 0
    dropped_for_echoes: int = 0  # connections dropped after echo_failures in a row
    last_error: str = ""


@dataclass
class _Options:
    sign_on: bool
    on_connect: ConnectHook | None
    echo_interval: float | None
    echo_timeout: float | None
    echo_failures: int
    reconnect: bool
    backoff: Backoff
    on_state: Callable[[bool], None] | None
    rng: random.Random = field(default_factory=random.Random)


class AtmClient:
    """One terminal's connection to a switch (see the module's description)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8583, *,
                 terminal_id: str = DEMO_ATM_TERMINAL, acquirer_id: str = "009",
                 tls: ssl.SSLContext | None = None, server_hostname: str | None = None,
                 timeout: float = 30.0, connect_timeout: float = 10.0,
                 sign_on: bool = True, on_connect: ConnectHook | None = None,
                 echo_interval: float | None = None, echo_timeout: float | None = None,
                 echo_failures: int = 3, reconnect: bool = False,
                 backoff: Backoff | None = None,
                 on_state: Callable[[bool], None] | None = None,
                 on_timeout: Callable[[IsoMessage], None] | None = None,
                 tpk_hex: str = DEMO_KEYS["TPK"].clear_hex, zone: tzinfo = JAKARTA,
                 profile: WireProfile | None = None, framing: Framing | None = None,
                 pinpad: PinPad | None = None, send_mac: bool = False,
                 hop_timings: bool = False, stans: StanSequence | None = None) -> None:
        if echo_interval is not None and not echo_interval > 0:
            raise ValueError("echo_interval must be above 0 seconds (or None: no echo)")
        if echo_failures < 1:
            raise ValueError("echo_failures must be at least 1")
        self.host, self.port = host, port
        self.terminal_id, self.acquirer_id = terminal_id, acquirer_id
        self.timeout = timeout
        self.zone = zone
        self.hop_timings = hop_timings  # each 0200 asks for field 63 (docs/observability.md)
        self.stats = LinkStats()
        # The PIN pad's keys outlive connections: keys a key change installs stay.
        self._pinpad: PinPad = pinpad or PinPad(tpk_hex)
        self._link_args = dict(terminal_id=terminal_id, acquirer_id=acquirer_id,
                               profile=profile, framing=framing, timeout=timeout,
                               connect_timeout=connect_timeout, tls=tls,
                               server_hostname=server_hostname, on_timeout=on_timeout,
                               pinpad=self._pinpad, send_mac=send_mac)
        self._o = _Options(sign_on, on_connect, echo_interval, echo_timeout, echo_failures,
                           reconnect, backoff or Backoff(), on_state)
        self._link: AtmHostLink | None = None
        # One STAN sequence for the terminal, across reconnections: a new connection
        # must not repeat a STAN the switch has just seen from this terminal.
        self.next_stan = stans or StanSequence()
        self._echoes_failed = 0  # echo tests failed in a row on the current connection
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        self._in_service = False

    @classmethod
    def from_config(cls, config: AtmConfig, **options: object) -> AtmClient:
        """The client of an ATM configured with ``config`` (its switch, terminal, timers,
        TLS, PIN key and zone), with idle echo and reconnection on; ``options`` override."""
        settings: dict[str, object] = dict(
            terminal_id=config.terminal_id, acquirer_id=config.acquirer_id,
            tls=config.tls_context(), server_hostname=config.tls_server_name or None,
            timeout=config.host_timeout, connect_timeout=min(5.0, config.host_timeout),
            echo_interval=config.echo_interval, echo_failures=config.echo_failures,
            reconnect=True, backoff=Backoff(min(config.reconnect_interval,
                                                config.reconnect_max),
                                            config.reconnect_max),
            pinpad=config.pinpad(), send_mac=config.mac, profile=config.profile,
            framing=config.framing, zone=terminal_zone(config.time_zone),
            hop_timings=config.hop_timings)
        settings.update(options)
        return cls(config.host, config.port, **settings)  # type: ignore[arg-type]

    # -- lifetime -----------------------------------------------------------------------

    async def __aenter__(self) -> AtmClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the first connection and sign on; raises when that fails. Then, with idle
        echo or reconnection asked for, keeps the link in the background."""
        self._closed = False
        self._link = await self._open()
        self._set_state(True)
        self._start_supervisor()

    def start(self) -> None:
        """Keep the link in the background from now on, without waiting for a first
        connection (an ATM that starts while its switch is away): needs ``reconnect``."""
        if not self._o.reconnect:
            raise ValueError("start() keeps trying to connect: it needs reconnect=True")
        self._closed = False
        self._start_supervisor()

    async def close(self) -> None:
        """Close the connection and stop the background work; in-flight requests fail
        with ``HostUnavailable``."""
        self._closed = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        self._set_state(False)

    @property
    def connected(self) -> bool:
        """Connected and signed on."""
        link = self._link
        return link is not None and link.connected

    @property
    def link(self) -> AtmHostLink | None:
        """The connection in use now (a new one after each reconnection), or None."""
        return self._link

    async def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the terminal to be in service."""
        deadline = time.monotonic() + timeout
        while not self.connected:
            if time.monotonic() >= deadline or self._closed:
                return False
            await asyncio.sleep(0.02)
        return True

    # -- messages -----------------------------------------------------------------------

    def exchange(self, request: IsoMessage, timeout: float | None = None, *,
                 sealed: bool = False) -> Coroutine[Any, Any, IsoMessage]:
        """Send any request and wait for its reply (matched by fields 41 and 11): await it.
        ``sealed``: already MACed by the current connection's ``seal``.

        The current connection's own exchange, handed out without a coroutine of the
        client's around it: this is the load generator's hot path."""
        link = self._link
        if link is None:
            return _unavailable(f"not connected to the switch at {self.host}:{self.port}")
        return link.exchange(request, timeout, sealed=sealed)

    async def network_management(self, code: str, timeout: float | None = None) -> IsoMessage:
        """An 0800 with field 70 = ``code`` (001 sign-on, 002 sign-off, 301 echo)."""
        link = self._link
        if link is None:
            raise HostUnavailable(f"not connected to the switch at {self.host}:{self.port}")
        return await link.network_management(code, timeout)

    async def sign_on(self) -> IsoMessage:
        return await self.network_management("001")

    async def echo(self) -> IsoMessage:
        return await self.network_management("301")

    async def inquire(self, pan: str, pin: str, kpj: str | None = None, *,
                      expiry: str = "3012", track2: str | None = None,
                      timeout: float | None = None) -> Inquiry:
        """A balance inquiry (0200, processing code 31) for card ``pan`` with ``pin``
        (encrypted at once by the PIN pad under the TPK) about ``kpj`` (field 103; None:
        the card's own). Raises ``HostTimeout`` (with the 0200 as ``request``) when no
        0210 comes within ``timeout`` (default: the client's), ``HostUnavailable`` when
        there is no connection, ``PinEntryError`` for a PIN that is not 4-12 digits."""
        card = CardData(pan, expiry, track2 or f"{pan}={expiry}101")
        return await self.send_inquiry(card, self._pinpad.encrypt_pin(pin, pan), kpj,
                                       timeout=timeout)

    async def send_inquiry(self, card: CardData, pin_block_hex: str, kpj: str | None = None,
                           *, timeout: float | None = None) -> Inquiry:
        """A balance inquiry with a PIN block made beforehand (the Textual ATM's PIN pad,
        the load generator's planner)."""
        request = balance_inquiry_request(card, pin_block_hex, terminal_id=self.terminal_id,
                                          stan=self.next_stan(), acquirer_id=self.acquirer_id,
                                          kpj=kpj, zone=self.zone,
                                          hop_timings=self.hop_timings)
        link = self._link
        if link is not None:
            request = link.seal(request)  # the 0200 as it is sent, with its MAC: MACed once
        started = time.perf_counter()
        response = await self.exchange(request, timeout, sealed=link is not None)
        return Inquiry.read(request, response, (time.perf_counter() - started) * 1000)

    # -- the link in the background -----------------------------------------------------

    async def _open(self) -> AtmHostLink:
        """A new connection, signed on and through the hook, or an exception."""
        link = AtmHostLink(self.host, self.port, stans=self.next_stan,
                           **self._link_args)  # type: ignore[arg-type]
        try:
            await link.connect()
            if self._o.sign_on:
                reply = await link.sign_on()
                if reply.get("39") != ResponseCode.APPROVED.value:
                    raise SignOnRefused(str(reply.get("39", "")))
            if self._o.on_connect is not None:
                self._link = link  # the hook talks through the client
                await self._o.on_connect(self)
        except BaseException:
            if self._link is link:
                self._link = None
            await link.close()
            raise
        self.stats.connects += 1
        return link

    def _start_supervisor(self) -> None:
        if self._supervisor is None and (self._o.reconnect or self._o.echo_interval):
            self._supervisor = asyncio.create_task(self._keep_link(),
                                                   name=f"atm link {self.terminal_id}")

    def _set_state(self, in_service: bool) -> None:
        if in_service != self._in_service:
            self._in_service = in_service
            if self._o.on_state is not None:
                self._o.on_state(in_service)

    async def _keep_link(self) -> None:
        while not self._closed:
            link = self._link
            if link is None or not link.connected:
                self._set_state(False)
                if link is not None:
                    await link.close()
                    self._link = None
                if not self._o.reconnect:
                    return
                self._link = await self._reconnect()
                self._echoes_failed = 0
                self._set_state(True)
                continue
            if self._o.echo_interval is None:
                await link.wait_closed()
                continue
            idle = time.monotonic() - link.last_activity
            if idle < self._o.echo_interval:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(link.wait_closed(), self._o.echo_interval - idle)
                continue
            await self._idle_echo(link)

    async def _idle_echo(self, link: AtmHostLink) -> None:
        """One echo test; after ``echo_failures`` failures in a row the link is dropped."""
        self.stats.echoes += 1
        try:
            reply = await link.network_management("301", self._o.echo_timeout)
            failed = "" if reply.get("39") == ResponseCode.APPROVED.value else \
                f"echo answered {reply.get('39')}"
        except (HostTimeout, HostUnavailable) as exc:
            failed = str(exc)
        if not failed:
            self._echoes_failed = 0
            return
        self.stats.echo_failures += 1
        self._echoes_failed += 1
        log.warning("%s: echo test failed (%d of %d): %s", self.terminal_id,
                    self._echoes_failed, self._o.echo_failures, failed)
        if self._echoes_failed >= self._o.echo_failures:
            self._echoes_failed = 0
            self.stats.dropped_for_echoes += 1
            log.warning("%s: dropping the connection to the switch after %d failed echo "
                        "tests", self.terminal_id, self._o.echo_failures)
            await link.close()

    async def _reconnect(self) -> AtmHostLink:
        failures = 0
        while True:
            try:
                link = await self._open()
            except Exception as exc:  # a failing hook too: retried, logged
                self.stats.last_error = str(exc)
                wait = self._o.backoff.delays(failures + 1, self._o.rng)[-1]
                failures += 1
                log.info("%s: cannot reconnect to the switch (%s); next try in %.1f s",
                         self.terminal_id, exc, wait)
                await asyncio.sleep(wait)
                continue
            if failures:
                log.info("%s: reconnected and signed on after %d failed attempts",
                         self.terminal_id, failures)
            return link


async def _unavailable(why: str) -> IsoMessage:
    """An awaitable that fails as an exchange without a connection does."""
    raise HostUnavailable(why)
