"""``atmsim sms``: the SMS 2757 channel (docs/channels.md, "SMS 2757").

    atmsim sms [phone] --msisdn 0812... [--smsc HOST:PORT] [--plain]   a phone terminal
    atmsim sms send --msisdn 0812... TEXT [--smsc HOST:PORT]         one SMS, print the reply
    atmsim sms smsc [--smsc-port P]                                  the simulated SMSC
    atmsim sms gateway [--smsc HOST:PORT] [--system-id ID] [--mqtt URL]   the BPJS gateway

The SMSC and its phones and gateway on one data directory share the SMSC's accounts
(``<data dir>/smsc/credentials.json``); a gateway bound to another SMSC takes its
``[sms] system_id`` and ``password`` from the config instead. The gateway asks the
ledger over MQTT as the broker account ``sms``.

Exit status: 0 done; 1 ``send`` got no reply in time; 2 a mistake the user can fix (one
line ``atmsim: ...``, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import Any

from atmsim.shell.config import Settings, parse_hostport
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from

__all__ = ["add_parser", "run"]

NO_REPLY = 1


def _options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    add_options(parser, *COMMON, suppress=suppress)
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--smsc", metavar="HOST:PORT", default=default,
                        help="the SMSC (default: [sms] smsc_host:smsc_port, 127.0.0.1:2775)")


def _phone_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--msisdn", default=default,
                        help="the phone's number, e.g. 081234567890 or +6281234567890")
    parser.add_argument("--plain", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="a line-based terminal instead of the full-screen one")


def add_parser(subparsers: Any) -> None:
    """Add ``sms`` and its sub-commands to the ``atmsim`` parser's sub-parsers."""
    sms = subparsers.add_parser(
        "sms", help="the SMS 2757 channel: phone (default), send, smsc, gateway",
        description="SMS 2757 on SMPP 3.4: a phone terminal (the default), one SMS from "
        "the shell, the simulated SMSC, and the BPJS gateway that answers DAFTAR SALDO, "
        "SALDO and CEK NOMOR KTP from the ledger.",
        epilog="Exit status: 0 done, 1 no reply in time (send), 2 usage or connection error.")
    _options(sms, suppress=False)
    _phone_options(sms, suppress=False)
    sub = sms.add_subparsers(dest="sms_command", metavar="SUBCOMMAND")

    phone = sub.add_parser("phone", help="a phone terminal: type SMS to 2757, see replies "
                           "(the default)")
    _options(phone, suppress=True)
    _phone_options(phone, suppress=True)

    send = sub.add_parser("send", help="send one SMS to 2757 and print the reply")
    _options(send, suppress=True)
    _phone_options(send, suppress=True)
    send.add_argument("text", metavar="TEXT", help="the message, e.g. 'SALDO 10012345678'")
    send.add_argument("--timeout", type=float, default=10.0,
                      help="seconds to wait for the reply (10)")

    smsc = sub.add_parser("smsc", help="the simulated SMSC until Ctrl-C")
    _options(smsc, suppress=True)
    smsc.add_argument("--smsc-port", type=int, help="port to listen on (default: [smsc] "
                      "port, 2775; --smsc HOST:PORT sets both)")

    gateway = sub.add_parser("gateway", help="the BPJS SMS 2757 gateway until Ctrl-C")
    _options(gateway, suppress=True)
    add_options(gateway, "mqtt", "mqtt_ca", "mqtt_port")
    gateway.add_argument("--system-id", help="the ESME's system_id (default bpjs2757)")


def run(args: argparse.Namespace) -> int:
    return exit_status(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    command = getattr(args, "sms_command", None) or "phone"
    settings = settings_from(args)
    smsc = getattr(args, "smsc", None)
    if smsc:
        host, port = parse_hostport(smsc, "--smsc")
        settings.sms = dataclasses.replace(settings.sms, smsc_host=host, smsc_port=port)
    if command == "smsc":
        if smsc:  # for the SMSC itself, where it listens
            settings.smsc = dataclasses.replace(settings.smsc, host=host, port=port)
        if getattr(args, "smsc_port", None):
            settings.smsc = dataclasses.replace(settings.smsc, port=args.smsc_port)
        return asyncio.run(_serve_smsc(settings))
    if command == "gateway":
        if getattr(args, "system_id", None):
            settings.sms = dataclasses.replace(settings.sms, system_id=args.system_id)
        return asyncio.run(_serve_gateway(settings))
    if not getattr(args, "msisdn", None):
        raise UserError("--msisdn: the phone's number is needed, e.g. --msisdn 081234567890")
    handset = _handset(settings, args.msisdn)
    if command == "send":
        return asyncio.run(_send(handset, args.text, args.timeout))
    if getattr(args, "plain", False):
        return asyncio.run(_plain_phone(handset))
    from smsc_sim.phone_app import PhoneApp

    PhoneApp(handset).run()
    return 0


def _accounts(settings: Settings) -> Any:
    from smsc_sim.accounts import AccountsError, ensure_accounts

    try:
        return ensure_accounts(settings.data_dir)
    except AccountsError as exc:
        raise UserError(str(exc)) from None


def _handset(settings: Settings, msisdn: str) -> Any:
    from smsc_sim.accounts import HANDSET
    from smsc_sim.handset import Handset

    account = _accounts(settings).get(HANDSET)
    if account is None:
        raise UserError(f"the SMSC accounts have no {HANDSET!r} account")
    try:
        return Handset(settings.sms.smsc_host, settings.sms.smsc_port, msisdn,
                       account.password, short_code=settings.sms.short_code)
    except ValueError as exc:
        raise UserError(f"--msisdn: {exc}") from None


async def _send(handset: Any, text: str, timeout: float) -> int:
    from smsc_sim.handset import HandsetError

    try:
        async with handset:
            await handset.send(text)
            try:
                sms = await handset.receive(timeout)
            except TimeoutError:
                print(f"no reply within {timeout:g} s", file=sys.stderr)
                return NO_REPLY
    except HandsetError as exc:
        raise UserError(str(exc)) from None
    print(sms.text)
    return 0


async def _plain_phone(handset: Any) -> int:
    from smsc_sim.handset import HandsetError

    loop = asyncio.get_running_loop()
    try:
        async with handset:
            print(f"{handset.msisdn}: type a message to {handset.short_code}, Enter sends; "
                  "Ctrl-D ends")

            async def show() -> None:
                while True:
                    sms = await handset.inbox.get()
                    print(f"< {sms.sender}: {sms.text}", flush=True)

            shower = asyncio.create_task(show())
            try:
                while line := await loop.run_in_executor(None, sys.stdin.readline):
                    if line.strip():
                        await handset.send(line.strip())
                await asyncio.sleep(0.5)  # a reply on its way to the last message
            finally:
                shower.cancel()
    except HandsetError as exc:
        raise UserError(str(exc)) from None
    return 0


async def _serve_smsc(settings: Settings) -> int:
    from atmsim.shell.lifecycle import StopSignals
    from atmsim.shell.stack import ensure_can_listen
    from smsc_sim.server import SmscServer

    s = settings.smsc
    ensure_can_listen("smsc", s.host, s.port)
    signals = StopSignals()
    signals.install()
    async with SmscServer(_accounts(settings), s.host, s.port, system_id=s.system_id):
        print(f"SMSC listening on {s.host}:{s.port} (SMPP 3.4); accounts in "
              f"{settings.data_dir / 'smsc' / 'credentials.json'}", flush=True)
        await signals.stop.wait()
    return 0


async def _serve_gateway(settings: Settings) -> int:
    from atmsim.kernel.bus import BusUnavailable, MqttBus
    from atmsim.shell.lifecycle import StopSignals
    from atmsim.shell.stack import CONNECT_TIMEOUT, mqtt_endpoint
    from sms_gateway.esme import BindRefused, Esme, EsmeConfig
    from sms_gateway.gateway import GatewayConfig, SmsGateway

    s = settings.sms
    if settings.mqtt_is_embedded:  # the embedded broker's address, as a part run alone
        settings.mqtt = dataclasses.replace(
            settings.mqtt, url=f"mqtt://{settings.mqtt.host}:{settings.mqtt.port}")
    endpoint = mqtt_endpoint(settings, None, "sms")
    password = s.password
    if not password:
        account = _accounts(settings).get(s.system_id)
        if account is None:
            raise UserError(f"no password for system_id {s.system_id!r}: set [sms] password "
                            "(ATMSIM_SMS_PASSWORD) for your SMSC")
        password = account.password
    signals = StopSignals()
    signals.install()
    async with MqttBus(endpoint, "sms-gateway") as bus:
        try:
            await bus.established(CONNECT_TIMEOUT)
        except BusUnavailable as exc:
            raise UserError(str(exc)) from None
        gateway = SmsGateway(bus, GatewayConfig(s.ledger_deadline, s.per_minute,
                                                s.failures_per_day))
        config = EsmeConfig(s.smsc_host, s.smsc_port, s.system_id, password, s.system_type,
                            s.short_code, s.concatenation, s.enquire_interval)
        async with Esme(config, gateway.answer) as esme:
            try:
                bound = await esme.wait_bound(CONNECT_TIMEOUT)
            except BindRefused as exc:
                raise UserError(str(exc)) from None
            state = "bound" if bound else "binding (the SMSC is not answering yet)"
            print(f"SMS gateway {s.system_id} {state} to {s.smsc_host}:{s.smsc_port} for "
                  f"short code {s.short_code}; ledger via {endpoint.url}", flush=True)
            await signals.stop.wait()
    return 0
