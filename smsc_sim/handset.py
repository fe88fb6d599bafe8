"""A simulated phone on the SMSC: bound with the handset account and its own number.

``async with Handset(host, port, msisdn, password) as phone``: ``await phone.send(text)``
sends to 2757 (long texts in concatenated segments), ``await phone.receive(timeout)``
gives the next whole SMS that came in (segments put back together). The phone terminal
(``atmsim sms``), the tests and the benchmark all use it.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from atmsim.kernel.smpp import Command, Pdu, SessionClosed, SmppSession, SmppTimeout, Status
from atmsim.kernel.smpp.address import normalize_msisdn
from atmsim.kernel.smpp.pdu import response_to
from atmsim.kernel.smpp.text import ESM_UDHI, Reassembler, split_text

__all__ = ["Handset", "HandsetError", "Sms"]


class HandsetError(RuntimeError):
    """The phone could not bind or send; the message says why."""


@dataclass(frozen=True)
class Sms:
    sender: str
    text: str


class Handset:
    def __init__(self, host: str, port: int, msisdn: str, password: str, *,
                 system_id: str = "handset", short_code: str = "2757") -> None:
        self.host = host
        self.port = port
        self.msisdn = normalize_msisdn(msisdn)
        self.password = password
        self.system_id = system_id
        self.short_code = short_code
        self.inbox: asyncio.Queue[Sms] = asyncio.Queue()
        self._reassembler = Reassembler()
        self._references = itertools.count(1)
        self.session: SmppSession | None = None

    async def __aenter__(self) -> Handset:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout: float = 5.0) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout)
        except (OSError, TimeoutError) as exc:
            raise HandsetError(f"cannot reach the SMSC at {self.host}:{self.port}: "
                               f"{exc or 'timed out'}") from None
        self.session = SmppSession(reader, writer, self._handle, name="handset")
        self.session.start()
        try:
            response = await self.session.request(Pdu(Command.BIND_TRANSCEIVER, 0, params={
                "system_id": self.system_id, "password": self.password,
                "interface_version": 0x34, "addr_ton": 1, "addr_npi": 1,
                "address_range": self.msisdn}), timeout)
        except (SessionClosed, SmppTimeout) as exc:
            await self.session.close()
            raise HandsetError(f"{self.host}:{self.port} did not answer the bind as an SMSC "
                               f"({exc})") from None
        if response.status != Status.ESME_ROK:
            await self.session.close()
            raise HandsetError(f"the SMSC refused the phone's bind: "
                               f"{_status_name(response.status)}")

    async def close(self) -> None:
        if self.session is not None:
            await self.session.unbind(timeout=1.0)
            self.session = None

    async def send(self, text: str, to: str | None = None, *, timeout: float = 5.0) -> None:
        """Send ``text`` (to 2757 unless ``to``); raises ``HandsetError`` when refused."""
        if self.session is None:
            raise HandsetError("not connected")
        for segment in split_text(text, reference=next(self._references) & 0xFF):
            params: dict[str, object] = {
                "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": self.msisdn,
                "dest_addr_ton": 3, "dest_addr_npi": 0,
                "destination_addr": to or self.short_code,
                "data_coding": segment.data_coding, "short_message": segment.body}
            if segment.total > 1:
                params["esm_class"] = ESM_UDHI
                params["short_message"] = segment.udh + segment.body
            try:
                response = await self.session.request(
                    Pdu(Command.SUBMIT_SM, 0, params=params), timeout, throttle_retries=8)
            except (SessionClosed, SmppTimeout) as exc:
                raise HandsetError(f"the message was not sent: {exc}") from None
            if response.status != Status.ESME_ROK:
                raise HandsetError(f"the SMSC refused the message: "
                                   f"{_status_name(response.status)}")

    async def receive(self, timeout: float = 10.0) -> Sms:
        """The next whole SMS received; ``TimeoutError`` when none comes in time."""
        async with asyncio.timeout(timeout):
            return await self.inbox.get()

    async def _handle(self, session: SmppSession, pdu: Pdu) -> Pdu | None:
        if pdu.command is Command.ENQUIRE_LINK:
            return response_to(pdu)
        if pdu.command is Command.UNBIND:
            session.send(response_to(pdu))
            return None
        if pdu.command is not Command.DELIVER_SM:
            return Pdu(Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID)
        sender = pdu.get("source_addr")
        try:
            text = self._reassembler.add(sender, pdu.get("esm_class"), pdu.get("short_message"),
                                         pdu.get("data_coding"), pdu.tlvs)
        except ValueError:
            return response_to(pdu, Status.ESME_RINVMSGLEN)
        if text is not None:
            self.inbox.put_nowait(Sms(sender, text))
        return response_to(pdu)


def _status_name(status: int) -> str:
    try:
        return f"{Status(status).name} (0x{status:x})"
    except ValueError:
        return f"status 0x{status:x}"
