"""Where the ATM decides what to show next: after a menu choice, after the PIN, after the
host's answer (field 39), after a decline, when the link to the switch comes or goes.

Pure: no Textual, no I/O. Screens post what the customer did (``terminal_ui.screens
.messages``); the app asks this module what follows and shows it. The answers to a 0210
are keyed on :class:`~atmsim.kernel.response_codes.ResponseCode` and its families, so a
new code lands in the right family without a new branch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from atmsim.kernel.response_codes import ResponseCode

__all__ = ["State", "MenuItem", "Failure", "Then", "InquiryNext", "after_menu", "after_pin",
           "after_inquiry", "after_host_failure", "after_connection_change", "idle_state"]


class State(StrEnum):
    """The states of the ATM the customer can see, one screen each."""

    OFFLINE = "offline"
    IDLE = "idle"
    CARD_ENTRY = "card_entry"
    LANGUAGE = "language"
    PIN = "pin"
    MAIN_MENU = "main_menu"
    OTHER_MENU = "other_menu"
    BPJS_MENU = "bpjs_menu"
    NOT_AVAILABLE = "not_available"
    KPJ_SOURCE = "kpj_source"
    KPJ_ENTRY = "kpj_entry"
    KPJ_CONFIRM = "kpj_confirm"
    PROCESSING = "processing"
    RESULT = "result"
    DECLINE = "decline"
    RECEIPT = "receipt"
    ANOTHER_TRANSACTION = "another_transaction"
    TAKE_CARD = "take_card"
    CARD_RETAINED = "card_retained"
    THANK_YOU = "thank_you"


class MenuItem(StrEnum):
    """A choice that only moves between menus (nothing is sent to the host)."""

    OTHER_CARD = "other_card"  # idle: a card typed in rather than a demo card
    OTHER_MENU = "other_menu"
    BPJS = "bpjs"
    CHECK_JHT = "check_jht"
    TYPE_KPJ = "type_kpj"
    NOT_OFFERED = "not_offered"  # cash, transfers…: the simulator says so and goes back
    BACK = "back"


# Where each menu choice leads. NOT_OFFERED leads to NOT_AVAILABLE from every menu; the
# app returns from there to the menu it came from.
_MENU: dict[tuple[State, MenuItem], State] = {
    (State.IDLE, MenuItem.OTHER_CARD): State.CARD_ENTRY,
    (State.CARD_ENTRY, MenuItem.BACK): State.IDLE,
    (State.MAIN_MENU, MenuItem.OTHER_MENU): State.OTHER_MENU,
    (State.OTHER_MENU, MenuItem.BPJS): State.BPJS_MENU,
    (State.OTHER_MENU, MenuItem.BACK): State.MAIN_MENU,
    (State.BPJS_MENU, MenuItem.CHECK_JHT): State.KPJ_SOURCE,
    (State.BPJS_MENU, MenuItem.BACK): State.OTHER_MENU,
    (State.KPJ_SOURCE, MenuItem.TYPE_KPJ): State.KPJ_ENTRY,
    (State.KPJ_SOURCE, MenuItem.BACK): State.BPJS_MENU,
    (State.KPJ_ENTRY, MenuItem.BACK): State.KPJ_SOURCE,
}
_MENUS_WITH_UNOFFERED_ITEMS = frozenset({State.MAIN_MENU, State.OTHER_MENU, State.BPJS_MENU})


def after_menu(here: State, item: MenuItem) -> State:
    """The state a menu choice leads to.

    >>> after_menu(State.OTHER_MENU, MenuItem.BPJS)
    <State.BPJS_MENU: 'bpjs_menu'>
    >>> after_menu(State.MAIN_MENU, MenuItem.NOT_OFFERED)
    <State.NOT_AVAILABLE: 'not_available'>
    """
    if item is MenuItem.NOT_OFFERED and here in _MENUS_WITH_UNOFFERED_ITEMS:
        return State.NOT_AVAILABLE
    try:
        return _MENU[(here, item)]
    except KeyError:
        raise ValueError(f"{here} offers no {item}") from None


def after_pin(*, inquiry_pending: bool) -> State:
    """After the PIN: the main menu, or straight back to the inquiry a wrong PIN
    interrupted (it is sent again with the new PIN block)."""
    return State.PROCESSING if inquiry_pending else State.MAIN_MENU


class Failure(StrEnum):
    """Outcomes without a field 39 of the switch's; decline screens explain them too."""

    TIMEOUT = "timeout"  # the 0200 went out, no 0210 came back in time
    LOST = "lost"  # no link to send the 0200 on, or it broke while waiting
    NO_BALANCE = "no_balance"  # 00 without a valid field 54: never shown as Rp0,00


class Then(StrEnum):
    """What follows the decline screen once the customer has read it."""

    PIN_AGAIN = "pin_again"  # the PIN screen with the warning; the inquiry is resent
    ANOTHER_TRANSACTION = "another_transaction"  # "another transaction?"
    RETURN_CARD = "return_card"  # the session ends: take your card
    RETAIN_CARD = "retain_card"  # the card is kept: the decline headline says why


@dataclass(frozen=True)
class InquiryNext:
    """What the ATM does with the answer to a balance inquiry.

    ``decline`` is None for a balance to show, else what the decline screen explains (a
    response code, or a :class:`Failure`) with ``then`` after it. ``wrong_pin``: one more
    wrong PIN is counted and the inquiry waits for a new PIN. ``pin_accepted``: the PIN was
    right, whatever else the answer lacks, so the count starts again.
    """

    decline: str | None = None
    then: Then | None = None
    wrong_pin: bool = False
    pin_accepted: bool = False

    @property
    def shows_balance(self) -> bool:
        return self.decline is None


def after_inquiry(code: str, *, balance_valid: bool = True) -> InquiryNext:
    """The next step after a 0210 with field 39 ``code``; ``balance_valid``: its field 54
    held a balance (only read for an approval).

    >>> next_ = after_inquiry("55")
    >>> next_.decline, next_.then.value, next_.wrong_pin
    ('55', 'pin_again', True)
    >>> [after_inquiry(code).then.value for code in ("54", "57", "91")]
    ['return_card', 'another_transaction', 'another_transaction']
    """
    try:
        rc: ResponseCode | None = ResponseCode(code)
    except ValueError:
        rc = None  # a code this ATM does not know: declined, another transaction may work
    if rc is not None and rc.is_approved:
        if balance_valid:
            return InquiryNext(pin_accepted=True)
        return InquiryNext(Failure.NO_BALANCE, Then.ANOTHER_TRANSACTION, pin_accepted=True)
    if rc is ResponseCode.WRONG_PIN:
        return InquiryNext(code, Then.PIN_AGAIN, wrong_pin=True)
    if rc is not None and rc.is_pin_problem:  # tries exceeded: the card is blocked and kept
        return InquiryNext(code, Then.RETAIN_CARD)
    if rc is not None and rc.is_card_problem:
        return InquiryNext(code, Then.RETURN_CARD)
    # A participant problem (another KPJ may be tried), a system problem (worth trying
    # later) or an unknown code: the card stays in, the customer decides.
    return InquiryNext(code, Then.ANOTHER_TRANSACTION)


def after_host_failure(failure: Failure) -> InquiryNext:
    """No answer, or no link: say so and give the card back.

    >>> after_host_failure(Failure.TIMEOUT).then
    <Then.RETURN_CARD: 'return_card'>
    """
    return InquiryNext(failure, Then.RETURN_CARD)


def after_connection_change(here: State, *, connected: bool) -> State | None:
    """Before a card is in, the ATM is out of service while it has no link to the switch
    and back in service when it has one again; a session in progress carries on (its next
    inquiry says the connection was lost). None: stay where it is.

    >>> after_connection_change(State.OFFLINE, connected=True)
    <State.IDLE: 'idle'>
    >>> after_connection_change(State.PIN, connected=False) is None
    True
    """
    if connected:
        return State.IDLE if here is State.OFFLINE else None
    return State.OFFLINE if here in (State.IDLE, State.CARD_ENTRY) else None


def idle_state(*, connected: bool) -> State:
    """Where the ATM waits for the next card."""
    return State.IDLE if connected else State.OFFLINE
