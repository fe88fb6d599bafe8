"""Every response code belongs to exactly one family, the one a terminal decides on."""

from __future__ import annotations

from atmsim.kernel.response_codes import ResponseCode

FAMILIES = ("is_approved", "is_card_problem", "is_pin_problem", "is_participant_problem",
            "is_system_problem")


def test_each_code_is_in_exactly_one_family() -> None:
    for code in ResponseCode:
        assert [f for f in FAMILIES if getattr(code, f)] != [], code
        assert len([f for f in FAMILIES if getattr(code, f)]) == 1, code


def test_the_families_a_cardholder_meets() -> None:
    assert {c.value for c in ResponseCode if c.is_card_problem} == {"14", "54", "62"}
    assert {c.value for c in ResponseCode if c.is_pin_problem} == {"55", "75"}
    assert {c.value for c in ResponseCode if c.is_participant_problem} == {"25", "57"}
