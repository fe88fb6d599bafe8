"""Each step of the 0200 pipeline alone: what it accepts, and the code it declines with."""

from __future__ import annotations

import pytest

from atm_switch.balance_inquiry import query_ledger, validate_request
from atm_switch.card_store import CardStatus, CardStore
from atm_switch.deps import SwitchDeps
from atm_switch.pin_verification import check_card, verify_pin
from atm_switch.pipeline import Context, Decline
from atm_switch.terminals import check_terminal
from atmsim.kernel.response_codes import ResponseCode
from tests.switch.conftest import IBM_PAN, KPJ, NIK, PVV_PAN, TERMINAL, context
from tests.switch.fakes import FakeBus, FakeHsm


async def declined(step: object, ctx: Context, deps: SwitchDeps) -> Decline:
    with pytest.raises(Decline) as caught:
        await step(ctx, deps)  # type: ignore[operator]
    return caught.value


# -- validate_request ------------------------------------------------------------------

async def test_a_complete_balance_inquiry_passes_validation(deps: SwitchDeps) -> None:
    ctx = context()
    await validate_request(ctx, deps)
    assert ctx.kpj is None


@pytest.mark.parametrize(("fields", "code", "reason"), [
    ({"52": ""}, ResponseCode.FORMAT_ERROR, "missing field 52"),
    ({"2": "", "41": ""}, ResponseCode.FORMAT_ERROR, "missing field 2, 41"),
    ({"3": "011000"}, ResponseCode.UNSUPPORTED_TRANSACTION,
     "processing code 011000 is not a balance inquiry"),
    ({"103": "1234"}, ResponseCode.FORMAT_ERROR, "field 103 is not an 11-digit KPJ"),
    ({"2": "52642200"}, ResponseCode.FORMAT_ERROR, "field 2 is not a 12-19 digit PAN"),
])
async def test_validation_declines(deps: SwitchDeps, fields: dict[str, str],
                                   code: ResponseCode, reason: str) -> None:
    decline = await declined(validate_request, context(**fields), deps)
    assert (decline.code, decline.reason) == (code, reason)


async def test_a_typed_kpj_is_taken_without_its_padding(deps: SwitchDeps) -> None:
    ctx = context(**{"103": "98765432101 "})
    await validate_request(ctx, deps)
    assert ctx.kpj == "98765432101"


# -- check_terminal --------------------------------------------------------------------

async def test_a_known_terminal_is_found_with_its_tpk(deps: SwitchDeps) -> None:
    ctx = context()
    await check_terminal(ctx, deps)
    assert ctx.terminal is not None and ctx.terminal.terminal_id == TERMINAL


async def test_an_unknown_terminal_is_58(deps: SwitchDeps) -> None:
    decline = await declined(check_terminal, context(**{"41": "BNI09999"}), deps)
    assert decline.code is ResponseCode.TERMINAL_NOT_PERMITTED
    assert decline.reason == "terminal 'BNI09999' is not known"


# -- check_card ------------------------------------------------------------------------

async def test_check_card_reserves_one_pin_try(deps: SwitchDeps, cards: CardStore) -> None:
    ctx = context()
    await check_card(ctx, deps)
    assert ctx.card is not None and ctx.card.nik == NIK
    stored = cards.card(IBM_PAN)
    assert stored is not None and stored.pin_in_flight == 1 and stored.pin_tries == 0
    assert deps.pin_settled.held(cards.pan_hash(IBM_PAN)) == 1


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"2": "5264220000999999"}, None, ResponseCode.UNKNOWN_CARD),
    ({}, CardStatus.BLOCKED, ResponseCode.RESTRICTED_CARD),
    ({}, CardStatus.PIN_BLOCKED, ResponseCode.PIN_TRIES_EXCEEDED),
    ({"14": "2901"}, None, ResponseCode.EXPIRED_CARD),
    ({"35": "5264220000100028=3012101"}, None, ResponseCode.FORMAT_ERROR),
])
async def test_check_card_declines(deps: SwitchDeps, cards: CardStore, fields: dict[str, str],
                                   status: str | None, code: ResponseCode) -> None:
    if status is not None:
        cards.set_status(IBM_PAN, status)
    decline = await declined(check_card, context(**fields), deps)
    assert decline.code is code
    stored = cards.card(IBM_PAN)
    assert stored is not None and stored.pin_in_flight == 0  # nothing was reserved


async def test_with_every_try_in_flight_check_card_waits_then_gives_91(
        deps: SwitchDeps, cards: CardStore) -> None:
    """Not 75: the card is not blocked, the tries in flight may all be right PINs, and an
    ATM keeps a card that gets 75."""
    for _ in range(deps.pin_tries):
        await check_card(context(), deps)
    decline = await declined(check_card, context(), deps)
    assert decline.code is ResponseCode.UNAVAILABLE
    assert decline.reason == "all PIN tries taken by verifications in progress"


# -- verify_pin ------------------------------------------------------------------------

async def reserved(deps: SwitchDeps, pan: str = IBM_PAN) -> Context:
    ctx = context(**{"2": pan, "14": "3012"})
    await check_terminal(ctx, deps)
    await check_card(ctx, deps)
    return ctx


async def test_a_right_pin_gives_the_try_back(deps: SwitchDeps, cards: CardStore,
                                              hsm: FakeHsm) -> None:
    await verify_pin(await reserved(deps), deps)
    (command, fields), = hsm.calls
    assert command == "DA" and fields["account12"] == "422000010001"
    assert fields["validation_data"] == "52642200001N"
    stored = cards.card(IBM_PAN)
    assert stored is not None and (stored.pin_tries, stored.pin_in_flight) == (0, 0)


async def test_a_pvv_card_is_verified_by_dc(deps: SwitchDeps, hsm: FakeHsm) -> None:
    await verify_pin(await reserved(deps, PVV_PAN), deps)
    assert [(c, f["pvki"], f["pvv"]) for c, f in hsm.calls] == [("DC", 1, "4321")]


async def test_a_wrong_pin_is_55_and_counted(deps: SwitchDeps, cards: CardStore,
                                             hsm: FakeHsm) -> None:
    hsm.error_code = "01"
    decline = await declined(verify_pin, await reserved(deps), deps)
    assert (decline.code, decline.reason) == (ResponseCode.WRONG_PIN, "wrong PIN (1 in a row)")
    stored = cards.card(IBM_PAN)
    assert stored is not None and (stored.pin_tries, stored.pin_in_flight) == (1, 0)


async def test_the_third_wrong_pin_is_75_and_blocks_the_card(
        deps: SwitchDeps, cards: CardStore, hsm: FakeHsm) -> None:
    hsm.error_code = "01"
    codes = []
    for _ in range(3):
        codes.append((await declined(verify_pin, await reserved(deps), deps)).code)
    assert codes == [ResponseCode.WRONG_PIN] * 2 + [ResponseCode.PIN_TRIES_EXCEEDED]
    stored = cards.card(IBM_PAN)
    assert stored is not None and stored.status == CardStatus.PIN_BLOCKED


async def test_an_unavailable_hsm_is_91_and_costs_no_try(
        deps: SwitchDeps, cards: CardStore, hsm: FakeHsm) -> None:
    hsm.unavailable = True
    decline = await declined(verify_pin, await reserved(deps), deps)
    assert decline.code is ResponseCode.UNAVAILABLE
    assert decline.reason == "HSM: no reply to DA within 2.0s"
    stored = cards.card(IBM_PAN)
    assert stored is not None and (stored.pin_tries, stored.pin_in_flight) == (0, 0)
    assert deps.pin_settled.held(cards.pan_hash(IBM_PAN)) == 0


async def test_an_hsm_key_fault_is_96_and_costs_no_try(
        deps: SwitchDeps, cards: CardStore, hsm: FakeHsm) -> None:
    hsm.error_code = "10"
    decline = await declined(verify_pin, await reserved(deps), deps)
    assert (decline.code, decline.reason) == (ResponseCode.INTERNAL_ERROR, "HSM error 10")
    stored = cards.card(IBM_PAN)
    assert stored is not None and (stored.pin_tries, stored.pin_in_flight) == (0, 0)


# -- query_ledger ----------------------------------------------------------------------

async def verified(deps: SwitchDeps, **fields: str) -> Context:
    ctx = context(**fields)
    await validate_request(ctx, deps)
    await check_card(ctx, deps)
    return ctx


async def test_the_ledger_is_asked_for_the_cards_participant(deps: SwitchDeps,
                                                             bus: FakeBus) -> None:
    ctx = await verified(deps)
    await query_ledger(ctx, deps)
    assert ctx.ledger is not None and ctx.ledger.balance_sen == 1234567800
    (topic, request), = bus.requests
    assert topic == "bpjs/jht/v1/balance/req"
    assert (request["nik"], request["kpj"], request["terminal_id"]) == (NIK, KPJ, TERMINAL)


async def test_a_typed_kpj_goes_to_the_ledger(deps: SwitchDeps, bus: FakeBus) -> None:
    await query_ledger(await verified(deps, **{"103": "98765432101"}), deps)
    assert bus.requests[0][1]["kpj"] == "98765432101"


@pytest.mark.parametrize(("reply", "code", "reason"), [
    ({"result": "NOT_FOUND"}, ResponseCode.PARTICIPANT_NOT_FOUND, "ledger: NOT_FOUND"),
    ({"result": "FORBIDDEN"}, ResponseCode.NOT_PERMITTED, "ledger: FORBIDDEN"),
    ({"result": "ERROR"}, ResponseCode.INTERNAL_ERROR, "ledger: ERROR"),
    ({"result": "OK", "balance_sen": 1.5}, ResponseCode.INTERNAL_ERROR,
     "ledger reply: balance_sen is not an integer"),
    (None, ResponseCode.UNAVAILABLE, "ledger: no reply on bpjs/jht/v1/balance/req"),
])
async def test_ledger_answers_other_than_ok(deps: SwitchDeps, bus: FakeBus,
                                            reply: dict[str, object] | None,
                                            code: ResponseCode, reason: str) -> None:
    bus.reply = reply
    decline = await declined(query_ledger, await verified(deps), deps)
    assert decline.code is code
    assert decline.reason.startswith(reason)


async def test_a_silent_ledger_is_asked_again_within_the_deadline(deps: SwitchDeps,
                                                                  bus: FakeBus) -> None:
    bus.reply = None
    await declined(query_ledger, await verified(deps), deps)
    ids = {request["id"] for _, request in bus.requests}
    assert len(bus.requests) >= 2 and len(ids) == 1  # the same request, sent again
