"""The ``atmsim`` command line (every command, flag and exit status: docs/cli.md).

Every command accepts ``--data-dir`` and ``--config``; ports and addresses are flags and
config values. Errors a user can fix (``atmsim.shell.errors.UserError``, argparse's usage errors)
are one line on stderr and exit status 2; nothing prints a traceback for them.

The commands that run until stopped (``up``, ``demo``, ``switch``, ``hsm``, ``broker``)
stop in order on the first SIGINT, SIGTERM or SIGHUP (SIGHUP reloads the rules instead
when a part runs with ``--rules``), also during start-up; a second one,
or an orderly stop that has not ended within ``FORCE_EXIT_AFTER`` seconds, ends the
process at once (after killing the broker child).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import importlib
import logging
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL, DEMO_CARDS, DemoCard
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.tls import TlsError
from atmsim.kernel.wire import IsoMessage
from atmsim.shell.config import AtmSettings, Settings, check_value, parse_hostport
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.lifecycle import (
    FORCE_EXIT_AFTER,
    StopSignals,
    run_loop,
    running_backend,
    serve,
    until_stopped,
)
from atmsim.shell.logs import setup_logging
from atmsim.shell.options import COMMON, MQTT, add_options, settings_from
from terminal_ui.device.client import AtmClient, HostTimeout, HostUnavailable
from terminal_ui.device.config import AtmConfig
from terminal_ui.device.formatting import format_date, format_rupiah
from terminal_ui.device.pinpad import PinEntryError
from terminal_ui.device.transactions import CardData, InquiryResult
from terminal_ui.device.wire_view import field_lines

if TYPE_CHECKING:  # the stack and its parts are imported by the commands that run them
    from atmsim.shell.stack import Stack
    from atmsim.shell.supervisor import Supervisor

__all__ = ["main"]


# -- argument parsing ------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as one line ``atmsim <command>: error: ...``, exit 2
    (not a usage block and then the error): the same shape as every other atmsim error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _stack_options(parser: argparse.ArgumentParser, *, switch: bool = True, hsm: bool = True,
                   mqtt: bool = True) -> None:
    """The options of a command that runs the stack or a part of it (--otel: one that
    runs a part that traces, not the broker alone)."""
    add_options(parser, *COMMON, *(("switch_port",) if switch else ()),
                *(("hsm_port",) if hsm else ()), *(MQTT if mqtt else ()),
                *(("otel",) if switch or hsm else ()))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="atmsim", description="ATM balance-inquiry channel simulator: BNI ATM, ISO 8583 "
        "switch, payShield-style HSM and BPJS Ketenagakerjaan JHT ledger.")
    sub: Any = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)

    demo = sub.add_parser("demo", help="the whole stack on loopback plus the ATM")
    _stack_options(demo)
    add_options(demo, "stack_metrics", "single_process")
    demo.add_argument("--hop-timings", action="store_true",
                      help="the ATM asks the switch for each inquiry's hop timings (field "
                      "63) and shows them in its wire panel, F2 (default: [atm] hop_timings)")
    demo.add_argument("--headless", action="store_true",
                      help="run one scripted inquiry per demo card, print the results, exit")
    demo.add_argument("--channels", action="store_true",
                      help="one participant's balance through every channel (ATM, SMS 2757, "
                      "WhatsApp, the JMO portal) against one ledger, printed, then exit")

    demo.add_argument("--web", action="store_true",
                      help="serve the ATM in a browser (textual-serve) instead of this terminal")
    add_options(demo, "web_port", "profile")

    atm = sub.add_parser("atm", help="the ATM terminal against any switch")
    add_options(atm, *COMMON)
    atm.add_argument("--switch", metavar="HOST:PORT",
                     help="the switch (default: the configured switch, 127.0.0.1:8583)")
    add_options(atm, "terminal", "profile")
    atm.add_argument("--hop-timings", action="store_true",
                     help="ask the switch for each inquiry's hop timings (field 63) and show "
                     "them in the wire panel, F2 (default: [atm] hop_timings)")

    up = sub.add_parser("up", help="the back end (broker, HSM, ledger, switch) until Ctrl-C")
    _stack_options(up)
    add_options(up, "profile", "stack_metrics", "single_process", "cards_db")

    inquire = sub.add_parser("inquire", help="one balance inquiry from the shell")
    add_options(inquire, *COMMON)
    inquire.add_argument("--pan", required=True, help="card number")
    inquire.add_argument("--pin", help="PIN (encrypted at once by the PIN pad); without it, "
                         "asked for without echo, or one line of standard input when that "
                         "is not a terminal: a PIN on the command line is seen by ps and "
                         "kept in the shell's history")
    inquire.add_argument("--kpj", help="KPJ to ask about (field 103); default: the card's")
    inquire.add_argument("--mac", action="store_true",
                         help="MAC the 0200 under the demo TAK (field 64) and verify the 0210's")
    inquire.add_argument("--expiry", default="3012", help="card expiry YYMM (default 3012)")
    inquire.add_argument("--switch", metavar="HOST:PORT",
                         help="the switch (default: the configured switch, 127.0.0.1:8583)")
    # Not the setting atm.terminal_id (that is the ATM's): the terminal this one inquiry
    # claims to be, checked by the setting's rule.
    inquire.add_argument("--terminal", dest="inquiry_terminal", metavar="TERMINAL",
                         default=DEMO_ATM_TERMINAL, help="terminal ID (field 41)")
    inquire.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    add_options(inquire, "profile")

    switch = sub.add_parser("switch", help="the ISO 8583 switch alone")
    _stack_options(switch)
    add_options(switch, "hsm_host", "switch_rules", "profile", "switch_metrics", "cards_db")

    hsm = sub.add_parser("hsm", help="the payShield-style HSM alone")
    _stack_options(hsm, switch=False, mqtt=False)
    add_options(hsm, "hsm_rules", "hsm_metrics")

    from atmsim.shell import (
        cards_cli,
        certs_cli,
        drill_cli,
        journal_cli,
        keys_cli,
        ledger_cli,
        monitor_cli,
        portal_cli,
        profile_cli,
        record_cli,
        replay_cli,
        scenario_cli,
        sms_cli,
        whatsapp_cli,
    )
    from atmsim.shell.load import command as load_cli

    ledger_cli.add_parser(sub)
    keys_cli.add_parser(sub)
    cards_cli.add_parser(sub)
    journal_cli.add_parser(sub)
    certs_cli.add_parser(sub)
    load_cli.add_parser(sub)
    record_cli.add_parser(sub)
    replay_cli.add_parser(sub)
    scenario_cli.add_parser(sub)
    drill_cli.add_parser(sub)
    profile_cli.add_parser(sub)
    portal_cli.add_parser(sub)
    monitor_cli.add_parser(sub)
    whatsapp_cli.add_parser(sub)
    sms_cli.add_parser(sub)

    broker = sub.add_parser("broker", help="the embedded MQTT broker alone")
    _stack_options(broker, switch=False, hsm=False)
    return parser


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

def atm_client(config: AtmConfig, **options: object) -> AtmClient:
    """The ATM client of ``config`` (``atmsim.AtmClient``); a TLS file that cannot be used
    is a ``UserError`` naming the ``[atm]`` setting."""
    try:
        return AtmClient.from_config(config, **options)
    except TlsError as exc:
        raise UserError(f"atm.tls_*: {exc}") from None


def _valid_expiry(text: str) -> bool:
    return len(text) == 4 and text.isdigit() and 1 <= int(text[2:]) <= 12


def _read_pin() -> str:
    """The PIN from the keyboard without echo, or the first line of a piped stdin."""
    if sys.stdin is None:
        raise UserError("--pin: no PIN given and no standard input to read it from")
    if sys.stdin.isatty():
        try:
            return getpass.getpass("PIN: ")
        except EOFError:
            raise UserError("--pin: no PIN given") from None
    line = sys.stdin.readline()
    if not line:
        raise UserError("--pin: no PIN given (standard input is empty)")
    return line.strip()


async def cmd_inquire(args: argparse.Namespace) -> int:
    if not (args.pan.isdigit() and 12 <= len(args.pan) <= 19):
        raise UserError("--pan: a card number is 12 to 19 digits")
    if args.kpj is not None and not (args.kpj.isdigit() and len(args.kpj) == 11):
        raise UserError("--kpj: a KPJ is 11 digits")
    pin = args.pin if args.pin is not None else _read_pin()
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise UserError("--pin: a PIN is 4 to 12 digits")
    if not _valid_expiry(args.expiry):
        raise UserError(f"--expiry {args.expiry!r}: the expiry is YYMM, e.g. 3012")
    why = check_value(AtmSettings, "terminal_id", args.inquiry_terminal)  # the setting's own rule
    if why is not None:
        raise UserError(f"--terminal {why}")
    if not args.timeout > 0:  # also NaN
        raise UserError(f"--timeout {args.timeout}: must be above 0 seconds")
    settings = settings_from(args)
    host, port = parse_hostport(args.switch or f"{settings.switch.host}:{settings.switch.port}")
    # One inquiry, no idle echo or reconnection; signed on by hand, so that a refused
    # sign-on is shown and the inquiry still sent (what does the switch say then?).
    client = atm_client(atm_config(settings, host, port), terminal_id=args.inquiry_terminal,
                        timeout=args.timeout, connect_timeout=min(10.0, args.timeout),
                        sign_on=False, echo_interval=None, reconnect=False,
                        send_mac=args.mac or settings.atm.mac)
    try:
        async with client:
            sign_on = await client.sign_on()
            if sign_on.get("39") != "00":
                print(f"sign-on refused: {sign_on.get('39')} "
                      f"{ResponseCode.describe(sign_on.get('39', ''))}")
            inquiry = await client.inquire(args.pan, pin, args.kpj, expiry=args.expiry)
    except PinEntryError as exc:
        raise UserError(f"--pin: {exc}") from None
    except HostUnavailable as exc:
        raise UserError(str(exc)) from None
    except HostTimeout as exc:
        print(f"timeout: {exc}")
        return 1
    print(result_line(args.pan, inquiry.result))
    print()
    print("\n".join(field_dump("0200 sent:", inquiry.request)))
    print("\n".join(field_dump("0210 received:", inquiry.response)))
    return 0 if inquiry.approved else 1


# -- stack commands --------------------------------------------------------------------

def _print_addresses(stack: Stack | Supervisor) -> None:
    a = stack.addresses()
    print(f"atmsim back end up (data directory {a.data_dir})")
    print(f"  switch  ISO 8583 on {a.switch}  (terminals BNI00001-BNI00999, acquirer 009)")
    print(f"  HSM     payShield host commands on {a.hsm}  (Thales test LMK)")
    print(f"  broker  {a.mqtt}  ({a.broker_kind})")
    print("  ledger  bpjs/jht/v1/balance/req  (events on atmsim/v1/events/tx)")
    _print_metrics(stack)
    pids = stack.pids() if hasattr(stack, "pids") else {}
    if pids:
        print("  pids    " + ", ".join(f"{part} {pid}" for part, pid in pids.items())
              + "  (one process each, restarted if it dies)")
    # No PIN here: the demo cards and their PINs are in the README; inquire asks for it.
    print(f"try: atmsim inquire --pan 5264220000100010 --switch {a.switch}")


def _print_metrics(stack: Stack | Supervisor) -> None:
    listeners = getattr(stack, "metrics", None)  # a Stack's own; a Supervisor has none
    if listeners is not None:
        for part, listener in listeners.items():
            print(f"  metrics {part:<6} {listener.url}")
        return
    # supervised: each part serves its own from the settings it was given
    s = stack.settings  # type: ignore[union-attr]
    for part, where in (("switch", s.switch.metrics), ("hsm", s.hsm.metrics),
                        ("ledger", s.ledger.metrics)):
        if where:
            print(f"  metrics {part:<6} http://{where}/metrics")


def stack_settings_from(args: argparse.Namespace) -> Settings:
    """The settings of ``up`` and ``demo``: ``--metrics HOST:PORT`` puts the switch's
    metrics there and the HSM's and the ledger's on the next two ports, unless their own
    settings say where; ``--hop-timings`` has the ATM ask for them."""
    settings = settings_from(args)
    if getattr(args, "stack_metrics", None):
        host, port = parse_hostport(args.stack_metrics, "--metrics")
        if port + 2 > 65535:
            raise UserError(f"--metrics {args.stack_metrics}: PORT+2 (the ledger's) is "
                            "above 65535")
        shown = f"[{host}]" if ":" in host else host
        settings.switch.metrics = f"{shown}:{port}"
        settings.hsm.metrics = settings.hsm.metrics or f"{shown}:{port + 1}"
        settings.ledger.metrics = settings.ledger.metrics or f"{shown}:{port + 2}"
    if getattr(args, "hop_timings", False):
        settings.atm.hop_timings = True
    return settings


async def cmd_up(args: argparse.Namespace) -> int:
    from atmsim.shell.stack import PARTS

    return await serve(stack_settings_from(args), PARTS, _print_addresses,
                       farewell="stopping", supervised=not args.single_process)


# The scripted demo: each demo card of docs/demo-data.md once, plus the two decline paths a
# user asks about first (someone else's KPJ, a card the bank does not know).
DEMO_SCRIPT: list[tuple[str, DemoCard | None, str, str | None]] = [
    *[(c.holder + (" (types own KPJ)" if c.holder.startswith("Andi") else ""), c, c.pin,
       "13055500011" if c.holder.startswith("Andi") else None) for c in DEMO_CARDS],
    ("Andi types Budi's KPJ", next(c for c in DEMO_CARDS if c.holder.startswith("Andi")),
     "112233", "10012345678"),
]


async def run_headless_demo(switch_host: str, switch_port: int,
                            config: AtmConfig | None = None) -> int:
    """Each card of ``DEMO_SCRIPT`` once from the demo ATM (``config``: its TLS and
    timers; default: the ATM's defaults), then an unknown card."""
    config = dataclasses.replace(config or AtmConfig(), host=switch_host, port=switch_port)
    failures = 0
    async with atm_client(config, terminal_id=DEMO_ATM_TERMINAL, echo_interval=None,
                          reconnect=False) as client:
        for label, card, pin, kpj in DEMO_SCRIPT:
            assert card is not None
            result = (await client.inquire(card.pan, pin, kpj, expiry=card.expiry,
                                           track2=card.track2)).result
            print(f"{label}")
            print("  " + result_line(card.pan, result).replace("\n", "\n  "))
            failures += (result.response_code in ("91", "96", "30")
                         or result.protocol_error is not None)
        unknown = CardData("5264229999999999", "3012", "5264229999999999=3012101")
        result = (await client.inquire(unknown.pan, "123456", None, expiry=unknown.expiry,
                                       track2=unknown.track2)).result
        print("Unknown card")
        print("  " + result_line(unknown.pan, result))
    return 1 if failures else 0


def atm_config(settings: Settings, host: str, port: int) -> AtmConfig:
    profile, framing = settings.switch.wire()
    return dataclasses.replace(settings.atm.device_config(host, port,
                                                          settings.data_dir / "receipts"),
                               profile=profile, framing=framing)


def log_file(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "atmsim.log"


async def cmd_atm(args: argparse.Namespace) -> int:
    from terminal_ui.app import AtmApp

    settings = stack_settings_from(args)
    host, port = parse_hostport(args.switch or f"{settings.switch.host}:{settings.switch.port}")
    config = atm_config(settings, host, port)
    atm_client(config)  # TLS files that cannot be used: one line, before the screen opens
    await AtmApp(config).run_async()
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    settings = stack_settings_from(args)
    atm_client(atm_config(settings, settings.switch.host, settings.switch.port))  # TLS files
    signals = StopSignals()
    signals.install()
    if args.channels:
        from atmsim.shell.channels_tour import run_channels_tour
        from atmsim.shell.lifecycle import running_stack

        # in one process: the tour reaches into the stack's broker for the channels' accounts
        async with running_stack(settings, signals) as one:
            return await until_stopped(run_channels_tour(settings, one, sys.stdout),
                                       signals.stop)
    if not args.headless:
        from terminal_ui.app import AtmApp

        # The ATM owns the terminal: a line about a part that died goes to the log file.
        async with running_backend(settings, signals, single_process=args.single_process,
                                   report=_report_to_log) as stack:
            app = AtmApp(atm_config(settings, *_switch_address(stack)))

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
    async with running_backend(settings, signals,
                               single_process=args.single_process) as stack:
        a = stack.addresses()
        print(f"stack up: switch {a.switch}, HSM {a.hsm}, broker {a.mqtt} ({a.broker_kind}), "
              f"data {a.data_dir}\n")
        host, port = _switch_address(stack)
        return await until_stopped(run_headless_demo(host, port, atm_config(settings, host, port)),
                                   signals.stop)


def _switch_address(stack: Stack | Supervisor) -> tuple[str, int]:
    return parse_hostport(stack.addresses().switch)


def _report_to_log(line: str) -> None:
    from atmsim.shell.supervisor import report_line

    report_line(line, terminal=False)


def serve_web_demo(settings: Settings, single_process: bool = False) -> int:
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
            raise UserError(f"{part} and web ATM are both set to port {web_port}")
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
            async with running_backend(settings, signals,
                                       single_process=single_process) as stack:
                state["switch"] = stack.addresses().switch
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
                              state["switch"], "--data-dir", str(settings.data_dir),
                              "--profile", settings.switch.profile,
                              *(["--hop-timings"] if settings.atm.hop_timings else [])])
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


def _hsm_up(stack: Stack) -> None:
    assert stack.hsm is not None
    print(f"HSM listening on {stack.settings.hsm.host}:{stack.hsm.port}")
    _print_metrics(stack)


def _broker_up(stack: Stack) -> None:
    assert stack.broker is not None
    print(f"{stack.broker.kind} broker listening on {stack.broker.address.url} (accounts in "
          f"{stack.data_dir / 'broker' / 'credentials.json'})")


def _switch_up(stack: Stack) -> None:
    assert stack.switch is not None and stack.endpoint is not None
    hsm = stack.settings.hsm
    print(f"switch listening on {stack.switch.host}:{stack.switch.port} "
          f"(HSM {hsm.host}:{hsm.port}, MQTT {stack.endpoint.url})")
    _print_metrics(stack)


async def cmd_hsm(args: argparse.Namespace) -> int:
    return await serve(settings_from(args), {"hsm"}, _hsm_up)


async def cmd_broker(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    # The broker alone is the embedded broker, whatever --mqtt names (another broker).
    settings.mqtt.url = ""
    return await serve(settings, {"broker"}, _broker_up)


async def cmd_switch(args: argparse.Namespace) -> int:
    return await serve(settings_from(args), {"switch"}, _switch_up)


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "demo": cmd_demo, "atm": cmd_atm, "up": cmd_up, "inquire": cmd_inquire, "switch": cmd_switch,
    "hsm": cmd_hsm, "broker": cmd_broker,
}


def _sub_cli(name: str) -> Callable[[], Any]:
    """The module of a command with sub-commands of its own, imported when it runs."""
    return lambda: importlib.import_module(name)


# The commands with a module of their own: each has ``add_parser`` and ``run(args)``.
SUB_CLIS: dict[str, Callable[[], Any]] = {
    "keys": _sub_cli("atmsim.shell.keys_cli"), "cards": _sub_cli("atmsim.shell.cards_cli"),
    "ledger": _sub_cli("atmsim.shell.ledger_cli"),
    "journal": _sub_cli("atmsim.shell.journal_cli"),
    "certs": _sub_cli("atmsim.shell.certs_cli"),
    "load": _sub_cli("atmsim.shell.load.command"),
    "scenario": _sub_cli("atmsim.shell.scenario_cli"),
    "certify": _sub_cli("atmsim.shell.scenario_cli"),
    "record": _sub_cli("atmsim.shell.record_cli"), "replay": _sub_cli("atmsim.shell.replay_cli"),
    "drill": _sub_cli("atmsim.shell.drill_cli"),
    "profile": _sub_cli("atmsim.shell.profile_cli"),
    "portal": _sub_cli("atmsim.shell.portal_cli"),
    "mailbox": _sub_cli("atmsim.shell.portal_cli"),
    "monitor": _sub_cli("atmsim.shell.monitor_cli"),
    "whatsapp": _sub_cli("atmsim.shell.whatsapp_cli"),
    "sms": _sub_cli("atmsim.shell.sms_cli"),
}


# Commands that keep state in the data directory: it is created (or refused in one line)
# before anything else happens.
_DATA_DIR_COMMANDS = ("demo", "up", "switch", "broker", "atm")


def main(argv: list[str] | None = None) -> int:
    debug = False

    def command() -> int:
        nonlocal debug
        args = build_parser().parse_args(argv)  # imports the subcommands: Ctrl-C may land here
        default_level = "WARNING" if args.command in ("demo", "inquire", "cards", "scenario",
                                                       "certify", "drill") else "INFO"
        settings = settings_from(args)
        if args.command in _DATA_DIR_COMMANDS:
            from atmsim.shell.stack import prepare_data_dir

            prepare_data_dir(settings.data_dir)
        configured = settings.log_level if settings.log_level != "INFO" else default_level
        level = getattr(args, "log_level", None) or configured
        debug = str(level).upper() == "DEBUG"
        full_screen = args.command == "atm" or (args.command == "demo" and not args.headless
                                                  and not args.web and not args.channels) or (
            args.command == "monitor" and not args.serve) or (
            args.command == "sms" and getattr(args, "sms_command", None) in (None, "phone")
            and not getattr(args, "plain", False))
        chosen = Path(settings.log.file).expanduser() if settings.log.file else None
        setup_logging(level, log_file=chosen or (log_file(settings) if full_screen else None),
                      max_bytes=settings.log.max_bytes, backups=settings.log.backups,
                      log_format=settings.log.format, part=args.command)
        if args.command == "demo" and args.web:
            return serve_web_demo(settings, args.single_process)
        if args.command in SUB_CLIS:
            return SUB_CLIS[args.command]().run(args)
        return run_loop(COMMANDS[args.command](args), full_screen)

    try:
        return exit_status(command, debug=lambda: debug)
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()


if __name__ == "__main__":
    sys.exit(main())
