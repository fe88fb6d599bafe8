"""Wrong PINs: 55, the third in a row 75 and a blocked card; a right PIN resets the count."""

from __future__ import annotations

from atmsim.stack import Stack
from tests.e2e.atm import card, inquire, link_to


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
