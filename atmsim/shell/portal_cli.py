"""``atmsim portal``: the JMO / SSO web portal; ``atmsim mailbox``: the mail it sent.

``atmsim portal [--host H] [--port 8080] [--db FILE] [--smtp HOST:PORT] [--mqtt URL]``
serves the portal (docs/channels.md) until Ctrl-C, against the ledger behind the data
directory's broker (``atmsim up`` running) or ``--mqtt``. Verification mails go to the
embedded mail sink (port 8025) unless ``--smtp`` names a server;
``atmsim mailbox`` lists what the sink received, ``atmsim mailbox show NAME`` prints one
message (the verification link is in it), ``atmsim mailbox serve`` runs the sink alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from atmsim.shell.config import Settings, parse_hostport
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.lifecycle import StopSignals
from atmsim.shell.options import COMMON, MQTT, add_options, settings_from

__all__ = ["add_parser", "run", "portal_db"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``portal`` and ``mailbox`` to the ``atmsim`` sub-parsers."""
    portal = subparsers.add_parser(
        "portal", help="the JMO/SSO web portal: register, log in, Cek Saldo JHT, statement PDF")
    add_options(portal, *COMMON, "mqtt", "mqtt_ca", "mqtt_port", "portal_host", "portal_port",
                "portal_db", "portal_smtp", "mail_port")
    mailbox = subparsers.add_parser(
        "mailbox", help="the mail the portal sent to the embedded mail sink")
    add_options(mailbox, *COMMON, "portal_host", "mail_port")
    mailbox.add_argument("action", nargs="?", default="list", choices=["list", "show", "serve"],
                         help="list (default), show NAME, or serve (the mail sink alone)")
    mailbox.add_argument("name", nargs="?", help="show: the message (from list; "
                         "'last' for the newest)")
    assert MQTT  # the portal takes the broker options of every bus client


def portal_db(settings: Settings) -> Path:
    return (Path(settings.portal.db).expanduser() if settings.portal.db
            else settings.data_dir / "portal" / "portal.db")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``portal`` or ``mailbox``: 0, 130 after Ctrl-C, or 2 with one line for a user
    error."""
    out = out or sys.stdout
    if args.command == "mailbox":
        return exit_status(lambda: _mailbox(args, out))
    return exit_status(lambda: asyncio.run(_portal(args, out)))


def _mailbox(args: argparse.Namespace, out: TextIO) -> int:
    from jmo_portal.mail import read_inbox

    settings = settings_from(args)
    if args.action == "serve":
        return asyncio.run(_mail_sink(settings, out))
    mails = read_inbox(settings.data_dir)
    if args.action == "list":
        if args.name:
            raise UserError("mailbox list takes no name (did you mean: mailbox show NAME?)")
        if not mails:
            print(f"no mail in {settings.data_dir / 'mail' / 'inbox'}", file=out)
        for mail in mails:
            print(f"{mail.name}  {mail.to:<32}  {mail.subject}", file=out)
        return 0
    if not args.name:
        raise UserError("mailbox show needs a NAME from 'atmsim mailbox list' (or 'last')")
    chosen = (mails[-1:] if args.name == "last"
              else [m for m in mails if m.name == args.name])
    if not chosen:
        raise UserError(f"no mail {args.name!r} in the mailbox (see 'atmsim mailbox list')")
    mail = chosen[0]
    print(f"To: {mail.to}\nDate: {mail.date}\nSubject: {mail.subject}\n\n{mail.body}",
          file=out, end="" if mail.body.endswith("\n") else "\n")
    return 0


async def _mail_sink(settings: Settings, out: TextIO) -> int:
    from jmo_portal.mail import MailError, MailSink

    signals = StopSignals()
    signals.install()
    try:
        async with MailSink(settings.data_dir, settings.portal.host,
                            settings.portal.mail_port) as sink:
            print(f"mail sink on {sink.host}:{sink.port}, filing into {sink.inbox}", file=out)
            out.flush()
            await signals.stop.wait()
    except MailError as exc:
        raise UserError(str(exc)) from None
    return 0


async def _portal(args: argparse.Namespace, out: TextIO) -> int:
    from atmsim.shell.stack import StackError, mqtt_endpoint
    from jmo_portal.mail import MailError
    from jmo_portal.server import Portal, PortalError

    settings = settings_from(args)
    p = settings.portal
    smtp = None
    if p.smtp:
        try:
            smtp = parse_hostport(p.smtp)
        except ValueError as exc:
            raise UserError(f"portal.smtp {p.smtp!r}: {exc}") from None
    if settings.mqtt_is_embedded:  # the data directory's broker (atmsim up), by its account
        settings.mqtt.url = f"mqtt://{settings.mqtt.host}:{settings.mqtt.port}"
    try:
        endpoint = mqtt_endpoint(settings, None, "portal")
    except StackError as exc:
        raise UserError(str(exc)) from None
    signals = StopSignals()
    signals.install()
    try:
        async with Portal(data_dir=settings.data_dir, host=p.host, port=p.port,
                          db=portal_db(settings), endpoint=endpoint, smtp=smtp,
                          mail_port=p.mail_port, public_url=p.public_url,
                          max_failed=p.max_failed_logins, lockout_minutes=p.lockout_minutes,
                          idle_minutes=p.session_idle_minutes) as portal:
            sink = (f"; mail sink on {portal.sink.host}:{portal.sink.port} "
                    f"(atmsim mailbox)" if portal.sink else "")
            print(f"portal on {portal.url}{sink}", file=out)
            out.flush()
            await signals.stop.wait()
    except (PortalError, MailError) as exc:
        raise UserError(str(exc)) from None
    return 0
