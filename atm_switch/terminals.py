"""Whether a terminal may use the switch: the one place that looks a terminal up, and the
sign-on policy.

A terminal is known when the card database holds it (with its TPK); the 0200 and the
0800 sign-on and sign-off all ask here. Each terminal has a sign-on policy
(``atm_switch.card_store.SignOnPolicy``): ``not_required`` answers an 0200 whether or not
the ATM signed on; ``required`` answers 91 to a financial message from a terminal that has
not signed on (0800/001) over the connection it came on. Sign-on state is kept per
connection (``atm_switch.connections.LinkState``): it ends with a sign-off (0800/002) or
when the connection closes, so an ATM that reconnects signs on again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atm_switch.card_store import SignOnPolicy
from atm_switch.connections import current_inbound
from atm_switch.metrics import current_trace
from atm_switch.pipeline import Context, Decline
from atmsim.kernel.response_codes import ResponseCode

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["check_terminal", "check_signed_on", "record_sign_on", "record_sign_off"]


async def check_terminal(ctx: Context, deps: SwitchDeps) -> None:
    """The terminal of field 41 is known (its TPK is on file); otherwise 58."""
    terminal_id = ctx.request.get("41", "")
    ctx.terminal = deps.cards.terminal(terminal_id)
    trace = current_trace()
    if trace is not None:
        trace.terminal_class = "unknown" if ctx.terminal is None else "known"
    if ctx.terminal is None:
        raise Decline(ResponseCode.TERMINAL_NOT_PERMITTED,
                      f"terminal {terminal_id!r} is not known")


async def check_signed_on(ctx: Context, deps: SwitchDeps) -> None:
    """A terminal whose policy requires a sign-on has signed on over this connection;
    otherwise 91 (the ATM signs on and tries again). After ``check_terminal``."""
    terminal = ctx.terminal
    assert terminal is not None
    if terminal.sign_on_policy != SignOnPolicy.REQUIRED:
        return
    inbound = current_inbound()
    if inbound is None or inbound.link is None or \
            terminal.terminal_id not in inbound.link.signed_on:
        raise Decline(ResponseCode.UNAVAILABLE, "terminal has not signed on (sign-on required)")


def record_sign_on(terminal_id: str) -> None:
    """The terminal signed on over the connection of the request being answered."""
    inbound = current_inbound()
    if inbound is not None and inbound.link is not None:
        inbound.link.signed_on.add(terminal_id)


def record_sign_off(terminal_id: str) -> None:
    inbound = current_inbound()
    if inbound is not None and inbound.link is not None:
        inbound.link.signed_on.discard(terminal_id)
