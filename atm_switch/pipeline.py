"""Participants and the transaction they work on, as jPOS's transaction manager runs them.

A pipeline is a sequence of small named steps (participants): plain async functions of the
transaction's ``Context`` and the switch's ``SwitchDeps``. Each may stop the pipeline by
raising ``Decline`` with a response code; the steps after it do not run, and the answer
carries that code. A step that fails in any other way ends the pipeline with 96, logged
with the step's name. A step that takes something to give back when the transaction is
over, whatever happens after it (an inquiry slot, say), registers that with ``ctx.on_end``.
With tracing on, each step that runs is a span named after it (``atmsim.kernel.otel``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atmsim.kernel import otel
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage

if TYPE_CHECKING:
    from atm_switch.card_store import Card, Terminal
    from atm_switch.deps import SwitchDeps
    from atm_switch.ledger_link import LedgerReply

__all__ = ["Decline", "Context", "Step", "run_pipeline"]

log = logging.getLogger("atmsim.switch")


class Decline(Exception):
    """Stops the pipeline with a response code."""

    def __init__(self, code: ResponseCode, reason: str = "") -> None:
        super().__init__(f"{code.value} {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Context:
    """One request on its way through a pipeline, and what the steps found out."""

    request: IsoMessage
    terminal: Terminal | None = None
    card: Card | None = None
    pan_hash: str | None = None
    kpj: str | None = None  # the KPJ typed at the ATM (field 103), if any
    ledger: LedgerReply | None = None
    code: ResponseCode = ResponseCode.APPROVED
    reason: str = ""
    added: dict[str, str] = field(default_factory=dict)  # fields a step puts in the answer
    _ends: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.request.get("2", ""))

    def on_end(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the pipeline is over, however it ended."""
        self._ends.append(callback)


Step = Callable[[Context, "SwitchDeps"], Awaitable[None]]


async def run_pipeline(ctx: Context, deps: SwitchDeps, steps: Sequence[Step]) -> Context:
    """Run ``steps`` in order on ``ctx`` until one declines or all are done."""
    traced = otel.tracer("switch") is not None  # off: not a span, not a function call
    try:
        for step in steps:
            try:
                if traced:
                    await _traced_step(step, ctx, deps)
                else:
                    await step(ctx, deps)
            except Decline as decline:
                ctx.code, ctx.reason = decline.code, decline.reason
                break
            except Exception:
                log.exception("step %s failed for %s", step.__name__, ctx.masked_pan)
                ctx.code, ctx.reason = ResponseCode.INTERNAL_ERROR, f"{step.__name__} failed"
                break
    finally:
        for end in reversed(ctx._ends):
            end()
    return ctx


async def _traced_step(step: Step, ctx: Context, deps: SwitchDeps) -> None:
    """``step`` in a span of its name; a decline is an answer, not a failure: the span
    says its response code."""
    declined: Decline | None = None
    with otel.span("switch", step.__name__) as span:
        try:
            await step(ctx, deps)
        except Decline as decline:
            declined = decline
            if span is not None:
                span.set_attribute("iso8583.response_code", decline.code.value)
    if declined is not None:
        raise declined
