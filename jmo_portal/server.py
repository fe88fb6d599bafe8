"""The portal running: its HTTP listener (uvicorn), its account database, its bus client to
the ledger and, unless an SMTP server is given, the local mail sink.

``async with Portal(...) as portal:`` opens them in order and closes them in reverse; a
port in use is one line (``PortalError``) before anything else has started. The portal's
events (logins, registrations, balance pages: masked, no NIK) go to
``atmsim/v1/events/portal`` for monitors.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from atmsim.kernel.bus import BusUnavailable, MqttBus, MqttEndpoint
from jmo_portal.accounts import AccountStore
from jmo_portal.app import PortalDeps, create_app
from jmo_portal.ledger import PortalLedger
from jmo_portal.limits import PORTAL_LIMITS, Limit
from jmo_portal.mail import Mailer, MailSink

__all__ = ["Portal", "PortalError", "PORTAL_EVENTS_TOPIC"]

log = logging.getLogger("atmsim.portal")

PORTAL_EVENTS_TOPIC = "atmsim/v1/events/portal"


class PortalError(RuntimeError):
    """The portal cannot start; the message is one line naming what and where."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the command that runs the portal owns
    SIGINT/SIGTERM (atmsim.shell.lifecycle) and stops the server by ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int, what: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(512)
    except OSError as exc:
        sock.close()
        why = "address already in use" if exc.errno == errno.EADDRINUSE else (
            exc.strerror or str(exc))
        raise PortalError(f"{what} cannot listen on {host}:{port}: {why}") from None
    sock.setblocking(False)
    return sock


class Portal:
    """The JMO/SSO portal on ``host:port``, its accounts in ``db``, the ledger reached on
    ``endpoint``; mail to ``smtp`` (host, port) or, when None, to a mail sink of its own on
    ``host:mail_port`` filing into ``data_dir``."""

    def __init__(self, *, data_dir: Path, host: str, port: int, db: Path,
                 endpoint: MqttEndpoint, smtp: tuple[str, int] | None, mail_port: int,
                 public_url: str = "", max_failed: int = 5, lockout_minutes: int = 15,
                 idle_minutes: int = 15, ledger_timeout: float = 5.0,
                 connect_timeout: float = 4.0,
                 limits: Mapping[str, Limit] | None = None) -> None:
        self.data_dir, self.host, self.port, self.db = data_dir, host, port, db
        self.endpoint, self.smtp, self.mail_port = endpoint, smtp, mail_port
        self.public_url = public_url
        self.max_failed, self.lockout_minutes, self.idle_minutes = (
            max_failed, lockout_minutes, idle_minutes)
        self.ledger_timeout = ledger_timeout
        self.connect_timeout = connect_timeout
        self.limits = dict(PORTAL_LIMITS if limits is None else limits)
        self.bus: MqttBus | None = None
        self.sink: MailSink | None = None
        self._stack = AsyncExitStack()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> Portal:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _open(self) -> None:
        web = _listen(self.host, self.port, "portal")
        self._stack.callback(web.close)
        self.port = web.getsockname()[1]
        if self.smtp is None:
            self.sink = await self._stack.enter_async_context(
                MailSink(self.data_dir, self.host, self.mail_port))
            mailer = Mailer(self.host, self.sink.port)
        else:
            mailer = Mailer(*self.smtp)
        accounts = self._stack.enter_context(AccountStore(
            self.db, max_failed=self.max_failed,
            lockout=timedelta(minutes=self.lockout_minutes),
            idle=timedelta(minutes=self.idle_minutes)))
        self.bus = await self._stack.enter_async_context(MqttBus(self.endpoint, "portal"))
        bus = self.bus
        try:
            await bus.established(self.connect_timeout)
        except BusUnavailable as exc:
            raise PortalError(str(exc)) from None

        def publish(event: dict[str, Any]) -> None:
            bus.publish_soon(PORTAL_EVENTS_TOPIC, event)

        deps = PortalDeps(accounts=accounts, ledger=PortalLedger(bus, timeout=self.ledger_timeout),
                          mailer=mailer, public_url=self.public_url or self.url, events=publish,
                          limits=self.limits)
        config = uvicorn.Config(create_app(deps), lifespan="off", log_config=None,
                                access_log=False, server_header=False,
                                timeout_keep_alive=5, limit_concurrency=1000,
                                h11_max_incomplete_event_size=16 * 1024)
        self._server = _Server(config)
        config.load()
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup(sockets=[web])
        # its once-a-second housekeeping (the Date header, idle connections) until stopped
        self._ticks = asyncio.create_task(self._server.main_loop())
        self._stack.push_async_callback(self._stop_server, web)
        log.info("portal on %s (accounts in %s; mail %s)", self.url, self.db,
                 f"sink on {self.host}:{self.sink.port}" if self.sink else
                 f"to {self.smtp[0]}:{self.smtp[1]}" if self.smtp else "-")

    async def _stop_server(self, web: socket.socket) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await self._ticks
            await self._server.shutdown(sockets=[web])

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.aclose()
