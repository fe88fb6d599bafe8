"""The simulated SMSC with an SMPP client it did not grow up with: aiosmpplib's ESME
(an independent asyncio SMPP 3.4 implementation) binds, receives a phone's message as
deliver_sm and sends one back with submit_sm."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from smsc_sim.accounts import ensure_accounts
from smsc_sim.handset import Handset
from smsc_sim.server import SmscServer

aiosmpplib = pytest.importorskip("aiosmpplib")


class _Hook(aiosmpplib.AbstractHook):  # type: ignore[misc]
    def __init__(self) -> None:
        self.delivered: asyncio.Queue[object] = asyncio.Queue()

    async def sending(self, smpp_message: object, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: object, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, aiosmpplib.DeliverSm):
            self.delivered.put_nowait(smpp_message)

    async def send_error(self, smpp_message: object, error: Exception, client_id: str) -> None:
        pass


async def test_an_independent_esme_talks_to_our_smsc(tmp_path: Path) -> None:
    accounts = ensure_accounts(tmp_path)
    async with SmscServer(accounts, port=0) as smsc:
        hook = _Hook()
        esme = aiosmpplib.ESME("127.0.0.1", smsc.port, "bpjs2757",
                               accounts["bpjs2757"].password, address_range="2757",
                               hook=hook, log_level="WARNING")
        running = asyncio.create_task(esme.start())
        try:
            async with Handset("127.0.0.1", smsc.port, "081400000001",
                               accounts["handset"].password) as phone:
                await phone.send("SALDO 10012345678")
                message = await asyncio.wait_for(hook.delivered.get(), 15)
                assert message.short_message == "SALDO 10012345678"
                assert message.source.number == "6281400000001"
                await esme.broker.enqueue(aiosmpplib.SubmitSm(
                    short_message="BPJSTK: balasan", source=aiosmpplib.PhoneNumber("2757"),
                    destination=aiosmpplib.PhoneNumber("6281400000001"),
                    registered_delivery=0, log_id="interop-1"))
                reply = await phone.receive(15)
                assert (reply.sender, reply.text) == ("2757", "BPJSTK: balasan")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.stop(), 5)
            running.cancel()
            with contextlib.suppress(BaseException):
                await running
