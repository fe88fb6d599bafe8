"""The simulated SMSC (the operator's side): an SMPP 3.4 server that routes SMS between
the phones and the ESMEs bound to short codes.

An ESME (the BPJS gateway) binds with its account and is given its short codes; a phone
binds with the handset account and its number as ``address_range``. A ``submit_sm`` is
routed by its destination: to the session bound for that address, as ``deliver_sm``;
when none is bound yet, it waits in that address's mailbox (at most ``mailbox_limit``
messages, then ``ESME_RMSGQFUL``) and is delivered when one binds, so nothing is lost
across a gateway restart. A phone's messages always carry its bound number as sender,
and an ESME may only send from its own short codes (``ESME_RINVSRCADR``).

Every malformed PDU is answered (``atmsim.kernel.smpp.session``), a wrong password is
``ESME_RINVPASWD``, an unknown system id ``ESME_RINVSYSID``, a message before a bind
``ESME_RINVBNDSTS``; nothing a peer sends stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atmsim.kernel.masking import mask_phone
from atmsim.kernel.smpp import Command, Pdu, SessionClosed, SmppSession, SmppTimeout, Status
from atmsim.kernel.smpp.address import normalize_msisdn
from atmsim.kernel.smpp.pdu import Tlv, response_to
from smsc_sim.accounts import SmscAccount

__all__ = ["SmscServer"]

log = logging.getLogger("atmsim.smsc")

_BINDS = {Command.BIND_TRANSCEIVER, Command.BIND_TRANSMITTER, Command.BIND_RECEIVER}
_ROUTED_TLVS = (Tlv.SAR_MSG_REF_NUM, Tlv.SAR_TOTAL_SEGMENTS, Tlv.SAR_SEGMENT_SEQNUM,
                Tlv.MESSAGE_PAYLOAD)
_IN_FLIGHT = 32  # deliver_sm awaiting their response, per bound address
_MESSAGE_FIELDS = ("source_addr_ton", "source_addr_npi", "source_addr", "dest_addr_ton",
                   "dest_addr_npi", "destination_addr", "esm_class", "protocol_id",
                   "data_coding", "short_message")


@dataclass
class _Mailbox:
    messages: deque[tuple[dict[str, Any], dict[int, bytes]]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def _address(text: str) -> str:
    """A route key: a phone number in international form, a short code as it is."""
    try:
        return normalize_msisdn(text) if len(text) > 6 else text
    except ValueError:
        return text


class SmscServer:
    """``async with SmscServer(accounts, host, port)``: listening until closed."""

    def __init__(self, accounts: Mapping[str, SmscAccount], host: str = "127.0.0.1",
                 port: int = 2775, *, system_id: str = "ATMSIM", mailbox_limit: int = 10_000,
                 bind_timeout: float = 30.0) -> None:
        self.accounts = dict(accounts)
        self.host = host
        self.port = port
        self.system_id = system_id
        self.mailbox_limit = mailbox_limit
        self.bind_timeout = bind_timeout  # seconds a connection may stay unbound
        self._server: asyncio.Server | None = None
        self._sessions: set[SmppSession] = set()
        self._routes: dict[str, SmppSession] = {}
        self._mailboxes: dict[str, _Mailbox] = {}
        self._pumps: dict[tuple[int, str], asyncio.Task[None]] = {}
        self._deliveries: set[asyncio.Task[None]] = set()
        self._message_ids = itertools.count(1)
        self.delivered = 0

    async def __aenter__(self) -> SmscServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, self.host, self.port,
                                                  reuse_address=True)
        if self.port == 0:
            self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("SMSC listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pumps.values()):
            task.cancel()
        for session in list(self._sessions):
            await session.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    # -- connections ------------------------------------------------------------------

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        # A wide window: one ESME's bind carries every participant's replies at once.
        session = SmppSession(reader, writer, self._handle, name="smsc", window=1024)
        self._sessions.add(session)
        session.on_close.append(self._closed)
        session.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.bind_timeout):
                await session.wait_closed()
        if not session.closed.is_set() and not session.bound:
            log.warning("smsc %s: no bind within %.0f s, closing", session.peer,
                        self.bind_timeout)
            await session.close()
        await session.wait_closed()

    def _closed(self, session: SmppSession) -> None:
        self._sessions.discard(session)
        for address in session.bound.get("addresses", ()):
            if self._routes.get(address) is session:
                del self._routes[address]
            task = self._pumps.pop((id(session), address), None)
            if task is not None:
                task.cancel()

    async def _handle(self, session: SmppSession, pdu: Pdu) -> Pdu | None:
        if pdu.command in _BINDS:
            return self._bind(session, pdu)
        if pdu.command is Command.ENQUIRE_LINK:
            return response_to(pdu)
        if pdu.command is Command.UNBIND:
            session.send(response_to(pdu))
            await session.drain()
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(session.close()))
            return None
        if not session.bound:
            return response_to(pdu, Status.ESME_RINVBNDSTS)
        if pdu.command is Command.SUBMIT_SM:
            return self._submit(session, pdu)
        return Pdu(Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID)

    def _bind(self, session: SmppSession, pdu: Pdu) -> Pdu:
        if session.bound:
            return response_to(pdu, Status.ESME_RALYBND)
        system_id = pdu.get("system_id")
        account = self.accounts.get(system_id)
        if account is None:
            log.warning("smsc %s: bind as unknown system_id %r", session.peer, system_id)
            return response_to(pdu, Status.ESME_RINVSYSID)
        if not _same(pdu.get("password"), account.password):
            log.warning("smsc %s: wrong password for %s", session.peer, system_id)
            return response_to(pdu, Status.ESME_RINVPASWD)
        if account.role == "handset":
            try:
                addresses: tuple[str, ...] = (normalize_msisdn(pdu.get("address_range")),)
            except ValueError:
                return response_to(pdu, Status.ESME_RBINDFAIL)
        else:
            addresses = account.addresses
        session.bound = {"system_id": system_id, "role": account.role,
                         "addresses": addresses,
                         "receives": pdu.command is not Command.BIND_TRANSMITTER,
                         "sends": pdu.command is not Command.BIND_RECEIVER}
        if session.bound["receives"]:
            for address in addresses:
                previous = self._routes.get(address)
                self._routes[address] = session
                if previous is not None and previous is not session:
                    log.info("smsc: %s now served by a new bind", _shown(address))
                self._pumps[(id(session), address)] = asyncio.create_task(
                    self._pump(session, address))
        log.info("smsc %s: bound %s (%s) for %s", session.peer, system_id, account.role,
                 ", ".join(_shown(a) for a in addresses))
        return response_to(pdu, system_id=self.system_id)

    def _submit(self, session: SmppSession, pdu: Pdu) -> Pdu:
        bound = session.bound
        if not bound.get("sends"):
            return response_to(pdu, Status.ESME_RINVBNDSTS)
        params = {name: pdu.get(name) for name in _MESSAGE_FIELDS}
        if bound["role"] == "handset":
            params["source_addr"] = bound["addresses"][0]  # a phone cannot claim another number
            params["source_addr_ton"], params["source_addr_npi"] = 1, 1
        elif params["source_addr"] not in bound["addresses"]:
            return response_to(pdu, Status.ESME_RINVSRCADR)
        destination = _address(params["destination_addr"])
        if not destination:
            return response_to(pdu, Status.ESME_RINVDSTADR)
        params["destination_addr"] = destination
        mailbox = self._mailboxes.setdefault(destination, _Mailbox())
        if len(mailbox.messages) >= self.mailbox_limit:
            return response_to(pdu, Status.ESME_RMSGQFUL)
        tlvs = {int(tag): pdu.tlvs[tag] for tag in _ROUTED_TLVS if tag in pdu.tlvs}
        mailbox.messages.append((params, tlvs))
        mailbox.arrived.set()
        return response_to(pdu, message_id=f"{next(self._message_ids):x}")

    async def _pump(self, session: SmppSession, address: str) -> None:
        """Deliver ``address``'s mailbox to ``session`` while it is the route, up to
        ``_IN_FLIGHT`` messages awaiting their ``deliver_sm_resp`` at once (SMS carry no
        order; a long message's segments are joined by their numbers)."""
        mailbox = self._mailboxes.setdefault(address, _Mailbox())
        slots = asyncio.Semaphore(_IN_FLIGHT)
        while not session.closed.is_set() and self._routes.get(address) is session:
            if not mailbox.messages:
                mailbox.arrived.clear()
                await mailbox.arrived.wait()
                continue
            await slots.acquire()
            if not mailbox.messages or session.closed.is_set():
                slots.release()
                continue
            item = mailbox.messages.popleft()
            task = asyncio.create_task(self._deliver(session, address, item, slots))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, session: SmppSession, address: str,
                       item: tuple[dict[str, Any], dict[int, bytes]],
                       slots: asyncio.Semaphore) -> None:
        mailbox = self._mailboxes[address]
        params, tlvs = item
        try:
            response = await session.request(
                Pdu(Command.DELIVER_SM, 0, params=params, tlvs=tlvs), 10.0,
                throttle_retries=8)
        except (SessionClosed, SmppTimeout, asyncio.CancelledError):
            mailbox.messages.appendleft(item)  # first again, for the next bind
            mailbox.arrived.set()
            return
        finally:
            slots.release()
        # Delivered, or refused for good (a malformed message): either way it is done.
        self.delivered += 1
        if response.status != Status.ESME_ROK:
            log.warning("smsc: deliver_sm to %s refused: 0x%x", _shown(address),
                        response.status)


def _same(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())


def _shown(address: str) -> str:
    return mask_phone(address) if len(address) > 6 else address
