"""The portal's e-mail: verification mails sent over SMTP, and a local mail sink that
receives them so a demo (or a test) can read them without a real mail server.

``Mailer`` sends to any SMTP server (``[portal] smtp = "host:port"``, e.g. a MailHog or
Mailpit a user already runs); by default it sends to ``MailSink``, an SMTP server on
loopback (aiosmtpd) that files every message it accepts as one ``.eml`` file in
``<data dir>/mail/inbox/``, readable with ``atmsim mailbox``. The sink accepts mail for
anyone and relays nothing; a message over ``MAX_MESSAGE`` bytes is refused with 552.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import logging
import os
import smtplib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["Mailer", "MailSink", "MailError", "Mail", "inbox_dir", "read_inbox",
           "MAX_MESSAGE"]

MAX_MESSAGE = 256 * 1024
SENDER = "JMO BPJS Ketenagakerjaan <no-reply@jmo.bpjsketenagakerjaan.example>"


class MailError(RuntimeError):
    """A mail could not be handed to the SMTP server (the message says why)."""


def inbox_dir(data_dir: Path) -> Path:
    return data_dir / "mail" / "inbox"


class Mailer:
    """Sends mail to the SMTP server at ``host:port`` (no TLS, no login: a local relay)."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot send mail through {self.host}:{self.port}: {exc}") from None

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = SENDER
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(datetime.now(UTC))
        message["Message-ID"] = email.utils.make_msgid(domain="jmo.bpjsketenagakerjaan.example")
        message.set_content(body)
        await asyncio.to_thread(self._send, message)


class _Filer:
    """aiosmtpd handler: every accepted message becomes one file in ``inbox``."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if len(content) > MAX_MESSAGE:
            return "552 message too large"
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        path = self.inbox / name
        await asyncio.to_thread(_write_private, path, content)
        return "250 OK: filed"


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)


class MailSink:
    """The local SMTP sink: ``async with MailSink(data_dir, host, port) as sink:``."""

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.inbox = inbox_dir(data_dir)
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> MailSink:
        # aiosmtpd logs every SMTP command at INFO; the sink's own lines say enough
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.inbox.mkdir(parents=True, exist_ok=True)
        os.chmod(self.inbox.parent, 0o700)
        handler = _Filer(self.inbox)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: SMTP(handler, data_size_limit=MAX_MESSAGE, hostname="mail-sink",
                             ident="atmsim mail sink"), self.host, self.port)
        except OSError as exc:
            raise MailError(f"mail sink cannot listen on {self.host}:{self.port}: "
                            f"{exc.strerror or exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass(frozen=True)
class Mail:
    """One filed message, as ``atmsim mailbox`` lists it."""

    name: str
    to: str
    subject: str
    date: str
    body: str


def read_inbox(data_dir: Path) -> list[Mail]:
    """The sink's messages, oldest first."""
    inbox = inbox_dir(data_dir)
    if not inbox.is_dir():
        return []
    mails = []
    for path in sorted(inbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
        text = body.get_content() if body is not None else ""
        mails.append(Mail(path.stem, str(message.get("To", "")), str(message.get("Subject", "")),
                          str(message.get("Date", "")), str(text).replace("\r\n", "\n")))
    return mails
