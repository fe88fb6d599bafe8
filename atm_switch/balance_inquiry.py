"""The 0200 balance inquiry as a pipeline of small named steps.

reject_duplicate -> admit -> validate_request -> check_terminal -> check_signed_on ->
verify_request_mac -> check_card -> verify_pin -> query_ledger, then the 0210 is built
from whatever the context holds (``atm_switch.responses``). Any step may stop the
pipeline by raising ``Decline`` with a response code; the steps after it do not run.
Each step is a plain async function of the context and the switch's dependencies,
testable alone (tests/switch/) and replaceable in ``BALANCE_INQUIRY_STEPS``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from atm_switch.admission import admit, reject_duplicate
from atm_switch.journal import InquiryKey
from atm_switch.ledger_link import LedgerReplyInvalid, request_balance
from atm_switch.message_security import verify_request_mac
from atm_switch.metrics import current_trace
from atm_switch.pin_verification import check_card, verify_pin
from atm_switch.pipeline import Context, Decline, Step, run_pipeline
from atm_switch.responses import balance_inquiry_response
from atm_switch.terminals import check_signed_on, check_terminal
from atmsim.kernel.bus import BusError
from atmsim.kernel.response_codes import ResponseCode, from_ledger_result
from atmsim.kernel.wire import IsoMessage

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["BALANCE_INQUIRY_STEPS", "validate_request", "query_ledger", "answer_balance_inquiry"]

REQUIRED_FIELDS = ("2", "3", "7", "11", "41", "52")
BALANCE_INQUIRY_PREFIX = "31"
_KPJ = re.compile(r"[0-9]{11}")
_PAN = re.compile(r"[0-9]{12,19}")


async def validate_request(ctx: Context, deps: SwitchDeps) -> None:
    """Fields the inquiry cannot do without, and a processing code it knows."""
    missing = [f for f in REQUIRED_FIELDS if f not in ctx.request]
    if missing:
        raise Decline(ResponseCode.FORMAT_ERROR, f"missing field {', '.join(missing)}")
    if not ctx.request["3"].startswith(BALANCE_INQUIRY_PREFIX):
        raise Decline(ResponseCode.UNSUPPORTED_TRANSACTION,
                      f"processing code {ctx.request['3']} is not a balance inquiry")
    if "103" in ctx.request:
        typed = ctx.request["103"].strip()
        if not _KPJ.fullmatch(typed):
            raise Decline(ResponseCode.FORMAT_ERROR, "field 103 is not an 11-digit KPJ")
        ctx.kpj = typed
    if not _PAN.fullmatch(ctx.request["2"]):
        raise Decline(ResponseCode.FORMAT_ERROR, "field 2 is not a 12-19 digit PAN")


async def query_ledger(ctx: Context, deps: SwitchDeps) -> None:
    """Ask the ledger for the balance of the card's participant (or of the typed KPJ)."""
    card = ctx.card
    assert card is not None
    kpj = ctx.kpj or card.kpj
    trace = current_trace()
    started = time.perf_counter()
    try:
        reply = await request_balance(deps.bus, nik=card.nik, kpj=kpj,
                                      terminal_id=ctx.request["41"], deadline=deps.ledger_deadline)
    except BusError as exc:
        raise Decline(ResponseCode.UNAVAILABLE, f"ledger: {exc}") from None
    except LedgerReplyInvalid as exc:
        raise Decline(ResponseCode.INTERNAL_ERROR, f"ledger reply: {exc}") from None
    finally:
        if trace is not None:
            trace.ledger_ms = (time.perf_counter() - started) * 1000
    # The ledger answering ERROR is a fault inside the system (96), not an absence (91).
    code = from_ledger_result(reply.result)
    if code is not ResponseCode.APPROVED:
        raise Decline(code, f"ledger: {reply.result}")
    ctx.ledger = reply


BALANCE_INQUIRY_STEPS: Sequence[Step] = (
    reject_duplicate, admit, validate_request, check_terminal, check_signed_on,
    verify_request_mac, check_card, verify_pin, query_ledger)


async def answer_balance_inquiry(request: IsoMessage, deps: SwitchDeps,
                                 steps: Sequence[Step] = BALANCE_INQUIRY_STEPS
                                 ) -> tuple[IsoMessage, str]:
    """The 0210 for an 0200, and the reason for the log and the event.

    An 0200 that can be addressed (41, 11, 7 and a PAN) is journaled with its answer, and
    is "in flight" until then, so that a reversal arriving meanwhile waits for it."""
    key = _journal_key(request, deps)
    answering = deps.in_flight.begin(key) if key is not None else None
    try:
        # The PAN's hash, worked out once: the journal's key and the card's lookup key.
        pan_hash = None if key is None else key.pan_hash
        ctx = await run_pipeline(Context(request, pan_hash=pan_hash), deps, steps)
        approved = ctx.code is ResponseCode.APPROVED and ctx.ledger is not None
        fee, reason = deps.inquiry_fee_sen if approved else 0, ctx.reason
        if key is not None and deps.journal is not None and not deps.journal.closed:
            # An ATM that reversed this 0200 before it arrived is owed no fee for it.
            reversed_by = deps.journal.reversed_before(key, mti=request["t"],
                                                       acquirer_id=request.get("32", ""))
            if reversed_by is not None:
                fee = 0
                reason = "; ".join(filter(None, (reason, "reversed before it arrived, no fee")))
            deps.journal.record_inquiry(key, mti=request["t"], acquirer_id=request.get("32", ""),
                                        pan_masked=ctx.masked_pan, rrn=request.get("37", ""),
                                        response_code=ctx.code.value, fee_sen=fee,
                                        reversed_by=reversed_by)
        if fee:
            reason = "; ".join(filter(None, (reason, f"fee {fee} sen charged")))
        return balance_inquiry_response(request, ctx.code, ctx.ledger, fee), reason
    finally:
        if key is not None and answering is not None:
            deps.in_flight.end(key, answering)


def _journal_key(request: IsoMessage, deps: SwitchDeps) -> InquiryKey | None:
    if deps.journal is None or not all(f in request for f in ("2", "7", "11", "41")) \
            or not _PAN.fullmatch(request["2"]):
        return None
    return InquiryKey(request["41"], request["11"], request["7"], deps.cards.pan_hash(request["2"]))
