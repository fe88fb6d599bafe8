"""The 0420 reversal (and its repeat 0421) as a pipeline, answered 0430.

validate_reversal -> wait_for_original -> reverse_original, then the 0430 echoes the
reversal's fields and adds 39: ``00`` when the original is known (reversed now, or by an
earlier 0420/0421: a repeat gets the same 0430), ``25`` when the journal holds no such
original (``atm_switch.journal``). The original is the 0200 that field 90 names (MTI,
STAN, field 7, acquirer) from the same terminal (41) for the same card (2). Reversing it
refunds the inquiry fee it was charged. Every 0420/0421 and its outcome is journaled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atm_switch.journal import InquiryKey, ReversalOutcome
from atm_switch.pipeline import Context, Decline, Step, run_pipeline
from atm_switch.responses import answer
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.reversal import REVERSAL_REASONS, OriginalData

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["REVERSAL_STEPS", "ReversalContext", "answer_reversal"]

REQUIRED_FIELDS = ("2", "11", "41", "90")
_PAN = re.compile(r"[0-9]{12,19}")
_REVERSIBLE = ("0200", "0201")


@dataclass
class ReversalContext(Context):
    original: OriginalData | None = None
    outcome: ReversalOutcome | None = None


async def validate_reversal(ctx: Context, deps: SwitchDeps) -> None:
    """The fields a reversal cannot do without, and a field 90 that names a 0200."""
    assert isinstance(ctx, ReversalContext)
    missing = [f for f in REQUIRED_FIELDS if f not in ctx.request]
    if missing:
        raise Decline(ResponseCode.FORMAT_ERROR, f"missing field {', '.join(missing)}")
    if not _PAN.fullmatch(ctx.request["2"]):
        raise Decline(ResponseCode.FORMAT_ERROR, "field 2 is not a 12-19 digit PAN")
    try:
        ctx.original = OriginalData.decode(ctx.request["90"])
    except ValueError as exc:
        raise Decline(ResponseCode.FORMAT_ERROR, str(exc)) from None
    if ctx.original.mti not in _REVERSIBLE:
        # Only balance inquiries are answered by this switch: nothing else to reverse.
        ctx.outcome = ReversalOutcome(False, False, 0)
        raise Decline(ResponseCode.PARTICIPANT_NOT_FOUND,
                      f"original MTI {ctx.original.mti} is not a 0200")


def _key(ctx: ReversalContext, deps: SwitchDeps) -> InquiryKey:
    assert ctx.original is not None
    # The PAN only as the card store's HMAC, as the 0200 was journaled.
    return InquiryKey(ctx.request["41"], ctx.original.stan, ctx.original.transmission_time,
                      deps.cards.pan_hash(ctx.request["2"]))


async def wait_for_original(ctx: Context, deps: SwitchDeps) -> None:
    """A reversal that overtakes its 0200's answer waits for it (at most as long as an
    inquiry can take), so the original it finds is the answered one."""
    assert isinstance(ctx, ReversalContext)
    await deps.in_flight.wait_for(_key(ctx, deps), deps.hsm_deadline + deps.ledger_deadline + 1)


async def reverse_original(ctx: Context, deps: SwitchDeps) -> None:
    """Mark the original reversed once; 25 when the journal does not know it."""
    assert isinstance(ctx, ReversalContext) and ctx.original is not None
    if deps.journal is None:
        raise Decline(ResponseCode.UNSUPPORTED_TRANSACTION, "this switch keeps no journal")
    if deps.journal.closed:
        raise Decline(ResponseCode.UNAVAILABLE, "the switch is stopping")
    ctx.outcome = deps.journal.reverse(_key(ctx, deps), mti=ctx.original.mti,
                                       acquirer_id=ctx.original.padded_acquirer_id,
                                       reason=ctx.request.get("39", ""))
    if not ctx.outcome.found:
        raise Decline(ResponseCode.PARTICIPANT_NOT_FOUND, "unknown original")


REVERSAL_STEPS: Sequence[Step] = (validate_reversal, wait_for_original, reverse_original)


async def answer_reversal(request: IsoMessage, deps: SwitchDeps,
                          steps: Sequence[Step] = REVERSAL_STEPS) -> tuple[IsoMessage, str]:
    """The 0430 for an 0420 or 0421, and the reason for the log and the event."""
    ctx = ReversalContext(request)
    await run_pipeline(ctx, deps, steps)
    response = answer(request, ctx.code)
    reason = ctx.reason
    original, outcome = ctx.original, ctx.outcome
    if outcome is not None and original is not None:
        why = REVERSAL_REASONS.get(request.get("39", ""), f"reason {request.get('39', '-')}")
        reason = f"{outcome.describe}: original STAN {original.stan} ({why})"
        if outcome.fee_refunded_sen:
            reason += f", fee {outcome.fee_refunded_sen} sen refunded"
        if deps.journal is not None:
            deps.journal.record_reversal(
                _key(ctx, deps), mti=request["t"], stan=request["11"],
                original_mti=original.mti, original_acquirer_id=original.padded_acquirer_id,
                pan_masked=ctx.masked_pan, reason=request.get("39", ""),
                response_code=ctx.code.value, outcome=outcome.describe,
                fee_refunded_sen=outcome.fee_refunded_sen)
    return response, reason
