"""A small switch over a real socket that answers every 0200 the way a test says.

It signs terminals on (0810, 39 = 00) and answers each 0200 with 39 = 00 and a field 54
chosen by the test: missing, malformed, or a valid balance. It keeps every 0200 it got,
so a test can compare what the ATM sent with what it showed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from atmsim.kernel.wire import Framing, IsoMessage, default_profile, read_frame
from atmsim.kernel.wire.additional_data import encode_balance_amount, encode_tlv

__all__ = ["FakeSwitch", "fake_switch", "NO_54", "VALID_54"]

NO_54 = None  # the 0210 carries no field 54
VALID_54 = encode_balance_amount(1_234_567_800)  # Rp12.345.678,00

_DETAILS = encode_tlv([("KP", "10012345678"), ("NM", "B**i S*****o"), ("ST", "AKTIF"),
                       ("DT", "20261031")])
_ECHOED = ("2", "3", "4", "7", "11", "32", "37", "41", "49")


def _ordered(message: dict[str, str]) -> IsoMessage:
    return dict(sorted(message.items(), key=lambda kv: -1 if kv[0] == "t" else int(kv[0])))


@dataclass
class FakeSwitch:
    field54: str | None
    code: str = "00"
    port: int = 0
    requests: list[IsoMessage] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def answer(self, request: IsoMessage) -> IsoMessage:
        reply: dict[str, str] = {"t": "0210", **{k: request[k] for k in _ECHOED if k in request},
                                 "39": self.code}
        if self.code == "00":
            reply.update({"38": "123456", "48": _DETAILS})
            if self.field54 is not None:
                reply["54"] = self.field54
        return _ordered(reply)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        profile, framing = default_profile(), Framing()
        self.writers.append(writer)
        try:
            while (raw := await read_frame(reader, framing)) is not None:
                message = profile.decode(raw)
                if message["t"] == "0800":
                    reply = _ordered({"t": "0810", **{k: message[k] for k in
                                                      ("7", "11", "41", "70")}, "39": "00"})
                else:
                    self.requests.append(message)
                    reply = self.answer(message)
                writer.write(framing.frame(profile.encode(reply)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def fake_switch(field54: str | None, code: str = "00") -> AsyncIterator[FakeSwitch]:
    switch = FakeSwitch(field54, code)
    server = await asyncio.start_server(switch.serve, "127.0.0.1", 0)
    switch.port = server.sockets[0].getsockname()[1]
    async with server:
        try:
            yield switch
        finally:
            server.close()
            for writer in switch.writers:
                writer.close()
