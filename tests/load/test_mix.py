"""The card mix: wrong PINs in the share asked for, but never enough to block a card."""

from __future__ import annotations

import random

from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.shell.load.cards import UNKNOWN_KPJ, demo_cards, parse_card_rows, wrong_pin_for
from atmsim.shell.load.mix import (
    InquiryKind,
    InquiryPlanner,
    MixSettings,
    PinTryGuard,
    PlannedInquiry,
)
from terminal_ui.device.pinpad import PinPad

PINPAD = PinPad(DEMO_KEYS["TPK"].clear_hex)


def _switch_counter_after(answers: list[tuple[bool, str]]) -> int:
    """What the switch's counter is after these (wrong PIN?, answer) in order."""
    tries = 0
    for wrong, code in answers:
        if wrong and code == "55":
            tries += 1
        elif not wrong and code == "00":
            tries = 0
    return tries


def test_simulated_run_never_reaches_the_limit() -> None:
    """Random interleavings of sends and answers, as many ATMs produce them."""
    rng = random.Random(3)
    planner = InquiryPlanner(demo_cards()[:2], MixSettings(0.6, 0.0, 3), PINPAD, seed=5)
    counters = [0, 0]
    in_flight: list[PlannedInquiry] = []
    for _ in range(5000):
        if in_flight and (rng.random() < 0.5 or len(in_flight) > 6):
            plan = in_flight.pop(rng.randrange(len(in_flight)))  # the switch's order
            wrong = plan.kind is InquiryKind.WRONG_PIN
            if wrong:
                counters[plan.card_index] += 1
                assert counters[plan.card_index] < 3, "the mix would have blocked a card"
                code = "55"
            else:
                counters[plan.card_index] = 0
                code = "00"
            planner.answered(plan, code)
        else:
            in_flight.append(planner.next())
    assert planner.planned[InquiryKind.WRONG_PIN] > 500


def test_a_wrong_pin_waits_for_the_cards_other_inquiries() -> None:
    guard = PinTryGuard(1, limit=3)
    proves = guard.sent(0, wrong_pin=False)
    guard.answered(0, False, proves, "00")  # known: counter 0
    assert guard.may_take_wrong_pin(0)
    guard.sent(0, wrong_pin=False)
    assert not guard.may_take_wrong_pin(0)  # something in flight: order unknown


def test_a_right_pin_sent_beside_a_wrong_one_proves_nothing() -> None:
    guard = PinTryGuard(1, limit=3)
    guard.answered(0, False, guard.sent(0, wrong_pin=False), "00")
    guard.sent(0, wrong_pin=True)
    proves = guard.sent(0, wrong_pin=False)
    assert proves is False
    guard.answered(0, False, proves, "00")  # may have been seen before the wrong one
    guard.answered(0, True, False, "55")
    guard.answered(0, False, guard.sent(0, wrong_pin=False), "00")
    assert guard.may_take_wrong_pin(0)
    guard.answered(0, True, guard.sent(0, wrong_pin=True), "55")
    assert guard.may_take_wrong_pin(0)  # one wrong PIN counted: a second is still safe
    guard.answered(0, True, guard.sent(0, wrong_pin=True), "55")
    assert not guard.may_take_wrong_pin(0)  # a third would block the card


def test_cards_start_unknown_until_a_right_pin_is_verified() -> None:
    guard = PinTryGuard(1, limit=3)
    assert not guard.may_take_wrong_pin(0)


def test_mix_shares_and_unknown_kpj() -> None:
    planner = InquiryPlanner(demo_cards(), MixSettings(0.0, 0.25, 3), PINPAD, seed=1)
    plans = [planner.next() for _ in range(2000)]
    unknown = [p for p in plans if p.kind is InquiryKind.UNKNOWN_KPJ]
    assert 400 < len(unknown) < 600
    assert all(p.kpj == UNKNOWN_KPJ for p in unknown)


def test_wrong_pin_blocks_differ_from_right_ones() -> None:
    planner = InquiryPlanner(demo_cards()[:1], MixSettings(0.0, 0.0, 3), PINPAD, seed=1)
    right = planner.next().pin_block
    assert wrong_pin_for("123456") != "123456"
    assert PINPAD.encrypt_pin(wrong_pin_for("123456"), demo_cards()[0].pan) != right


def test_card_rows_are_checked() -> None:
    cards = parse_card_rows([{"pan": "5264220000100010", "pin": "123456", "kpj": ""}], "f")
    assert cards[0].typed_kpj is None and cards[0].expiry == "3012"
    assert "123456" not in repr(cards[0])
