"""A reply the ATM link cannot match is logged with the nearest pending request and the key
part that differs, and is never taken for the answer: the classic faults of a switch (a
wrong STAN echoed, a wrong MTI class, a header or TPDU ahead of the MTI, a late reply)
reproduced by a fake switch over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from atmsim.kernel.wire import Framing, IsoMessage, default_profile, read_frame
from terminal_ui.device.host_link import AtmHostLink, HostTimeout

# How the fake switch gets an answer wrong: the bytes of the faulty reply to a request.
Fault = Callable[[IsoMessage], bytes]

_PROFILE = default_profile()
_FRAMING = Framing()


def _answer(request: IsoMessage, **changes: str) -> IsoMessage:
    reply = {"t": "0810", "7": request["7"], "11": request["11"], "39": "00",
             "41": request["41"], "70": request["70"]}
    reply.update(changes)
    return reply


def wrong_stan(request: IsoMessage) -> bytes:
    return _PROFILE.encode(_answer(request, **{"11": f"{int(request['11']) + 1:06d}"}))


def wrong_mti_class(request: IsoMessage) -> bytes:
    return _PROFILE.encode(_answer(request, t="0210"))


def extra_header(request: IsoMessage) -> bytes:
    return b"ISO016000015" + _PROFILE.encode(_answer(request))


def tpdu(request: IsoMessage) -> bytes:
    return bytes.fromhex("6000030000") + _PROFILE.encode(_answer(request))


@contextlib.asynccontextmanager
async def faulty_switch(fault: Fault, *, then_right: bool = True, delay: float = 0.0,
                        repeat: int = 1) -> AsyncIterator[int]:
    """Answers each request first with ``fault`` (``repeat`` times), then (``then_right``)
    correctly."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while (raw := await read_frame(reader, _FRAMING)) is not None:
                request = _PROFILE.decode(raw)
                await asyncio.sleep(delay)
                writer.write(_FRAMING.frame(fault(request)) * repeat)
                if then_right:
                    writer.write(_FRAMING.frame(_PROFILE.encode(_answer(request))))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("fault", "explanation"), [
    (wrong_stan, "which differs in 11 ("),
    (wrong_mti_class, "which differs in MTI class (0210 for a 0800, which expects 0810)"),
    (extra_header, "which differs in header ('ISO016000015' where the request had none)"),
    (tpdu, "which differs in TPDU (6000030000 where the request had none)"),
])
async def test_a_faulty_reply_is_explained_and_not_taken(
        fault: Fault, explanation: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "atmsim.atm")
    async with faulty_switch(fault) as port, \
            AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as link:
        reply = await link.echo()
        stan = reply["11"]

    assert reply["t"] == "0810" and reply["39"] == "00"  # the right answer, not the fault
    lines = [r.getMessage() for r in caplog.records if "matches no pending" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert f"nearest: 0800 41=BNI00001 11={stan}" in lines[0]
    assert explanation in lines[0]


async def test_a_wrong_stan_names_both_stans(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "atmsim.atm")
    async with faulty_switch(wrong_stan) as port, \
            AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as link:
        stan = (await link.echo())["11"]
    assert f"differs in 11 ({int(stan) + 1:06d} vs {stan})" in caplog.text


async def test_a_reply_after_the_timeout_is_called_late(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "atmsim.atm")
    right = lambda request: _PROFILE.encode(_answer(request))  # noqa: E731
    async with faulty_switch(right, then_right=False, delay=0.3) as port, \
            AtmHostLink("127.0.0.1", port, terminal_id="BNI00001", timeout=0.1) as link:
        with pytest.raises(HostTimeout):
            await link.echo()
        for _ in range(100):  # the late reply arrives about 0.2 s after the timeout
            if "late reply" in caplog.text:
                break
            await asyncio.sleep(0.05)
    assert "late reply 0810 41=BNI00001" in caplog.text
    assert "timed out (sent" in caplog.text


async def test_a_flood_of_unmatched_replies_is_logged_once_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "atmsim.atm")
    async with faulty_switch(wrong_stan, repeat=51) as port, \
            AtmHostLink("127.0.0.1", port, terminal_id="BNI00001") as link:
        await link.echo()
        assert link.unmatched.count == 51
    assert caplog.text.count("matches no pending request") == 1
