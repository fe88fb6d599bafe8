"""Wrong PINs: 55, the third in a row 75 and a blocked card; a right PIN resets the count.

Also under attack: however many guesses race for one card, the HSM checks at most three.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from atm_switch.card_store import CardStatus
from atmsim.kernel.demo_data import DemoCard
from atmsim.kernel.wire import Framing, default_profile, read_frame
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.provisioning import open_card_store
from atmsim.shell.stack import Stack
from hsm_mock.lmk import VariantLmk
from hsm_mock.server import HsmServer
from terminal_ui.device.transactions import CardData, balance_inquiry_request
from tests.e2e.atm import PINPAD, card, inquire, link_to
from tests.e2e.conftest import stack_settings
from tests.e2e.hsm_proxy import CountingHsmProxy


async def test_pin_differing_only_in_its_last_digit_is_wrong(amqtt_stack: Stack) -> None:
    budi = card("Budi")
    almost = budi.pin[:-1] + str((int(budi.pin[-1]) + 1) % 10)
    async with link_to(amqtt_stack) as link:
        _, result = await inquire(link, budi, pin=almost)
        assert result.response_code == "55"
        _, result = await inquire(link, budi, pin=budi.pin[:4])  # a 4-digit PIN is wrong too
        assert result.response_code == "55"


async def test_third_wrong_pin_blocks_the_card_even_for_the_right_pin(amqtt_stack: Stack) -> None:
    siti = card("Siti")
    async with link_to(amqtt_stack) as link:
        codes = [(await inquire(link, siti, pin="000000"))[1].response_code for _ in range(3)]
        assert codes == ["55", "55", "75"]
        _, after = await inquire(link, siti)
        assert after.response_code == "75"
        _, other = await inquire(link, card("Budi"))  # other cards are not affected
        assert other.response_code == "00"


async def test_right_pin_before_the_third_resets_the_counter(amqtt_stack: Stack) -> None:
    dewi = card("Dewi")
    async with link_to(amqtt_stack) as link:
        codes = [(await inquire(link, dewi, pin=p))[1].response_code
                 for p in ("111111", "222222", dewi.pin, "333333", "444444", dewi.pin)]
    assert codes == ["55", "55", "00", "55", "55", "00"]


async def test_hsm_outage_does_not_burn_the_cardholders_tries(amqtt_stack: Stack) -> None:
    budi = card("Budi")
    async with link_to(amqtt_stack) as link:
        await amqtt_stack.stop_hsm()
        during = [(await inquire(link, budi, pin="000000"))[1].response_code for _ in range(5)]
        await amqtt_stack.start_hsm()
        assert during == ["91"] * 5
        for _ in range(20):  # the switch's HSM link finds the HSM again
            if (await inquire(link, card("Siti")))[1].response_code == "00":
                break
            await asyncio.sleep(0.2)
        after = [(await inquire(link, budi, pin=p))[1].response_code
                 for p in ("000000", "000001", budi.pin)]
    assert after == ["55", "55", "00"]


# -- racing wrong PINs ----------------------------------------------------------------------
#
# An attacker with a stolen card sends many PIN guesses at once, over several connections
# or pipelined on one, hoping that all reach the HSM before the third wrong one blocks the
# card. A proxy between switch and HSM counts the verifications that really reach the HSM.

ROUNDS = 20
GUESSES = [f"{n:06d}" for n in range(50)]  # none is a demo PIN
PIN_TRIES = 3


@dataclass
class CountedStack:
    stack: Stack
    proxy: CountingHsmProxy


@contextlib.asynccontextmanager
async def counted_stacks(broker: EmbeddedBroker, data_dir: Path, switches: int = 1,
                         cards_db: str = "") -> AsyncIterator[list[CountedStack]]:
    """``switches`` switches sharing one data directory (one cards.db), or with
    ``cards_db`` each in a data directory of its own and sharing only that card store;
    each with its HSM port taken over by a counting proxy in front of one HSM."""
    hsm = HsmServer("127.0.0.1", 0, lmk=VariantLmk.test(), header_len=4)
    await hsm.start()
    proxy = CountingHsmProxy("127.0.0.1", hsm.port)
    async with contextlib.AsyncExitStack() as stacks:
        counted = []
        for number in range(switches):
            own_dir = data_dir / f"switch-{number}" if cards_db else data_dir
            settings = stack_settings(own_dir, broker.endpoint.secret_url)
            settings.switch.cards_db = cards_db
            settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
            # A deadline no loaded machine reaches: a 91 would give its try back and let
            # one more guess through, which is right but not what this test counts.
            settings.switch.hsm_deadline = 10.0
            stack = await stacks.enter_async_context(Stack(settings))
            port = stack.settings.hsm.port
            await stack.stop_hsm()
            await proxy.listen(port)
            counted.append(CountedStack(stack, proxy))
        stacks.push_async_callback(hsm.close)
        stacks.push_async_callback(proxy.close)
        for c in counted:
            await _until_approved(c.stack)
        yield counted


async def _until_approved(stack: Stack) -> None:
    async with link_to(stack, "BNI00999") as link:
        for _ in range(50):
            if (await inquire(link, card("Budi")))[1].response_code == "00":
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the switch never reached the HSM through the proxy")


def _unblock(data_dir: Path, pan: str, cards_db: str = "") -> None:
    """What ``atmsim cards unblock`` does, through the card store's public API."""
    store = open_card_store(data_dir, VariantLmk.test(), cards_db or None)
    try:
        assert store.set_status(pan, CardStatus.ACTIVE, reset_tries=True)
    finally:
        store.close()


_terminals = itertools.count(100, 10)  # BNI00100, BNI00110, ...: 10 terminals a burst


async def _burst_on_connections(stacks: list[Stack], victim: DemoCard) -> list[str]:
    """50 guesses spread over 10 connections, then the right PIN on the last connection,
    behind that connection's five guesses: it cannot be one of the first three checked."""
    async with contextlib.AsyncExitStack() as exits:
        # Ten terminals of their own per burst: links of one terminal in two rounds of the
        # same second could repeat a STAN, which the switch rightly answers 94.
        first = next(_terminals)
        links = [await exits.enter_async_context(
                    link_to(stacks[i * len(stacks) // 10], f"BNI{first + i:05d}"))
                 for i in range(10)]
        sends = [inquire(links[i % 10], victim, pin=guess) for i, guess in enumerate(GUESSES)]
        sends.append(inquire(links[-1], victim))
        return [result.response_code for _, result in await asyncio.gather(*sends)]


_stans = itertools.count(1)


async def _burst_pipelined(stack: Stack, victim: DemoCard) -> list[str]:
    """50 guesses and then the right PIN, all written in one go before a reply is read."""
    assert stack.switch is not None
    profile, framing = default_profile(), Framing()
    data = CardData(victim.pan, victim.expiry, victim.track2)
    frames = b"".join(
        framing.frame(profile.encode(balance_inquiry_request(
            data, PINPAD.encrypt_pin(pin, victim.pan), terminal_id="BNI00200",
            stan=f"{next(_stans):06d}")))
        for pin in [*GUESSES, victim.pin])
    reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
    try:
        writer.write(frames)
        await writer.drain()
        codes = []
        for _ in range(len(GUESSES) + 1):
            raw = await asyncio.wait_for(read_frame(reader, framing), 30)
            assert raw is not None, "the switch closed the connection"
            codes.append(profile.decode(raw)["39"])
        return codes
    finally:
        writer.close()


async def _race(stacks: list[CountedStack], data_dir: Path, victim: DemoCard,
                burst: Callable[[], Awaitable[list[str]]], cards_db: str = "") -> int:
    """ROUNDS bursts; returns the most verifications the HSM saw in one."""
    proxy = stacks[0].proxy
    worst = 0
    for round_number in range(ROUNDS):
        before = proxy.verifications
        codes = await burst()
        seen = proxy.verifications - before
        worst = max(worst, seen)
        where = f"round {round_number}: HSM saw {seen} verifications, answers {Counter(codes)}"
        assert "00" not in codes, where
        assert seen <= PIN_TRIES, where
        # Exactly three guesses were checked: two 55s, and the third blocked the card.
        assert Counter(codes) == {"55": PIN_TRIES - 1, "75": len(codes) - PIN_TRIES + 1}, where
        _unblock(data_dir, victim.pan, cards_db)
    return worst


async def test_racing_guesses_on_ten_connections_get_three_verifications(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    victim = card("Wayan")
    async with counted_stacks(amqtt_broker, data_dir) as stacks:
        worst = await _race(stacks, data_dir, victim,
                            lambda: _burst_on_connections([stacks[0].stack], victim))
        # After the last unblock the card works with its right PIN.
        async with link_to(stacks[0].stack) as link:
            assert (await inquire(link, victim))[1].response_code == "00"
    print(f"\n10 connections: at most {worst} HSM verifications per burst of 51")


async def test_racing_guesses_pipelined_on_one_connection_get_three_verifications(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    victim = card("Siti")
    async with counted_stacks(amqtt_broker, data_dir) as stacks:
        worst = await _race(stacks, data_dir, victim,
                            lambda: _burst_pipelined(stacks[0].stack, victim))
    print(f"\npipelined: at most {worst} HSM verifications per burst of 51")


async def test_two_switches_sharing_the_card_file_get_three_verifications(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    victim = card("Dewi")
    async with counted_stacks(amqtt_broker, data_dir, switches=2) as stacks:
        worst = await _race(stacks, data_dir, victim,
                            lambda: _burst_on_connections([c.stack for c in stacks], victim))
    print(f"\ntwo switches: at most {worst} HSM verifications per burst of 51")


async def test_two_switches_on_one_postgres_card_store_get_three_verifications(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    """Two switches in data directories of their own (as on two machines) share one card
    store on PostgreSQL: the burst split over both still reaches the HSM three times."""
    from tests.ledger.conftest import postgres_base_url, postgres_schema

    victim = card("Wayan")
    with postgres_schema(postgres_base_url()) as (url, _):
        async with counted_stacks(amqtt_broker, data_dir, switches=2, cards_db=url) as stacks:
            assert not (data_dir / "switch-0" / "switch" / "cards.db").exists()
            both = [c.stack for c in stacks]
            worst = await _race(stacks, data_dir, victim,
                                lambda: _burst_on_connections(both, victim), cards_db=url)
            for stack in both:  # unblocked once, the card works at either switch
                async with link_to(stack) as link:
                    assert (await inquire(link, victim))[1].response_code == "00"
    print(f"\ntwo switches on PostgreSQL: at most {worst} HSM verifications per burst of 51")
