"""``atmsim whatsapp``: the BPJS Ketenagakerjaan WhatsApp service against the ledger.

``atmsim whatsapp`` starts the bot (webhook on ``[whatsapp] port``), the simulated
Graph API (``graph_port``) and the chat terminal, and talks to the ledger of a running
``atmsim up`` over MQTT as the broker account ``whatsapp``. ``atmsim whatsapp bot``
runs the bot alone until Ctrl-C (with ``[whatsapp] graph_url`` pointing at another
Graph API, or the simulated one started alongside when empty). docs/channels.md,
"WhatsApp".

``WhatsappStack`` is the same composition for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import secrets
from typing import TYPE_CHECKING, Any

from atmsim.kernel.bus import MqttBus, MqttEndpoint
from atmsim.shell.broker_auth import write_private
from atmsim.shell.config import Settings, WhatsappSettings
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, MQTT, add_options, settings_from

if TYPE_CHECKING:  # the web stack is imported by the command that runs it, not by atmsim
    from atmsim.kernel.asgi_server import AsgiServer
    from whatsapp_bot.graph import GraphClient
    from whatsapp_bot.service import ChatService

__all__ = ["WhatsappSecrets", "WhatsappStack", "add_parser", "run", "whatsapp_secrets"]


@dataclasses.dataclass(frozen=True)
class WhatsappSecrets:
    app_secret: str
    verify_token: str
    access_token: str

    def __repr__(self) -> str:
        return "WhatsappSecrets(***)"


def whatsapp_secrets(settings: Settings) -> WhatsappSecrets:
    """The configured secrets; any left empty comes from (or is written once to) the
    data directory's ``whatsapp/secrets.json``, readable by its owner only."""
    w = settings.whatsapp
    path = settings.data_dir / "whatsapp" / "secrets.json"
    stored: dict[str, Any] = {}
    if not (w.app_secret and w.verify_token and w.access_token):
        try:
            stored = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
        if not isinstance(stored, dict) or not all(
                isinstance(stored.get(k), str) and stored.get(k)
                for k in ("app_secret", "verify_token", "access_token")):
            stored = {k: secrets.token_urlsafe(24)
                      for k in ("app_secret", "verify_token", "access_token")}
            write_private(path, json.dumps(stored, indent=2) + "\n")
    return WhatsappSecrets(w.app_secret or stored["app_secret"],
                           w.verify_token or stored["verify_token"],
                           w.access_token or stored["access_token"])


class WhatsappStack:
    """The bus (account ``whatsapp``), the simulated Graph API (unless ``graph_url`` is
    set) and the bot's webhook; ``async with`` starts them in that order and stops them
    in reverse. Port 0 picks free ports (``webhook_url`` and ``graph_url`` say which)."""

    def __init__(self, endpoint: MqttEndpoint, config: WhatsappSettings,
                 keys: WhatsappSecrets) -> None:
        from whatsapp_sim.graph_api import Outbox

        self.endpoint, self.config, self.keys = endpoint, config, keys
        self.outbox = Outbox()
        self.bus = MqttBus(endpoint, "whatsapp-bot")
        self._graph: AsgiServer | None = None
        self._bot: AsgiServer | None = None
        self._client: GraphClient | None = None
        self.service: ChatService | None = None

    @property
    def webhook_url(self) -> str:
        assert self._bot is not None
        return f"{self._bot.url}/webhook"

    @property
    def graph_url(self) -> str:
        if self.config.graph_url:
            return self.config.graph_url
        assert self._graph is not None
        return self._graph.url

    async def __aenter__(self) -> WhatsappStack:
        from atmsim.kernel.asgi_server import AsgiServer
        from whatsapp_bot.app import webhook_app
        from whatsapp_bot.graph import GraphClient
        from whatsapp_bot.service import ChatService, Limits
        from whatsapp_sim.graph_api import graph_app

        c = self.config
        await self.bus.__aenter__()
        try:
            if not c.graph_url:
                self._graph = AsgiServer(graph_app(self.outbox, access_token=self.keys.access_token,
                                                   phone_number_id=c.phone_number_id),
                                         c.host, c.graph_port)
                await self._graph.__aenter__()
            self._client = GraphClient(self.graph_url, c.api_version, c.phone_number_id,
                                       self.keys.access_token)
            self.service = ChatService(self.bus, self._client, limits=Limits(
                rate_per_minute=c.rate_per_minute, session_idle=c.session_idle,
                ledger_deadline=c.ledger_deadline))
            self._bot = AsgiServer(webhook_app(self.service, app_secret=self.keys.app_secret,
                                               verify_token=self.keys.verify_token,
                                               max_body=c.max_body), c.host, c.port)
            await self._bot.__aenter__()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for server in (self._bot, self._graph):
            if server is not None:
                await server.__aexit__(None, None, None)
        self._bot = self._graph = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self.bus.close()


# -- the command ------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``whatsapp`` to the ``atmsim`` sub-parsers."""
    whatsapp = subparsers.add_parser(
        "whatsapp", help="the BPJS WhatsApp service (0813-8007-0175): bot, simulated Graph "
        "API and a chat terminal, against a running atmsim up")
    add_options(whatsapp, *COMMON, *MQTT)
    whatsapp.add_argument("mode", nargs="?", choices=["chat", "bot"], default="chat",
                          help="chat: the chat terminal (default); bot: the bot alone")
    whatsapp.add_argument("--port", type=int, help="the bot's webhook port (default 8780)")
    whatsapp.add_argument("--graph-port", type=int,
                          help="the simulated Graph API's port (default 8781)")
    whatsapp.add_argument("--wa-id", default="6281200000001",
                          help="chat: the simulated user's WhatsApp number (6281200000001)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = settings_from(args)
    if args.port is not None:
        settings.whatsapp.port = args.port
    if args.graph_port is not None:
        settings.whatsapp.graph_port = args.graph_port
    for flag, port in (("--port", settings.whatsapp.port),
                       ("--graph-port", settings.whatsapp.graph_port)):
        if not 0 <= port <= 65535:
            raise UserError(f"{flag} {port}: not a TCP port (0-65535)")
    return settings


def run(args: argparse.Namespace) -> int:
    return exit_status(lambda: _run(args))


def _endpoint(settings: Settings) -> MqttEndpoint:
    from atmsim.shell.stack import StackError, mqtt_endpoint

    if settings.mqtt_is_embedded:
        settings.mqtt.url = f"mqtt://{settings.mqtt.host}:{settings.mqtt.port}"
    try:
        return mqtt_endpoint(settings, None, "whatsapp")
    except StackError as exc:
        raise UserError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    if not (args.wa_id.isascii() and args.wa_id.isdigit() and 8 <= len(args.wa_id) <= 15):
        raise UserError(f"--wa-id {args.wa_id!r}: a phone number of 8-15 digits, e.g. "
                        "6281200000001")
    settings = _settings(args)
    endpoint = _endpoint(settings)
    keys = whatsapp_secrets(settings)
    if args.mode == "bot":
        from atmsim.shell.logs import setup_logging

        setup_logging(settings.log_level)
        try:
            return asyncio.run(_serve(endpoint, settings, keys))
        except KeyboardInterrupt:  # Ctrl-C: _serve closed everything on its way out
            return 0
    return asyncio.run(_chat(endpoint, settings, keys, args.wa_id))


async def _start(endpoint: MqttEndpoint, settings: Settings,
                 keys: WhatsappSecrets) -> WhatsappStack:
    stack = WhatsappStack(endpoint, settings.whatsapp, keys)
    try:
        await stack.__aenter__()
    except OSError as exc:
        raise UserError(f"cannot listen on {exc.strerror or exc}") from None
    if not await stack.bus.wait_connected(5):
        await stack.close()
        raise UserError(f"no MQTT broker at {endpoint.url}: start `atmsim up` first "
                        "(or give --mqtt)")
    return stack


async def _serve(endpoint: MqttEndpoint, settings: Settings, keys: WhatsappSecrets) -> int:
    stack = await _start(endpoint, settings, keys)
    try:
        print(f"whatsapp bot  webhook {stack.webhook_url}  graph {stack.graph_url}  "
              f"ledger via {endpoint.url}", flush=True)
        await asyncio.Event().wait()
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    finally:
        await stack.close()
    return 0


async def _chat(endpoint: MqttEndpoint, settings: Settings, keys: WhatsappSecrets,
                wa_id: str) -> int:
    from whatsapp_sim.chat import ChatApp
    from whatsapp_sim.phone import Phone

    stack = await _start(endpoint, settings, keys)
    phone = Phone(stack.webhook_url, wa_id, app_secret=keys.app_secret,
                  phone_number_id=settings.whatsapp.phone_number_id)
    try:
        await ChatApp(phone, stack.outbox).run_async()
    finally:
        await phone.close()
        await stack.close()
    return 0

