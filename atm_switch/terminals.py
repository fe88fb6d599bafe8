"""Whether a terminal may use the switch: the one place that looks a terminal up.

A terminal is known when the card database holds it (with its TPK); the 0200 and the
0800 sign-on and sign-off all ask here. The switch does not require a sign-on before an
0200 (an ATM that skips it is answered as ever), so it keeps no sign-on state: a sign-on
is a known terminal's 00.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atm_switch.pipeline import Context, Decline
from atmsim.kernel.response_codes import ResponseCode

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["check_terminal"]


async def check_terminal(ctx: Context, deps: SwitchDeps) -> None:
    """The terminal of field 41 is known (its TPK is on file); otherwise 58."""
    terminal_id = ctx.request.get("41", "")
    ctx.terminal = deps.cards.terminal(terminal_id)
    if ctx.terminal is None:
        raise Decline(ResponseCode.TERMINAL_NOT_PERMITTED,
                      f"terminal {terminal_id!r} is not known")
