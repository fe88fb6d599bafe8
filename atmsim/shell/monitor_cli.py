"""``atmsim monitor``: the live dashboard of the switch's masked transaction events.

    atmsim monitor [--mqtt URL] [--data-dir DIR] [--window S] [--silence S] [--max-91-rate P]
    atmsim monitor --serve HOST:PORT ...     the same dashboard in a browser (textual-serve)

It reads ``atmsim/v1/events/tx`` with the broker's ``monitor`` account, which may read the
events and publish nothing (docs/security.md): on the data directory's own embedded broker
(``atmsim up``, ``atmsim broker``) the account comes from ``<data dir>/broker/
credentials.json``, as for every separately started part; elsewhere from the URL's
``user:password`` or ``[mqtt] username`` / ``password``. docs/monitor.md says what it shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from typing import TYPE_CHECKING

from atmsim.shell.config import Settings, parse_hostport
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from

if TYPE_CHECKING:  # imported when the command runs: every atmsim command parses this one
    from atm_monitor.alarms import AlarmSettings
    from atmsim.kernel.bus import MqttBus, MqttEndpoint

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``monitor`` to the ``atmsim`` sub-parsers."""
    monitor = subparsers.add_parser(
        "monitor", help="live dashboard of the switch's transaction events (read-only)",
        description="Inquiries/s, response codes, p50/p99 latency per hop, the last "
        "transactions, each terminal and alarms, from the switch's masked events on "
        "atmsim/v1/events/tx, read with the broker's read-only monitor account.")
    add_options(monitor, *COMMON, "mqtt", "mqtt_ca", "mqtt_port", helps={
        "mqtt": "the MQTT broker (mqtt://[user:password@]host:port or mqtts://; default: "
        "the embedded broker's address, 127.0.0.1:1883)",
        "mqtt_port": "port of the broker when no --mqtt URL is given (default 1883)"})
    monitor.add_argument("--serve", metavar="HOST:PORT",
                         help="serve the dashboard in a browser (textual-serve) instead of "
                         "this terminal")
    monitor.add_argument("--window", type=int, default=60, metavar="SECONDS",
                         help="sliding window of the percentiles, code mix and plots "
                         "(default 60)")
    monitor.add_argument("--silence", type=float, default=10.0, metavar="SECONDS",
                         help="alarm after this long without an event while terminals were "
                         "active (default 10)")
    monitor.add_argument("--max-91-rate", dest="max_91_rate", type=float, default=5.0,
                         metavar="PERCENT", help="alarm when more of the inquiries of the "
                         "last 30 s were answered 91 (default 5)")


def run(args: argparse.Namespace) -> int:
    """Run ``atmsim monitor``: 0 when the dashboard is closed, 2 with one line for a
    mistake the user can fix (an unreachable broker, a refused account)."""
    return exit_status(lambda: _run(args))


def alarm_settings(args: argparse.Namespace) -> AlarmSettings:
    from atm_monitor.alarms import AlarmSettings

    if not 10 <= args.window <= 3600:
        raise UserError(f"--window {args.window}: from 10 to 3600 seconds")
    if not 1 <= args.silence <= 86400:  # also NaN
        raise UserError(f"--silence {args.silence}: from 1 to 86400 seconds")
    if not 0 <= args.max_91_rate <= 100:
        raise UserError(f"--max-91-rate {args.max_91_rate}: a percentage, 0 to 100")
    return AlarmSettings(silence_seconds=args.silence, max_91_share=args.max_91_rate / 100)


def monitor_endpoint(settings: Settings) -> MqttEndpoint:
    """The monitor's account on the broker of ``settings`` (``StackError``: one line)."""
    from atmsim.shell.stack import mqtt_endpoint

    if settings.mqtt_is_embedded:  # as a part run alone: the embedded broker's address
        settings.mqtt.url = f"mqtt://{settings.mqtt.host}:{settings.mqtt.port}"
    return mqtt_endpoint(settings, None, "monitor")


async def reach(bus: MqttBus) -> None:
    """Wait until ``bus`` is connected; one line naming the broker and what to do if not."""
    from atmsim.kernel.bus import BusUnavailable
    from atmsim.shell.stack import CONNECT_TIMEOUT

    try:
        await bus.established(CONNECT_TIMEOUT)
    except BusUnavailable as exc:
        hint = ("" if bus.endpoint.username else " (no account: the broker is not this data "
                "directory's running broker; give --mqtt mqtt://monitor:PASSWORD@HOST:PORT)")
        raise UserError(f"{exc}{hint}") from None


def _run(args: argparse.Namespace) -> int:
    alarms = alarm_settings(args)
    settings = settings_from(args)
    endpoint = monitor_endpoint(settings)
    if args.serve:
        return _serve(args, settings, endpoint)
    return asyncio.run(_dashboard(endpoint, alarms, args.window))


async def _dashboard(endpoint: MqttEndpoint, alarms: AlarmSettings, window: int) -> int:
    from atm_monitor.app import MonitorApp
    from atm_monitor.feed import EventFeed
    from atm_monitor.traffic import Traffic, WindowSettings
    from atmsim.kernel.bus import MqttBus

    async with MqttBus(endpoint, "monitor") as bus:
        traffic = Traffic(WindowSettings(seconds=window), keep_seconds=alarms.looks_back)
        feed = EventFeed(bus, traffic)
        feed.start()
        await reach(bus)  # before the screen opens: a refusal is one line
        await MonitorApp(feed=feed, alarms=alarms).run_async()
    return 0


def _serve(args: argparse.Namespace, settings: Settings, endpoint: MqttEndpoint) -> int:
    """textual-serve starts one ``atmsim monitor`` per browser visit, spoken to over a
    websocket (no shell is exposed). The account reaches each of them in the environment
    (``ATMSIM_MQTT_URL``), never on a command line that ``ps`` shows."""
    from textual_serve.server import Server

    from atmsim.kernel.bus import MqttBus
    from atmsim.shell.stack import ensure_can_listen

    host, port = parse_hostport(args.serve, "--serve")

    async def check() -> None:
        async with MqttBus(endpoint, "monitor-check") as bus:
            await reach(bus)

    asyncio.run(check())
    ensure_can_listen("monitor web server", host, port)
    os.environ.update({"ATMSIM_DATA_DIR": str(settings.data_dir),
                       "ATMSIM_MQTT_URL": endpoint.secret_url,
                       "ATMSIM_MQTT_PROTOCOL": endpoint.protocol,
                       "ATMSIM_MQTT_CA_FILE": endpoint.ca_file or ""})
    command = [sys.executable, "-m", "atmsim.shell.cli", "monitor", "--window",
               str(args.window), "--silence", str(args.silence), "--max-91-rate",
               str(args.max_91_rate)]
    if args.config:
        command += ["--config", args.config]
    print(f"monitor on http://{host}:{port}  (events from {endpoint.url}); Ctrl-C stops")
    sys.stdout.flush()
    Server(shlex.join(command), host=host, port=port, title="atmsim monitor").serve()
    return 0
