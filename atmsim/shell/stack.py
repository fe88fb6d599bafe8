"""The whole back end in one process: broker, HSM, ledger and switch, on loopback.

``Stack`` is what ``atmsim up`` and ``atmsim demo`` run and what the integration tests
start; ``Stack(settings, parts={"switch"})`` is ``atmsim switch`` (and ``{"hsm"}``,
``{"broker"}``, ``{"ledger"}`` the other parts run alone): the same start-up, checks and
shutdown, of fewer parts. A part run without the broker reaches the broker at ``--mqtt``,
else at the embedded broker's address (``atmsim broker``). It owns every part and closes
them in reverse order. Each part can also be stopped and started again on the same
address, which is how the fault drills take one away.

A part whose ``metrics`` setting names an address serves its Prometheus metrics there
(``atmsim.kernel.metrics_http``, docs/observability.md) once it is up.

A start that fails raises ``StackError`` with one line naming the part and its address
("switch cannot listen on 127.0.0.1:8583: address already in use") and leaves nothing
running: every part is registered with one ``AsyncExitStack`` as soon as it exists, and
closing one part that fails or hangs (each gets ``PART_CLOSE_LIMIT`` s) never stops the
others from closing. The ports are tried before anything starts, so a port in use is
reported before a broker child is spawned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from atm_switch.card_store import CardStore
from atm_switch.deps import SwitchDeps
from atm_switch.host_rules import check_switch_rules
from atm_switch.hsm_link import HsmLink
from atm_switch.journal import TransactionJournal, journal_path
from atm_switch.server import SwitchServer
from atmsim.kernel.bus import BusUnavailable, MqttBus, MqttEndpoint, parse_mqtt_url_full
from atmsim.kernel.metrics_http import MetricsListener
from atmsim.kernel.otel import PARTS as TRACED_PARTS
from atmsim.kernel.rules import (
    HSM_SCHEMA,
    LEDGER_SCHEMA,
    SWITCH_SCHEMA,
    RuleBook,
    RuleError,
    RuleSet,
)
from atmsim.kernel.tls import TlsError, server_context
from atmsim.shell.broker import BrokerError, EmbeddedBroker
from atmsim.shell.broker_auth import CredentialsError, load_credentials, read_listener
from atmsim.shell.config import Settings, SwitchSettings, parse_hostport
from atmsim.shell.errors import UserError
from atmsim.shell.otel import start_tracing
from atmsim.shell.provisioning import (
    card_store_target,
    ledger_target,
    load_lmk,
    open_card_store,
    provision_switch,
)
from bpjs_ledger.metrics import LedgerMetrics
from bpjs_ledger.service import run_ledger
from hsm_mock.security import SecuritySettings
from hsm_mock.server import HsmServer

__all__ = ["PARTS", "Stack", "StackError", "mqtt_endpoint", "ensure_can_listen", "listen_error",
           "prepare_data_dir", "rule_books", "switch_tls"]

log = logging.getLogger("atmsim.stack")

# Seconds one part may take to close before the rest go on without it: the whole stack
# then closes within the 3 s a user waits after Ctrl-C.
PART_CLOSE_LIMIT = 1.5


# The parts of the back end, in the order they start.
PARTS = ("broker", "hsm", "ledger", "switch")
_RULE_SCHEMAS = {"switch": SWITCH_SCHEMA, "hsm": HSM_SCHEMA, "ledger": LEDGER_SCHEMA}


def _rule_check(part: str, settings: Settings) -> Callable[[RuleSet], None] | None:
    """The part's own look at rules beyond the schema (the switch: field overrides its
    wire format cannot carry)."""
    if part == "switch":
        return functools.partial(check_switch_rules, profile=settings.switch.wire()[0])
    return None


def rule_books(settings: Settings) -> dict[str, RuleBook]:
    """An empty rule book for each part that takes rules, each with the part's checks:
    rules a test sets later with ``RuleBook.use`` while the stack runs."""
    return {part: RuleBook(schema, check=_rule_check(part, settings))
            for part, schema in _RULE_SCHEMAS.items()}


class StackError(UserError, RuntimeError):
    """A part of the stack could not start; the message says which and why."""


def _reason(exc: OSError) -> str:
    # asyncio's bind error text repeats the address; the errno's own words are enough.
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc)


def listen_error(part: str, host: str, port: int, exc: OSError) -> StackError:
    return StackError(f"{part} cannot listen on {host}:{port}: {_reason(exc)}")


def ensure_can_listen(part: str, host: str, port: int) -> None:
    """``StackError`` unless ``host:port`` can be bound now (as the servers bind it, with
    SO_REUSEADDR); the socket is closed again at once."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StackError(f"{part} cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise listen_error(part, host, port, exc) from None


def prepare_data_dir(path: Path) -> None:
    """Create the data directory; ``StackError`` in one line when it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "a file is in the way" if exc.errno in (errno.EEXIST, errno.ENOTDIR) \
            else _reason(exc)
        raise StackError(f"data directory {path} cannot be created: {reason}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StackError(f"data directory {path} is not writable")


def _check_ports(settings: Settings, parts: Collection[str]) -> None:
    """Every port the stack will listen on, free and distinct, before any part starts."""
    wanted = [(name, host, port) for part, name, host, port in (
        ("switch", "switch", settings.switch.host, settings.switch.port),
        ("hsm", "HSM", settings.hsm.host, settings.hsm.port),
        ("broker", "broker", settings.mqtt.host, settings.mqtt.port),
        *((part, f"{METRICS_PARTS[part]} metrics", *metrics_address(settings, part))
          for part in METRICS_PARTS if getattr(settings, part).metrics)) if part in parts]
    seen: dict[int, str] = {}
    for part, _, port in wanted:
        if port in seen:
            raise StackError(f"{seen[port]} and {part} are both set to port {port}")
        seen[port] = part
    for part, host, port in wanted:
        ensure_can_listen(part, host, port)


# The parts that can serve Prometheus metrics ([switch|hsm|ledger] metrics), by the name
# a message gives them.
METRICS_PARTS = {"switch": "switch", "hsm": "HSM", "ledger": "ledger"}


def metrics_address(settings: Settings, part: str) -> tuple[str, int]:
    """Where ``part`` serves its metrics (its ``metrics`` setting, checked when loaded)."""
    return parse_hostport(getattr(settings, part).metrics, f"{part}.metrics")


# A separately started part with an --mqtt URL that names no account must learn within
# this that the broker is not there (a closed port, a wrong host), not after a minute.
CONNECT_TIMEOUT = 4.0


def mqtt_endpoint(settings: Settings, broker: EmbeddedBroker | None,
                  component: str = "switch") -> MqttEndpoint:
    """Where and as whom ``component`` (switch, ledger...) reaches the broker.

    The embedded broker: the component's own account. A URL: its ``user:password`` if it
    has one, else ``[mqtt] username`` / ``password``, else, when the URL is the address
    the data directory's own embedded broker listens on, the component's account from
    ``broker/credentials.json`` there (so ``atmsim ledger --mqtt URL`` next to
    ``atmsim broker`` just works). Raises ``StackError`` (one line, no password)."""
    m = settings.mqtt  # its values were checked when loaded (atmsim.shell.config)
    shared = {"yes": True, "no": False}.get(m.shared_subscriptions)
    if broker is not None:
        try:
            endpoint = broker.endpoint_for(component)
        except Exception as exc:  # BrokerError
            raise StackError(str(exc)) from None
        return dataclasses.replace(endpoint, client=m.client, request_qos=m.request_qos)
    try:
        url = parse_mqtt_url_full(m.url)
    except ValueError as exc:
        raise StackError(str(exc)) from None
    if m.ca_file and not url.tls:
        raise StackError("mqtt.ca_file (--mqtt-ca) is for TLS: use an mqtts:// URL")
    username, password = url.username, url.password
    if username is None and m.username:
        username, password = m.username, m.password or None
    protocol = m.protocol
    if username is None:
        username, password, kind = _data_dir_account(settings, url.host, url.port, component)
        if kind in ("nats", "amqtt") and protocol == "auto":
            protocol = "3.1.1"  # all they speak; no MQTT 5 attempt to wait out
    endpoint = MqttEndpoint(url.host, url.port, protocol=protocol, shared_subscriptions=shared,
                            client=m.client, username=username, password=password, tls=url.tls,
                            ca_file=m.ca_file or None, request_qos=m.request_qos)
    try:
        endpoint.ssl_context()
    except ValueError as exc:
        raise StackError(str(exc)) from None
    return endpoint


def _data_dir_account(settings: Settings, host: str, port: int,
                      component: str) -> tuple[str | None, str | None, str | None]:
    """The component's account on the data directory's own broker, and that broker's
    kind, when ``host:port`` is where it listens."""
    listener = read_listener(settings.data_dir)
    if listener is None or listener.get("port") != port or not _same_host(
            str(listener.get("host")), host):
        return None, None, None  # not our broker: never send it our passwords
    try:
        accounts = load_credentials(settings.data_dir) or {}
    except CredentialsError as exc:
        raise StackError(str(exc)) from None
    account = accounts.get(component)
    if account is None:
        return None, None, None
    return account.username, account.password, str(listener.get("kind"))


def _same_host(a: str, b: str) -> bool:
    loopback = {"127.0.0.1", "localhost", "::1"}
    return a == b or (a in loopback and b in loopback)


def switch_tls(s: SwitchSettings) -> ssl.SSLContext | None:
    """The switch listener's TLS context from ``[switch] tls_*``, None for plain TCP;
    ``StackError`` in one line for settings or files that cannot be used."""
    if not (s.tls_cert or s.tls_key or s.tls_client_ca or s.tls_require_client_cert):
        return None
    if not s.tls_cert:
        raise StackError("switch.tls_cert is needed for TLS on the switch (switch.tls_key, "
                         "tls_client_ca and tls_require_client_cert go with it)")
    try:
        return server_context(s.tls_cert, s.tls_key or None,
                              client_ca=s.tls_client_ca or None,
                              require_client_cert=s.tls_require_client_cert)
    except TlsError as exc:
        raise StackError(f"switch TLS: {exc}") from None


@dataclass
class Addresses:
    switch: str
    hsm: str
    mqtt: str
    broker_kind: str
    data_dir: Path


class Stack:
    """The back end's ``parts`` (all of ``PARTS`` by default) on the addresses of ``settings``."""

    def __init__(self, settings: Settings, parts: Collection[str] = PARTS,
                 rules: Mapping[str, RuleBook] | None = None) -> None:
        unknown = set(parts) - set(PARTS)
        if unknown or not parts:
            raise ValueError(f"parts must be some of {', '.join(PARTS)}, not {sorted(unknown)}")
        self.parts = frozenset(parts)
        if settings.mqtt_is_embedded and "broker" not in self.parts:
            # A part run alone uses the broker on the embedded broker's address.
            mqtt = dataclasses.replace(settings.mqtt,
                                       url=f"mqtt://{settings.mqtt.host}:{settings.mqtt.port}")
            settings = dataclasses.replace(settings, mqtt=mqtt)
        self.settings = settings
        self.data_dir = settings.data_dir
        self.broker: EmbeddedBroker | None = None
        self.hsm: HsmServer | None = None
        self.switch: SwitchServer | None = None
        self.endpoint: MqttEndpoint | None = None  # the switch's
        self.ledger_endpoint: MqttEndpoint | None = None
        self.ledger_target: Path | str | None = None
        self._lmk = load_lmk(settings.hsm.lmk_file)
        self._ledger_task: asyncio.Task[None] | None = None
        self._ledger_stop: asyncio.Event | None = None
        self._switch_bus: MqttBus | None = None
        self._hsm_link: HsmLink | None = None
        self._cards: CardStore | None = None
        self._journal: TransactionJournal | None = None
        self._parts = AsyncExitStack()
        # By part: its Prometheus listener, when its metrics setting asks for one.
        self.metrics: dict[str, MetricsListener] = {}
        # One for every run of the ledger: a restarted ledger goes on counting.
        self.ledger_metrics = LedgerMetrics()
        # By part: the rules it answers by (docs/rules.md); given, or read from the
        # part's ``rules`` setting at start.
        self.rules: dict[str, RuleBook] = dict(rules or {})

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

    def _on_close(self, part: str, close: Callable[[], Awaitable[None] | None]) -> None:
        """Register ``close`` to run when the stack closes (last registered, first run)."""

        async def guarded() -> None:
            began = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(PART_CLOSE_LIMIT):
                    result = close()
                    if result is not None:
                        await result
                log.debug("%s closed in %.3fs", part, asyncio.get_running_loop().time() - began)
            except TimeoutError:
                log.warning("%s did not close within %.1fs; going on without it", part,
                            PART_CLOSE_LIMIT)
            except Exception as exc:  # one part's failure must not keep the rest open
                log.warning("%s did not close cleanly: %s", part, exc)

        self._parts.push_async_callback(guarded)

    def _failed(self, part: str, why: object) -> StackError:
        """The one line of a part that failed to start: named when it is one of several
        (run alone, the command already names it)."""
        return StackError(f"{part}: {why}" if len(self.parts) > 1 else str(why))

    @property
    def _embedded_broker(self) -> bool:
        return "broker" in self.parts and self.settings.mqtt_is_embedded

    def check(self) -> None:
        """Everything ``start`` checks before a part starts, each a ``StackError`` in one
        line (the data directory, the ports, TLS files, the MQTT URL, the ledger's place,
        the rules files); a fresh data directory gets its demo cards and keys. The
        supervisor (``atmsim.shell.supervisor``) runs it before it starts any child."""
        s = self.settings
        parts = self.parts
        if parts != {"hsm"}:  # the HSM alone keeps nothing in the data directory
            prepare_data_dir(self.data_dir)
        _check_ports(s, parts if self._embedded_broker else parts - {"broker"})
        if "switch" in parts:
            switch_tls(s.switch)  # bad TLS files are one line before anything starts
        if not s.mqtt_is_embedded and parts & {"ledger", "switch"}:
            # A bad URL is one line before anything is made.
            mqtt_endpoint(s, None, "switch" if "switch" in parts else "ledger")
        if "ledger" in parts:
            self.ledger_target = ledger_target(s)
            try:
                if isinstance(self.ledger_target, Path):
                    self.ledger_target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StackError(f"data directory {self.data_dir}: {_reason(exc)}") from None
        self._read_rules()
        if "switch" in parts and provision_switch(self.data_dir, self._lmk,
                                                  card_store_target(s)):
            log.info("fresh data directory %s: demo cards and keys created", self.data_dir)

    async def start(self) -> None:
        self.check()
        s = self.settings
        parts = self.parts
        if s.otel.url and parts & set(TRACED_PARTS):  # closed last, after every part
            traced = start_tracing(parts, s.otel.url)
            # Off the loop: the last export may wait for a slow collector.
            self._on_close("tracing", functools.partial(asyncio.to_thread, traced.close))
        if self._embedded_broker:
            try:
                self.broker = EmbeddedBroker(s.mqtt.host, s.mqtt.port, self.data_dir,
                                             s.mqtt.broker)
                self._on_close("broker", self._stop_broker_for_good)
                await self.broker.start()
            except BrokerError as exc:
                raise self._failed("broker", exc) from None
        if "switch" in parts:
            self.endpoint = mqtt_endpoint(s, self.broker, "switch")
            # The switch's bus first: a broker that is not there is one line within seconds.
            self._switch_bus = MqttBus(self.endpoint, "switch")
            self._on_close("switch MQTT client", self._close_switch_bus)
            await self._switch_bus.__aenter__()
            try:
                await self._switch_bus.established(CONNECT_TIMEOUT)
            except BusUnavailable as exc:
                raise StackError(str(exc)) from None
        if "hsm" in parts:
            self._on_close("HSM", self.stop_hsm)
            await self.start_hsm()
            assert self.hsm is not None
            await self._serve_metrics("hsm", self.hsm.metrics.registry)
        if "ledger" in parts:
            self.ledger_endpoint = mqtt_endpoint(s, self.broker, "ledger")
            self._on_close("ledger", self.stop_ledger)
            await self.start_ledger()
            await self._serve_metrics("ledger", self.ledger_metrics.registry)
        if "switch" in parts:
            await self._start_switch()

    async def _serve_metrics(self, part: str, registry: CollectorRegistry) -> None:
        """``part``'s Prometheus listener, when its ``metrics`` setting names an address."""
        if not getattr(self.settings, part).metrics:
            return
        host, port = metrics_address(self.settings, part)
        listener = MetricsListener(registry, host, port, part)
        try:
            await listener.start()
        except OSError as exc:
            raise listen_error(f"{METRICS_PARTS[part]} metrics", host, port, exc) from None
        self.metrics[part] = listener
        self._on_close(f"{part} metrics", listener.close)

    def _read_rules(self) -> None:
        """Each part's rules file, read before anything starts: a bad one is one line
        (rules given to the stack are checked the same way)."""
        for part, schema in _RULE_SCHEMAS.items():
            path = getattr(self.settings, part).rules
            check = _rule_check(part, self.settings)
            try:
                if part in self.rules and check is not None:
                    check(self.rules[part].rules)
                elif part in self.parts and path and part not in self.rules:
                    self.rules[part] = RuleBook(schema, path, check=check)
                    log.info("%s answers by %d rule(s) from %s", part,
                             len(self.rules[part].rules), path)
            except RuleError as exc:
                raise StackError(str(exc)) from None

    def reload_rules(self) -> None:
        """Read every part's rules file again (SIGHUP); connections stay open, and a bad
        file keeps the rules in force (one log line)."""
        for book in self.rules.values():
            book.reload()

    async def _start_switch(self) -> None:
        s = self.settings
        assert self._switch_bus is not None and self.endpoint is not None
        tls = switch_tls(s.switch)
        self._cards = open_card_store(self.data_dir, self._lmk, card_store_target(s))
        self._on_close("card store", self._close_cards)
        self._journal = TransactionJournal(journal_path(self.data_dir), s.switch.journal_days)
        self._on_close("transaction journal", self._close_journal)
        self._hsm_link = HsmLink(s.hsm.host, self.hsm.port if self.hsm else s.hsm.port,
                                 header_len=s.hsm.header_len, deadline=s.switch.hsm_deadline)
        self._on_close("HSM link", self._close_hsm_link)
        deps = SwitchDeps(cards=self._cards, hsm=self._hsm_link, bus=self._switch_bus,
                          hsm_deadline=s.switch.hsm_deadline,
                          ledger_deadline=s.switch.ledger_deadline, pin_tries=s.switch.pin_tries,
                          key_grace=s.switch.key_grace,
                          journal=self._journal, inquiry_fee_sen=s.switch.inquiry_fee)
        profile, framing = s.switch.wire()
        switch = SwitchServer(deps, profile, framing,
                              host=s.switch.host, port=s.switch.port,
                              max_in_flight=s.switch.max_in_flight,
                              max_pending=s.switch.max_pending,
                              idle_timeout=s.switch.idle_timeout,
                              frame_timeout=s.switch.frame_timeout,
                              max_connections=s.switch.max_connections,
                              repeat_interval=s.log.repeat_interval,
                              key_change_interval=s.switch.key_change_interval,
                              rules=self.rules.get("switch"), tls=tls,
                              tls_handshake_timeout=s.switch.tls_handshake_timeout)
        try:
            await switch.start()
        except OSError as exc:
            raise listen_error("switch", s.switch.host, s.switch.port, exc) from None
        self.switch = switch
        self._on_close("switch", self._close_switch)
        await self._serve_metrics("switch", deps.metrics.registry)
        if not await self._switch_bus.wait_connected(10):
            raise StackError(f"switch cannot reach the MQTT broker {self.endpoint.url}")

    async def close(self) -> None:
        """Close every part that was started, in reverse order; never raises for a part
        that fails to close (it is logged) and takes at most ``PART_CLOSE_LIMIT`` s a part."""
        parts, self._parts = self._parts, AsyncExitStack()
        await parts.aclose()

    def kill_children(self) -> None:
        """The last resort of a forced exit: SIGKILL the broker child, without the loop."""
        if self.broker is not None:
            self.broker.kill()

    async def _close_switch(self) -> None:
        switch, self.switch = self.switch, None
        if switch is not None:
            await switch.close()

    async def _close_switch_bus(self) -> None:
        bus, self._switch_bus = self._switch_bus, None
        if bus is not None:
            await bus.close()

    async def _close_hsm_link(self) -> None:
        link, self._hsm_link = self._hsm_link, None
        if link is not None:
            await link.close()

    def _close_journal(self) -> None:
        journal, self._journal = self._journal, None
        if journal is not None:
            journal.close()

    def _close_cards(self) -> None:
        cards, self._cards = self._cards, None
        if cards is not None:
            cards.close()

    async def _stop_broker_for_good(self) -> None:
        broker = self.broker
        if broker is not None:
            try:
                await broker.stop(timeout=PART_CLOSE_LIMIT - 0.3)
            finally:
                broker.kill()  # a no-op unless the wait above was cut short
                self.broker = None  # only now: kill_children must still find it meanwhile

    def addresses(self) -> Addresses:
        assert self.switch and self.endpoint
        hsm = f"{self.settings.hsm.host}:{self.hsm.port if self.hsm else self.settings.hsm.port}"
        return Addresses(
            switch=f"{self.switch.host}:{self.switch.port}", hsm=hsm,
            mqtt=self.broker.address.url if self.broker else self.endpoint.url,  # masked
            broker_kind=self.broker.kind if self.broker else "external",
            data_dir=self.data_dir)

    # -- parts, for fault drills ------------------------------------------------------

    async def start_hsm(self) -> None:
        s = self.settings.hsm
        security = SecuritySettings(zmk_length=s.zmk_length.upper(),
                                    x917_under_lmk=s.x917_under_lmk, single_des=s.single_des)
        self.hsm = HsmServer(s.host, s.port, lmk=self._lmk, header_len=s.header_len,
                             security=security, rules=self.rules.get("hsm"))
        try:
            await self.hsm.start()
        except OSError as exc:
            self.hsm = None
            raise listen_error("HSM", s.host, s.port, exc) from None
        s.port = self.hsm.port  # keep an ephemeral port across a restart
        if "hsm" in self.metrics:  # a restarted HSM counts from zero, as a new process would
            self.metrics["hsm"].registry = self.hsm.metrics.registry

    async def stop_hsm(self) -> None:
        if self.hsm:
            await self.hsm.close()
            self.hsm = None

    async def start_ledger(self) -> None:
        assert self.ledger_endpoint is not None
        self._ledger_stop = asyncio.Event()
        ready = asyncio.Event()
        assert self.ledger_target is not None
        self._ledger_task = asyncio.create_task(run_ledger(
            self.ledger_target, self.ledger_endpoint,
            workers=self.settings.ledger.workers,
            stop=self._ledger_stop, ready=ready, connect_timeout=CONNECT_TIMEOUT,
            rules=self.rules.get("ledger"), metrics=self.ledger_metrics))
        ready_wait = asyncio.ensure_future(ready.wait())
        try:
            done, _ = await asyncio.wait([self._ledger_task, ready_wait], timeout=60,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready_wait.cancel()
        if self._ledger_task in done:
            task, self._ledger_task = self._ledger_task, None
            failure = None if task.cancelled() else task.exception()
            if isinstance(failure, UserError):
                raise failure
            if isinstance(failure, BusUnavailable):
                raise self._failed("ledger", failure) from None
            raise StackError(f"the ledger stopped during start-up: {failure or 'cancelled'}")

    async def stop_ledger(self) -> None:
        task, self._ledger_task = self._ledger_task, None
        if task is None:
            return
        assert self._ledger_stop is not None
        self._ledger_stop.set()
        # Not wait_for: it would swallow the cancellation of a close that ran out of time.
        await asyncio.wait([task], timeout=PART_CLOSE_LIMIT - 0.3)
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)
        if not task.cancelled() and task.exception() is not None:
            log.warning("ledger stopped with an error: %s", task.exception())

    async def stop_broker(self) -> None:
        if self.broker:
            await self.broker.stop()

    async def start_broker(self) -> None:
        if self.broker:
            await self.broker.start()
