"""What the ATM shows after each outcome, from terminal_ui/flow.py alone (no Textual)."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

from atmsim.kernel.response_codes import ResponseCode
from terminal_ui import flow
from terminal_ui.flow import Failure, MenuItem, State, Then


def test_flow_imports_no_textual() -> None:
    run = subprocess.run([sys.executable, "-c", "import sys, terminal_ui.flow; "
                          "print(sorted(m for m in sys.modules if m.startswith('textual')))"],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_the_examples_in_flow_hold() -> None:
    assert doctest.testmod(flow).failed == 0


def test_an_approval_with_a_balance_shows_it_and_resets_the_wrong_pin_count() -> None:
    next_ = flow.after_inquiry("00")
    assert next_.shows_balance and next_.pin_accepted and not next_.wrong_pin


def test_an_approval_without_a_balance_is_declined_but_the_pin_was_right() -> None:
    next_ = flow.after_inquiry("00", balance_valid=False)
    assert not next_.shows_balance
    assert (next_.decline, next_.then) == (Failure.NO_BALANCE, Then.ANOTHER_TRANSACTION)
    assert next_.pin_accepted


def test_a_wrong_pin_asks_for_the_pin_again_and_counts_the_try() -> None:
    next_ = flow.after_inquiry(ResponseCode.WRONG_PIN)
    assert (next_.decline, next_.then, next_.wrong_pin) == ("55", Then.PIN_AGAIN, True)
    assert not next_.pin_accepted


def test_pin_tries_exceeded_keeps_the_card() -> None:
    next_ = flow.after_inquiry("75")
    assert (next_.then, next_.wrong_pin) == (Then.RETAIN_CARD, False)


@pytest.mark.parametrize("code", [c for c in ResponseCode if c.is_card_problem])
def test_card_problems_end_the_session_and_return_the_card(code: ResponseCode) -> None:
    assert flow.after_inquiry(code).then is Then.RETURN_CARD


@pytest.mark.parametrize("code", [c for c in ResponseCode
                                  if c.is_participant_problem or c.is_system_problem]
                         + ["05", "99"])  # and codes this ATM does not know
def test_participant_system_and_unknown_codes_offer_another_transaction(code: str) -> None:
    next_ = flow.after_inquiry(code)
    assert (next_.decline, next_.then) == (code, Then.ANOTHER_TRANSACTION)
    assert not next_.wrong_pin and not next_.pin_accepted


def test_every_response_code_has_a_next_step() -> None:
    # A code added to the kernel without a family would still get a decline screen.
    for code in ResponseCode:
        next_ = flow.after_inquiry(code)
        assert next_.shows_balance == (code is ResponseCode.APPROVED)


@pytest.mark.parametrize("failure", [Failure.TIMEOUT, Failure.LOST])
def test_no_answer_or_no_link_gives_the_card_back(failure: Failure) -> None:
    next_ = flow.after_host_failure(failure)
    assert (next_.decline, next_.then) == (failure, Then.RETURN_CARD)


def test_after_the_pin_the_menu_or_the_interrupted_inquiry() -> None:
    assert flow.after_pin(inquiry_pending=False) is State.MAIN_MENU
    assert flow.after_pin(inquiry_pending=True) is State.PROCESSING


def test_the_menu_path_to_the_jht_balance_and_back() -> None:
    path = [(State.MAIN_MENU, MenuItem.OTHER_MENU), (State.OTHER_MENU, MenuItem.BPJS),
            (State.BPJS_MENU, MenuItem.CHECK_JHT), (State.KPJ_SOURCE, MenuItem.TYPE_KPJ)]
    assert [flow.after_menu(here, item) for here, item in path] == [
        State.OTHER_MENU, State.BPJS_MENU, State.KPJ_SOURCE, State.KPJ_ENTRY]
    back = [State.KPJ_ENTRY, State.KPJ_SOURCE, State.BPJS_MENU, State.OTHER_MENU]
    assert [flow.after_menu(here, MenuItem.BACK) for here in back] == [
        State.KPJ_SOURCE, State.BPJS_MENU, State.OTHER_MENU, State.MAIN_MENU]
    assert flow.after_menu(State.IDLE, MenuItem.OTHER_CARD) is State.CARD_ENTRY
    assert flow.after_menu(State.CARD_ENTRY, MenuItem.BACK) is State.IDLE


@pytest.mark.parametrize("menu", [State.MAIN_MENU, State.OTHER_MENU, State.BPJS_MENU])
def test_items_the_simulator_lacks_say_so(menu: State) -> None:
    assert flow.after_menu(menu, MenuItem.NOT_OFFERED) is State.NOT_AVAILABLE


def test_a_choice_a_screen_does_not_offer_is_an_error() -> None:
    with pytest.raises(ValueError, match="offers no"):
        flow.after_menu(State.PIN, MenuItem.BPJS)


def test_the_link_takes_the_atm_out_of_and_back_into_service_only_between_customers() -> None:
    assert flow.after_connection_change(State.OFFLINE, connected=True) is State.IDLE
    assert flow.after_connection_change(State.IDLE, connected=False) is State.OFFLINE
    assert flow.after_connection_change(State.CARD_ENTRY, connected=False) is State.OFFLINE
    assert flow.after_connection_change(State.IDLE, connected=True) is None
    assert flow.after_connection_change(State.OFFLINE, connected=False) is None
    for in_session in (State.PIN, State.MAIN_MENU, State.RESULT):
        assert flow.after_connection_change(in_session, connected=False) is None
    assert flow.idle_state(connected=True) is State.IDLE
    assert flow.idle_state(connected=False) is State.OFFLINE
