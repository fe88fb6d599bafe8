"""The embeddable ATM client (``from atmsim import AtmClient``) over real sockets: inquiries
through the whole stack with many in flight, idle echo, reconnection with a new sign-on
after failed echoes or a lost connection, and a timeout that hands back the unanswered
0200 (what a reversal names)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from atmsim import AtmClient, Backoff, HostTimeout, HostUnavailable, SignOnRefused
from atmsim.kernel.wire import Framing, IsoMessage, default_profile, read_frame
from atmsim.shell.stack import Stack
from tests.e2e.atm import card

QUICK = Backoff(initial=0.05, maximum=0.2, jitter=0.0)


@dataclass
class NetworkSwitch:
    """A switch that only knows network management: it signs terminals on (or refuses
    with ``sign_on_code``), answers echoes while ``answer_echoes`` and never a 0200."""

    answer_echoes: bool = True
    sign_on_code: str = "00"
    connections: int = 0
    sign_ons: int = 0
    echoes: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        profile, framing = default_profile(), Framing()
        self.connections += 1
        self.writers.append(writer)
        try:
            while (raw := await read_frame(reader, framing)) is not None:
                message = profile.decode(raw)
                if message["t"] != "0800":
                    continue  # 0200s go unanswered: the client's timeout
                code = message["70"]
                if code == "001":
                    self.sign_ons += 1
                    answer = self.sign_on_code
                else:
                    self.echoes += 1
                    if not self.answer_echoes:
                        continue
                    answer = "00"
                reply = {"t": "0810", **{k: message[k] for k in ("7", "11")}, "39": answer,
                         "41": message["41"], "70": code}
                writer.write(framing.frame(profile.encode(reply)))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def drop_everyone(self) -> None:
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def network_switch() -> AsyncIterator[tuple[NetworkSwitch, int]]:
    switch = NetworkSwitch()
    server = await asyncio.start_server(switch.serve, "127.0.0.1", 0)
    async with server:
        yield switch, server.sockets[0].getsockname()[1]


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


async def test_an_inquiry_through_the_stack_and_many_in_flight_each_get_their_own_answer(
        amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    holders = ["Budi", "Siti", "Andi", "Budi", "Siti", "Andi"] * 4
    async with AtmClient("127.0.0.1", amqtt_stack.switch.port, terminal_id="BNI00007",
                         timeout=10) as atm:
        results = await asyncio.gather(*(atm.inquire(card(h).pan, card(h).pin)
                                         for h in holders))
    for holder, result in zip(holders, results, strict=True):
        assert result.response_code == "00", result.meaning
        assert result.request["2"] == card(holder).pan  # matched by 41 + 11, not by order
        assert result.response["11"] == result.request["11"]
        assert result.balance_sen is not None and result.masked_name
    assert len({r.request["11"] for r in results}) == len(holders)


async def test_a_wrong_pin_is_a_typed_decline(amqtt_stack: Stack) -> None:
    assert amqtt_stack.switch is not None
    siti = card("Siti")
    async with AtmClient("127.0.0.1", amqtt_stack.switch.port, terminal_id="BNI00008") as atm:
        wrong = await atm.inquire(siti.pan, "000000" if siti.pin != "000000" else "111111")
        right = await atm.inquire(siti.pan, siti.pin)  # and the counter is back to 0
    assert (wrong.response_code, wrong.approved, wrong.balance_sen) == ("55", False, None)
    assert right.approved


async def test_failed_echoes_drop_the_link_and_the_client_reconnects_and_signs_on_again(
        network_switch: tuple[NetworkSwitch, int]) -> None:
    switch, port = network_switch
    states: list[bool] = []

    def in_service(state: bool) -> None:
        states.append(state)
        if not state:
            switch.answer_echoes = True  # the next connection is a healthy one

    atm = AtmClient("127.0.0.1", port, echo_interval=0.1, echo_timeout=0.2, echo_failures=2,
                    reconnect=True, backoff=QUICK, on_state=in_service)
    async with atm:
        first = atm.link
        await eventually(lambda: switch.echoes >= 2)  # echoes go out on a quiet link
        assert atm.link is first and switch.connections == 1
        switch.answer_echoes = False
        await eventually(lambda: atm.stats.dropped_for_echoes == 1 and atm.connected)
        assert atm.link is not first
        assert switch.connections == 2 and switch.sign_ons == 2  # signed on again
        echoes = switch.echoes
        await eventually(lambda: switch.echoes >= echoes + 3)
        assert atm.stats.echo_failures == 2  # the two in a row that dropped the first link
        assert atm.stats.dropped_for_echoes == 1  # answered echoes keep the link
    assert states == [True, False, True, False]


async def test_a_lost_connection_is_opened_again_with_backoff_until_the_switch_is_back(
        network_switch: tuple[NetworkSwitch, int]) -> None:
    switch, port = network_switch
    atm = AtmClient("127.0.0.1", port, reconnect=True, backoff=QUICK)
    async with atm:
        switch.sign_on_code = "91"  # the switch is back but refuses sign-ons for a while
        switch.drop_everyone()
        await eventually(lambda: switch.sign_ons >= 3)
        assert not atm.connected
        with pytest.raises(HostUnavailable):  # no connection: at once, no waiting
            await atm.echo()
        switch.sign_on_code = "00"
        assert await atm.wait_connected(10)
        assert (await atm.echo())["39"] == "00"


async def test_a_refused_first_sign_on_is_typed(network_switch: tuple[NetworkSwitch, int]
                                                ) -> None:
    switch, port = network_switch
    switch.sign_on_code = "91"
    with pytest.raises(SignOnRefused) as refused:
        async with AtmClient("127.0.0.1", port):
            pass
    assert refused.value.response_code == "91"


async def test_an_unanswered_inquiry_raises_a_timeout_holding_the_original(
        network_switch: tuple[NetworkSwitch, int]) -> None:
    _, port = network_switch
    budi = card("Budi")
    hooked: list[IsoMessage] = []
    async with AtmClient("127.0.0.1", port, terminal_id="BNI00009",
                         on_timeout=hooked.append) as atm:
        with pytest.raises(HostTimeout) as timed_out:
            await atm.inquire(budi.pan, budi.pin, timeout=0.3)
        assert atm.connected  # a late answer is no reason to drop the link
    original: IsoMessage | None = timed_out.value.request
    assert original is not None and hooked == [original]
    assert (original["t"], original["3"], original["41"]) == ("0200", "310000", "BNI00009")
    assert original["11"].isdigit() and original["37"].endswith(original["11"])


async def test_the_connect_hook_runs_after_each_sign_on_and_a_failing_one_is_retried(
        network_switch: tuple[NetworkSwitch, int]) -> None:
    switch, port = network_switch
    seen: list[tuple[int, str]] = []

    async def after_sign_on(client: AtmClient) -> None:
        # The hook talks through the client on the new connection (a key exchange would).
        reply = await client.echo()
        seen.append((switch.sign_ons, reply["39"]))
        if len(seen) == 2:
            raise HostUnavailable("the key exchange failed")  # this connection is dropped

    async with AtmClient("127.0.0.1", port, reconnect=True, backoff=QUICK,
                         on_connect=after_sign_on) as atm:
        switch.drop_everyone()
        await eventually(lambda: len(seen) == 3 and atm.connected)
    assert seen == [(1, "00"), (2, "00"), (3, "00")]
    assert switch.connections == 3
