"""The ``atmsim`` command line (DESIGN.md "Command line").

Every command accepts ``--data-dir`` and ``--config``; ports and addresses are flags and
config values. Errors a user can fix (``atmsim.shell.errors.UserError``, argparse's usage errors)
are one line on stderr and exit status 2; nothing prints a traceback for them.

The commands that run until stopped (``up``, ``demo``, ``switch``, ``hsm``, ``broker``)
stop in order on the first SIGINT, SIGTERM or SIGHUP, also during start-up; a second one,
or an orderly stop that has not ended within ``FORCE_EXIT_AFTER`` seconds, ends the
process at once (after killing the broker child).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine
from datetime import tzinfo
from pathlib import Path
from typing import Any, NoReturn

from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL, DEMO_CARDS, DEMO_KEYS, DemoCard
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage, default_profile
from atmsim.shell.config import (
    AtmSettings,
    ConfigError,
    Settings,
    check_value,
    load_settings,
    parse_hostport,
)
from atmsim.shell.errors import UserError
from atmsim.shell.lifecycle import (
    FORCE_EXIT_AFTER,
    Interrupted,
    StopSignals,
    running_stack,
    until_stopped,
    wait_for_signal,
)
from atmsim.shell.logs import setup_logging
from terminal_ui.device.formatting import format_date, format_rupiah
from terminal_ui.device.host_link import AtmHostLink, HostTimeout, HostUnavailable
from terminal_ui.device.pinpad import PinEntryError, PinPad
from terminal_ui.device.transactions import (
    JAKARTA,
    CardData,
    InquiryResult,
    balance_inquiry_request,
    read_inquiry_response,
)
from terminal_ui.device.wire_view import field_lines

__all__ = ["main"]


class UsageError(UserError):
    """A mistake on the command line or in the environment the user can fix."""


# -- argument parsing ------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as one line ``atmsim <command>: error: ...``, exit 2
    (not a usage block and then the error): the same shape as every other atmsim error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where all state lives "
                        "(default: $ATMSIM_DATA_DIR or the per-user data directory)")
    parser.add_argument("--config", help="TOML config file (default: $ATMSIM_CONFIG)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO; demo: WARNING)")


def _ports(parser: argparse.ArgumentParser, *, switch: bool = True, hsm: bool = True,
           mqtt: bool = True) -> None:
    if switch:
        parser.add_argument("--switch-port", type=int, help="switch TCP port (default 8583)")
    if hsm:
        parser.add_argument("--hsm-port", type=int, help="HSM TCP port (default 1500)")
    if mqtt:
        parser.add_argument("--mqtt", metavar="URL",
                            help="an MQTT broker (mqtt://[user:password@]host:port, or "
                            "mqtts:// for TLS) instead of the embedded one")
        parser.add_argument("--mqtt-ca", metavar="FILE",
                            help="CA certificate (PEM) to trust for an mqtts:// broker")
        parser.add_argument("--mqtt-port", type=int,
                            help="port of the embedded broker (default 1883)")
        parser.add_argument("--broker", choices=["auto", "mosquitto", "amqtt"],
                            help="embedded broker (default auto: mosquitto if installed)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="atmsim", description="ATM balance-inquiry channel simulator: BNI ATM, ISO 8583 "
        "switch, payShield-style HSM and BPJS Ketenagakerjaan JHT ledger.")
    sub: Any = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)

    demo = sub.add_parser("demo", help="the whole stack on loopback plus the ATM")
    _common(demo)
    _ports(demo)
    demo.add_argument("--headless", action="store_true",
                      help="run one scripted inquiry per demo card, print the results, exit")

    demo.add_argument("--web", action="store_true",
                      help="serve the ATM in a browser (textual-serve) instead of this terminal")
    demo.add_argument("--web-port", type=int, help="port of the web ATM (default 8000)")

    atm = sub.add_parser("atm", help="the ATM terminal against any switch")
    _common(atm)
    atm.add_argument("--switch", metavar="HOST:PORT",
                     help="the switch (default: the configured switch, 127.0.0.1:8583)")
    atm.add_argument("--terminal", help="terminal ID, field 41 (default BNI00001)")

    up = sub.add_parser("up", help="the back end (broker, HSM, ledger, switch) until Ctrl-C")
    _common(up)
    _ports(up)

    inquire = sub.add_parser("inquire", help="one balance inquiry from the shell")
    _common(inquire)
    inquire.add_argument("--pan", required=True, help="card number")
    inquire.add_argument("--pin", required=True, help="PIN (encrypted at once by the PIN pad)")
    inquire.add_argument("--kpj", help="KPJ to ask about (field 103); default: the card's")
    inquire.add_argument("--expiry", default="3012", help="card expiry YYMM (default 3012)")
    inquire.add_argument("--switch", metavar="HOST:PORT",
                         help="the switch (default: the configured switch, 127.0.0.1:8583)")
    inquire.add_argument("--terminal", default=DEMO_ATM_TERMINAL, help="terminal ID (field 41)")
    inquire.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")

    switch = sub.add_parser("switch", help="the ISO 8583 switch alone")
    _common(switch)
    _ports(switch)
    switch.add_argument("--hsm-host", help="HSM host (default 127.0.0.1)")

    hsm = sub.add_parser("hsm", help="the payShield-style HSM alone")
    _common(hsm)
    _ports(hsm, switch=False, mqtt=False)

    from atmsim.shell import cards_cli, keys_cli, ledger_cli
    from atmsim.shell.load import command as load_cli

    ledger_cli.add_parser(sub)
    keys_cli.add_parser(sub)
    cards_cli.add_parser(sub)
    load_cli.add_parser(sub)

    broker = sub.add_parser("broker", help="the embedded MQTT broker alone")
    _common(broker)
    _ports(broker, switch=False, hsm=False)
    return parser


# The flag behind each setting, so that a bad value is reported as the user typed it.
FLAG_NAMES = {"data_dir": "--data-dir", "log_level": "--log-level",
              "switch.port": "--switch-port", "hsm.port": "--hsm-port", "hsm.host": "--hsm-host",
              "mqtt.url": "--mqtt", "mqtt.port": "--mqtt-port", "mqtt.broker": "--broker",
              "ledger.workers": "--workers", "atm.terminal_id": "--terminal",
              "atm.web_port": "--web-port", "mqtt.ca_file": "--mqtt-ca"}


def settings_from(args: argparse.Namespace) -> Settings:
    get = lambda name: getattr(args, name, None)  # noqa: E731
    overrides: dict[str, Any] = {
        "data_dir": get("data_dir"),
        "log_level": get("log_level"),
        "switch": {"port": get("switch_port")},
        "hsm": {"port": get("hsm_port"), "host": get("hsm_host")},
        "mqtt": {"url": get("mqtt"), "port": get("mqtt_port"), "broker": get("broker"),
                 "ca_file": get("mqtt_ca")},
        "ledger": {"workers": get("workers")},
        "atm": {"terminal_id": get("terminal") if get("command") == "atm" else None,
                "web_port": get("web_port")},
    }
    try:
        return load_settings(get("config"), overrides, override_names=FLAG_NAMES)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


# -- printing --------------------------------------------------------------------------

def field_dump(title: str, message: IsoMessage) -> list[str]:
    return [title, *field_lines(message)]


def result_line(pan: str, result: InquiryResult) -> str:
    head = f"{mask_pan(pan)}  {result.response_code} {result.meaning}"
    if result.protocol_error is not None:
        # 39 = 00 without a usable balance: an error of the switch, never shown as Rp0,00.
        return (f"{mask_pan(pan)}  balance unavailable: the switch answered 00 but "
                f"{result.protocol_error} (protocol error)")
    if not result.approved or result.balance_sen is None:
        return head
    balance = format_rupiah(result.balance_sen)
    as_of = format_date(result.as_of) if result.as_of else "?"
    return (f"{head}\n    KPJ {result.kpj}  {result.masked_name}  {result.status}  "
            f"Saldo JHT {balance}  per {as_of}")


# -- the ATM side of one inquiry -------------------------------------------------------

async def one_inquiry(link: AtmHostLink, pinpad: PinPad, card: CardData, pin: str,
                      kpj: str | None, zone: tzinfo = JAKARTA,
                      ) -> tuple[IsoMessage, IsoMessage, InquiryResult]:
    request = balance_inquiry_request(card, pinpad.encrypt_pin(pin, card.pan),
                                      terminal_id=link.terminal_id, stan=link.next_stan(),
                                      acquirer_id=link.acquirer_id, kpj=kpj, zone=zone)
    response = await link.exchange(request)
    return request, response, read_inquiry_response(response)


def _parse_hostport(text: str) -> tuple[str, int]:
    try:
        return parse_hostport(text)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _valid_expiry(text: str) -> bool:
    return len(text) == 4 and text.isdigit() and 1 <= int(text[2:]) <= 12


async def cmd_inquire(args: argparse.Namespace) -> int:
    if not (args.pan.isdigit() and 12 <= len(args.pan) <= 19):
        raise UsageError("--pan: a card number is 12 to 19 digits")
    if args.kpj is not None and not (args.kpj.isdigit() and len(args.kpj) == 11):
        raise UsageError("--kpj: a KPJ is 11 digits")
    if not (args.pin.isdigit() and 4 <= len(args.pin) <= 12):
        raise UsageError("--pin: a PIN is 4 to 12 digits")
    if not _valid_expiry(args.expiry):
        raise UsageError(f"--expiry {args.expiry!r}: the expiry is YYMM, e.g. 3012")
    why = check_value(AtmSettings, "terminal_id", args.terminal)  # the setting's own rule
    if why is not None:
        raise UsageError(f"--terminal {why}")
    if not args.timeout > 0:  # also NaN
        raise UsageError(f"--timeout {args.timeout}: must be above 0 seconds")
    settings = settings_from(args)
    host, port = _parse_hostport(args.switch or f"{settings.switch.host}:{settings.switch.port}")
    zone = _terminal_zone(settings)
    pinpad = PinPad(DEMO_KEYS["TPK"].clear_hex)
    card = CardData(args.pan, args.expiry, f"{args.pan}={args.expiry}101")
    try:
        async with AtmHostLink(host, port, terminal_id=args.terminal,
                               timeout=args.timeout) as link:
            sign_on = await link.sign_on()
            if sign_on.get("39") != "00":
                print(f"sign-on refused: {sign_on.get('39')} "
                      f"{ResponseCode.describe(sign_on.get('39', ''))}")
            request, response, result = await one_inquiry(link, pinpad, card, args.pin,
                                                           args.kpj, zone)
    except PinEntryError as exc:
        raise UsageError(f"--pin: {exc}") from None
    except HostUnavailable as exc:
        raise UsageError(str(exc)) from None
    except HostTimeout as exc:
        print(f"timeout: {exc}")
        return 1
    print(result_line(args.pan, result))
    print()
    print("\n".join(field_dump("0200 sent:", request)))
    print("\n".join(field_dump("0210 received:", response)))
    return 0 if result.approved else 1


# -- stack commands --------------------------------------------------------------------

def _print_addresses(stack: Any) -> None:
    a = stack.addresses()
    print(f"atmsim back end up (data directory {a.data_dir})")
    print(f"  switch  ISO 8583 on {a.switch}  (terminals BNI00001-BNI00999, acquirer 009)")
    print(f"  HSM     payShield host commands on {a.hsm}  (Thales test LMK)")
    print(f"  broker  {a.mqtt}  ({a.broker_kind})")
    print("  ledger  bpjs/jht/v1/balance/req  (events on atmsim/v1/events/tx)")
    print(f"try: atmsim inquire --pan 5264220000100010 --pin 123456 --switch {a.switch}")
    sys.stdout.flush()


async def cmd_up(args: argparse.Namespace) -> int:
    signals = StopSignals()
    signals.install()
    async with running_stack(settings_from(args), signals) as stack:
        _print_addresses(stack)
        await signals.stop.wait()
        print("stopping")
        sys.stdout.flush()
    return 0


# The scripted demo: each DESIGN.md situation once, plus the two decline paths a user asks
# about first (someone else's KPJ, a card the bank does not know).
DEMO_SCRIPT: list[tuple[str, DemoCard | None, str, str | None]] = [
    *[(c.holder + (" (types own KPJ)" if c.holder.startswith("Andi") else ""), c, c.pin,
       "13055500011" if c.holder.startswith("Andi") else None) for c in DEMO_CARDS],
    ("Andi types Budi's KPJ", next(c for c in DEMO_CARDS if c.holder.startswith("Andi")),
     "112233", "10012345678"),
]


async def run_headless_demo(switch_host: str, switch_port: int) -> int:
    pinpad = PinPad(DEMO_KEYS["TPK"].clear_hex)
    failures = 0
    async with AtmHostLink(switch_host, switch_port, terminal_id=DEMO_ATM_TERMINAL) as link:
        await link.sign_on()
        for label, card, pin, kpj in DEMO_SCRIPT:
            assert card is not None
            data = CardData(card.pan, card.expiry, card.track2)
            _, _, result = await one_inquiry(link, pinpad, data, pin, kpj)
            print(f"{label}")
            print("  " + result_line(card.pan, result).replace("\n", "\n  "))
            failures += (result.response_code in ("91", "96", "30")
                         or result.protocol_error is not None)
        unknown = CardData("5264229999999999", "3012", "5264229999999999=3012101")
        _, _, result = await one_inquiry(link, pinpad, unknown, "123456", None)
        print("Unknown card")
        print("  " + result_line(unknown.pan, result))
    return 1 if failures else 0


def _terminal_zone(settings: Settings) -> tzinfo:
    """``atm.time_zone`` as a zone (fields 12/13 and 37 are the terminal's local time)."""
    from terminal_ui.device.clock import terminal_zone

    try:
        return terminal_zone(settings.atm.time_zone)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def atm_config(settings: Settings, host: str, port: int) -> Any:
    from terminal_ui.device.config import AtmConfig

    a = settings.atm
    _terminal_zone(settings)
    return AtmConfig(host=host, port=port, terminal_id=a.terminal_id,
                     idle_timeout=a.idle_timeout, more_time_timeout=a.more_time_timeout,
                     take_card_timeout=a.take_card_timeout, host_timeout=a.host_timeout,
                     echo_interval=a.echo_interval,
                     receipts_dir=settings.data_dir / "receipts", time_zone=a.time_zone)


def log_file(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "atmsim.log"


async def cmd_atm(args: argparse.Namespace) -> int:
    from terminal_ui.app import AtmApp

    settings = settings_from(args)
    host, port = _parse_hostport(args.switch or f"{settings.switch.host}:{settings.switch.port}")
    await AtmApp(atm_config(settings, host, port)).run_async()
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    signals = StopSignals()
    signals.install()
    if not args.headless:
        from terminal_ui.app import AtmApp

        async with running_stack(settings, signals) as stack:
            assert stack.switch is not None
            app = AtmApp(atm_config(settings, stack.switch.host, stack.switch.port))

            async def run_app() -> int:
                try:
                    await app.run_async()
                finally:
                    signals.stop.set()
                return 0

            running = asyncio.ensure_future(run_app())
            await signals.stop.wait()
            if not running.done():
                app.exit()  # a signal from outside: the ATM restores the terminal first
                await asyncio.wait([running], timeout=1.5)
        return 0
    async with running_stack(settings, signals) as stack:
        a = stack.addresses()
        print(f"stack up: switch {a.switch}, HSM {a.hsm}, broker {a.mqtt} ({a.broker_kind}), "
              f"data {a.data_dir}\n")
        assert stack.switch is not None
        return await until_stopped(run_headless_demo(stack.switch.host, stack.switch.port),
                                    signals.stop)


def serve_web_demo(settings: Settings) -> int:
    """The stack on a background loop, the ATM in a browser: textual-serve starts one
    ``atmsim atm`` per visitor, a Textual app spoken to over a websocket (no shell is
    exposed). textual-serve wants the main thread for its own loop and Ctrl-C."""
    import shlex

    from textual_serve.server import Server

    from atmsim.shell.stack import ensure_can_listen

    # Before the stack starts: a web port in use is one line, not a stack to tear down.
    web_port = settings.atm.web_port
    for part, port in (("switch", settings.switch.port), ("HSM", settings.hsm.port),
                       ("broker", settings.mqtt.port if settings.mqtt_is_embedded else None)):
        if port == web_port:
            raise UsageError(f"{part} and web ATM are both set to port {web_port}")
    ensure_can_listen("web ATM", "127.0.0.1", web_port)
    ready = threading.Event()
    state: dict[str, Any] = {}
    signals_box: list[StopSignals] = []

    async def run_stack() -> None:
        # No signal handlers here (not the main thread): the main thread sets stop.
        signals = StopSignals()
        signals_box.append(signals)
        state["loop"] = asyncio.get_running_loop()
        try:
            async with running_stack(settings, signals) as stack:
                assert stack.switch is not None
                state["switch"] = f"{stack.switch.host}:{stack.switch.port}"
                ready.set()
                await signals.stop.wait()
        except BaseException as exc:  # reported on the main thread
            state["error"] = exc
        finally:
            ready.set()

    def stop_stack() -> None:
        loop = state.get("loop")
        if signals_box and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(signals_box[0].stop.set)

    thread = threading.Thread(target=asyncio.run, args=(run_stack(),), daemon=True)
    thread.start()
    try:
        while not ready.wait(0.1):  # short waits: Ctrl-C is seen here during start-up
            pass
        if "error" in state:
            raise state["error"]
        command = shlex.join([sys.executable, "-m", "atmsim.shell.cli", "atm", "--switch",
                              state["switch"], "--data-dir", str(settings.data_dir)])
        print(f"web ATM on http://127.0.0.1:{settings.atm.web_port}  "
              f"(switch {state['switch']}); Ctrl-C stops")
        sys.stdout.flush()
        Server(command, host="127.0.0.1", port=settings.atm.web_port,
               title="BNI ATM (atmsim)").serve()
    finally:
        stop_stack()
        thread.join(FORCE_EXIT_AFTER)
        if thread.is_alive():
            for signals in signals_box:
                for kill in signals.on_force:
                    with contextlib.suppress(Exception):
                        kill()
    return 0


async def cmd_hsm(args: argparse.Namespace) -> int:
    from atmsim.shell.provisioning import load_lmk
    from atmsim.shell.stack import listen_error
    from hsm_mock.server import HsmServer

    s = settings_from(args)
    server = HsmServer(s.hsm.host, s.hsm.port, lmk=load_lmk(s.hsm.lmk_file),
                       header_len=s.hsm.header_len)
    try:
        await server.start()
    except OSError as exc:
        raise listen_error("HSM", s.hsm.host, s.hsm.port, exc) from None
    print(f"HSM listening on {s.hsm.host}:{server.port}")
    sys.stdout.flush()
    try:
        await wait_for_signal()
    finally:
        await server.close()
    return 0


async def cmd_broker(args: argparse.Namespace) -> int:
    from atmsim.shell.broker import BrokerError, EmbeddedBroker
    from atmsim.shell.stack import ensure_can_listen

    s = settings_from(args)
    ensure_can_listen("broker", s.mqtt.host, s.mqtt.port)
    try:
        broker = EmbeddedBroker(s.mqtt.host, s.mqtt.port, s.data_dir, s.mqtt.broker)
        await broker.start()
    except BrokerError as exc:
        raise UsageError(str(exc)) from None
    print(f"{broker.kind} broker listening on {broker.address.url} (accounts in "
          f"{s.data_dir / 'broker' / 'credentials.json'})")
    sys.stdout.flush()
    try:
        await wait_for_signal()
    finally:
        await broker.stop()
    return 0


async def cmd_switch(args: argparse.Namespace) -> int:
    from atm_switch.deps import SwitchDeps
    from atm_switch.hsm_link import HsmLink
    from atm_switch.server import SwitchServer
    from atmsim.kernel.bus import BusUnavailable, MqttBus
    from atmsim.kernel.wire import Framing
    from atmsim.shell.provisioning import load_lmk, open_card_store, provision_switch
    from atmsim.shell.stack import CONNECT_TIMEOUT, ensure_can_listen, listen_error, mqtt_endpoint

    s = settings_from(args)
    if not s.mqtt.url:
        s.mqtt.url = f"mqtt://{s.mqtt.host}:{s.mqtt.port}"
    ensure_can_listen("switch", s.switch.host, s.switch.port)
    endpoint = mqtt_endpoint(s, None, "switch")
    lmk = load_lmk(s.hsm.lmk_file)
    provision_switch(s.data_dir, lmk)
    async with MqttBus(endpoint, "switch") as bus:
        try:
            await bus.established(CONNECT_TIMEOUT)
        except BusUnavailable as exc:
            raise UsageError(str(exc)) from None
        cards = open_card_store(s.data_dir, lmk)
        hsm = HsmLink(s.hsm.host, s.hsm.port, header_len=s.hsm.header_len,
                      deadline=s.switch.hsm_deadline)
        deps = SwitchDeps(cards, hsm, bus, s.switch.hsm_deadline, s.switch.ledger_deadline,
                          s.switch.pin_tries)
        framing = Framing(s.switch.framing, s.switch.max_frame)
        server = SwitchServer(deps, default_profile(), framing, host=s.switch.host,
                              port=s.switch.port, max_in_flight=s.switch.max_in_flight,
                              max_pending=s.switch.max_pending,
                              idle_timeout=s.switch.idle_timeout,
                              frame_timeout=s.switch.frame_timeout,
                              max_connections=s.switch.max_connections,
                              repeat_interval=s.log.repeat_interval)
        try:
            await server.start()
        except OSError as exc:
            raise listen_error("switch", s.switch.host, s.switch.port, exc) from None
        print(f"switch listening on {s.switch.host}:{server.port} "
              f"(HSM {s.hsm.host}:{s.hsm.port}, MQTT {endpoint.url})")
        sys.stdout.flush()
        try:
            await wait_for_signal()
        finally:
            await server.close()
            await hsm.close()
            cards.close()
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "demo": cmd_demo, "atm": cmd_atm, "up": cmd_up, "inquire": cmd_inquire, "switch": cmd_switch,
    "hsm": cmd_hsm, "broker": cmd_broker,
}


def run_loop(coroutine: Coroutine[Any, Any, int], full_screen: bool) -> int:
    """uvloop for the back-end commands when it is installed (about 10-15% less CPU per
    inquiry, BENCHMARKS.md); asyncio's own loop for the full-screen ATM, as Textual expects."""
    if not full_screen:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coroutine)
    return asyncio.run(coroutine)


# Commands that keep state in the data directory: it is created (or refused in one line)
# before anything else happens.
_DATA_DIR_COMMANDS = ("demo", "up", "switch", "broker", "atm")


def main(argv: list[str] | None = None) -> int:
    from atm_switch.card_store import CardStoreError  # a card database under another LMK

    debug = False
    try:
        args = build_parser().parse_args(argv)  # imports the subcommands: Ctrl-C may land here
        default_level = "WARNING" if args.command in ("demo", "inquire", "cards") else "INFO"
        settings = settings_from(args)
        if args.command in _DATA_DIR_COMMANDS:
            from atmsim.shell.stack import prepare_data_dir

            prepare_data_dir(settings.data_dir)
        configured = settings.log_level if settings.log_level != "INFO" else default_level
        level = getattr(args, "log_level", None) or configured
        debug = str(level).upper() == "DEBUG"
        full_screen = args.command == "atm" or (args.command == "demo" and not args.headless
                                                  and not args.web)
        chosen = Path(settings.log.file).expanduser() if settings.log.file else None
        setup_logging(level, log_file=chosen or (log_file(settings) if full_screen else None),
                      max_bytes=settings.log.max_bytes, backups=settings.log.backups)
        if args.command == "demo" and args.web:
            return serve_web_demo(settings)
        if args.command == "keys":
            from atmsim.shell import keys_cli

            return keys_cli.run(args)
        if args.command == "cards":
            from atmsim.shell import cards_cli

            return cards_cli.run(args)
        if args.command == "ledger":
            from atmsim.shell import ledger_cli

            return ledger_cli.run(args)
        if args.command == "load":
            from atmsim.shell.load import command as load_cli

            return load_cli.run(args)
        return run_loop(COMMANDS[args.command](args), full_screen)
    except (UserError, CardStoreError) as exc:
        print(f"atmsim: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        return 130
    except BrokenPipeError:
        # The reader went away (``atmsim inquire ... | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        # A fault of atmsim's, not the user's: still one line, the traceback on request.
        if debug:
            raise
        print(f"atmsim: unexpected error: {type(exc).__name__}: {exc} "
              "(--log-level DEBUG shows where)", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()


if __name__ == "__main__":
    sys.exit(main())
