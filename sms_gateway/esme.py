"""The gateway's SMPP side: an ESME bound as transceiver to an SMSC (ours or a user's).

``Esme`` connects to ``host:port``, binds with ``system_id`` / ``password``, and keeps
the bind: ``enquire_link`` every ``enquire_interval`` seconds, and after a lost
connection a new one with backoff (1 s doubling to 30 s). Every ``deliver_sm`` (a mobile
originated SMS to the short code) is acknowledged at once, reassembled when it is one
segment of a long message, and handed to ``on_message(msisdn, text)``; its answer goes
back as ``submit_sm`` from the short code, in as many segments as it takes, concatenated
by UDH (``esm_class`` 0x40, the default) or by ``sar_*`` TLVs. A bind refused for its
password or system id is not retried: ``BindRefused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from atmsim.kernel.masking import mask_phone
from atmsim.kernel.smpp import Command, Pdu, SessionClosed, SmppSession, SmppTimeout, Status
from atmsim.kernel.smpp.address import normalize_msisdn
from atmsim.kernel.smpp.pdu import Tlv, response_to
from atmsim.kernel.smpp.text import ESM_UDHI, Reassembler, split_text

__all__ = ["BindRefused", "Esme", "EsmeConfig", "submit_params"]

log = logging.getLogger("atmsim.sms.esme")

MessageHandler = Callable[[str, str], Awaitable[str | None]]
_TON_INTERNATIONAL, _TON_NETWORK_SPECIFIC, _NPI_ISDN = 1, 3, 1


class BindRefused(RuntimeError):
    """The SMSC refused the bind (wrong password or system id): retrying will not help."""


@dataclass(frozen=True)
class EsmeConfig:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "bpjs2757"
    password: str = field(default="", repr=False)
    system_type: str = ""
    short_code: str = "2757"
    concatenation: str = "udh"  # "udh" (esm_class 0x40) or "sar" (sar_* TLVs)
    enquire_interval: float = 30.0
    response_timeout: float = 10.0


def submit_params(source: str, destination: str, segment_body: bytes, data_coding: int,
                  *, source_ton: int, dest_ton: int) -> dict[str, object]:
    return {"source_addr_ton": source_ton, "source_addr_npi": _NPI_ISDN,
            "source_addr": source, "dest_addr_ton": dest_ton, "dest_addr_npi": _NPI_ISDN,
            "destination_addr": destination, "data_coding": data_coding,
            "short_message": segment_body}


class Esme:
    def __init__(self, config: EsmeConfig, on_message: MessageHandler) -> None:
        self.config = config
        self.on_message = on_message
        self.session: SmppSession | None = None
        self.bound = asyncio.Event()
        self._reassembler = Reassembler()
        self._references = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self.refused: BindRefused | None = None

    async def __aenter__(self) -> Esme:
        self._task = asyncio.create_task(self._run(), name="sms-esme")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for answering in list(self._answering):
            answering.cancel()
        if self.session is not None:
            await self.session.unbind(timeout=1.0)
            self.session = None

    async def wait_bound(self, timeout: float) -> bool:
        """Whether the bind holds within ``timeout`` s; raises ``BindRefused``."""
        waiter = asyncio.ensure_future(self.bound.wait())
        task = self._task
        try:
            await asyncio.wait([waiter, *([task] if task else [])], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self.refused is not None:
            raise self.refused
        return self.bound.is_set()

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._connect_and_serve()
                delay = 1.0
            except BindRefused as exc:
                self.refused = exc
                log.error("%s", exc)
                return
            except (OSError, SessionClosed, SmppTimeout) as exc:
                log.warning("SMSC %s:%d: %s; retrying in %.0f s", self.config.host,
                            self.config.port, exc, delay)
            self.bound.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _connect_and_serve(self) -> None:
        c = self.config
        reader, writer = await asyncio.wait_for(asyncio.open_connection(c.host, c.port),
                                                c.response_timeout)
        session = SmppSession(reader, writer, self._handle, name="esme")
        session.start()
        self.session = session
        try:
            response = await session.request(Pdu(Command.BIND_TRANSCEIVER, 0, params={
                "system_id": c.system_id, "password": c.password,
                "system_type": c.system_type, "interface_version": 0x34,
                "addr_ton": _TON_NETWORK_SPECIFIC, "addr_npi": 0,
                "address_range": c.short_code}), c.response_timeout)
            if response.status in (Status.ESME_RINVPASWD, Status.ESME_RINVSYSID):
                raise BindRefused(f"SMSC {c.host}:{c.port} refused system_id "
                                  f"{c.system_id!r}: {Status(response.status).name}")
            if response.status != Status.ESME_ROK:
                raise SessionClosed(f"bind refused with status 0x{response.status:x}")
            log.info("bound to SMSC %s:%d as %s (short code %s)", c.host, c.port,
                     c.system_id, c.short_code)
            self.bound.set()
            while not session.closed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(c.enquire_interval):
                        await session.wait_closed()
                        break
                await session.request(Pdu(Command.ENQUIRE_LINK, 0), c.response_timeout)
            raise SessionClosed("the SMSC closed the connection")
        finally:
            self.bound.clear()
            await session.close()

    async def _handle(self, session: SmppSession, pdu: Pdu) -> Pdu | None:
        if pdu.command is Command.ENQUIRE_LINK:
            return response_to(pdu)
        if pdu.command is Command.UNBIND:
            session.send(response_to(pdu))
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(session.close()))
            return None
        if pdu.command is not Command.DELIVER_SM:
            return Pdu(Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID)
        try:
            sender = normalize_msisdn(pdu.get("source_addr"))
        except ValueError:
            return response_to(pdu, Status.ESME_RINVSRCADR)
        try:
            text = self._reassembler.add(sender, pdu.get("esm_class"), pdu.get("short_message"),
                                         pdu.get("data_coding"), pdu.tlvs)
        except ValueError as exc:
            log.warning("deliver_sm from %s: %s", mask_phone(sender), exc)
            return response_to(pdu, Status.ESME_RINVMSGLEN)
        if text is not None:
            task = asyncio.create_task(self._answer(session, sender, text))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        return response_to(pdu)

    async def _answer(self, session: SmppSession, sender: str, text: str) -> None:
        try:
            reply = await self.on_message(sender, text)
        except Exception:
            log.exception("answering an SMS from %s failed", mask_phone(sender))
            return
        if reply is not None:
            await self.send(sender, reply, session)

    async def send(self, msisdn: str, text: str, session: SmppSession | None = None) -> None:
        """Send ``text`` to ``msisdn`` from the short code, segmented as needed."""
        session = session or self.session
        if session is None:
            raise SessionClosed("not bound")
        c = self.config
        segments = split_text(text, reference=next(self._references) & 0xFF)
        for segment in segments:
            params = submit_params(c.short_code, msisdn, segment.body, segment.data_coding,
                                   source_ton=_TON_NETWORK_SPECIFIC,
                                   dest_ton=_TON_INTERNATIONAL)
            tlvs: dict[int, bytes] = {}
            if segment.total > 1 and c.concatenation == "sar":
                tlvs = {Tlv.SAR_MSG_REF_NUM: segment.reference.to_bytes(2, "big"),
                        Tlv.SAR_TOTAL_SEGMENTS: bytes((segment.total,)),
                        Tlv.SAR_SEGMENT_SEQNUM: bytes((segment.number,))}
            elif segment.total > 1:
                params["esm_class"] = ESM_UDHI
                params["short_message"] = segment.udh + segment.body
            response = await session.request(Pdu(Command.SUBMIT_SM, 0, params=params,
                                                 tlvs=tlvs), c.response_timeout,
                                             throttle_retries=8)
            if response.status != Status.ESME_ROK:
                log.warning("submit_sm to %s refused: 0x%x", mask_phone(msisdn),
                            response.status)
                return
