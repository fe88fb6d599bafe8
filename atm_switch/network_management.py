"""0800/0810 network management: sign-on (001), sign-off (002), echo test (301), key change (161).

A pipeline like the 0200's: the request must carry field 70 and a STAN (30), a sign-on or
sign-off must come from a known terminal (58, ``atm_switch.terminals``), then the function
is answered. A key change (161) gets the terminal new keys (``atm_switch.key_change``), in
the 0810's field 48.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from atm_switch.key_change import change_keys_on_request
from atm_switch.pipeline import Context, Decline, Step, run_pipeline
from atm_switch.responses import answer
from atm_switch.terminals import check_terminal, record_sign_off, record_sign_on
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["SIGN_ON", "SIGN_OFF", "ECHO_TEST", "KEY_CHANGE", "NETWORK_MANAGEMENT_STEPS",
           "answer_network_management"]

SIGN_ON, SIGN_OFF, ECHO_TEST, KEY_CHANGE = "001", "002", "301", "161"
_ANSWERED = (SIGN_ON, SIGN_OFF, ECHO_TEST, KEY_CHANGE)


async def validate_network_request(ctx: Context, deps: SwitchDeps) -> None:
    """A network management code (field 70) and a STAN to answer to."""
    if "70" not in ctx.request or "11" not in ctx.request:
        raise Decline(ResponseCode.FORMAT_ERROR, "field 70 or 11 missing")


async def check_signing_terminal(ctx: Context, deps: SwitchDeps) -> None:
    """Sign-on, sign-off and key change are for known terminals; an echo test is for
    anyone."""
    if ctx.request["70"] in (SIGN_ON, SIGN_OFF, KEY_CHANGE):
        await check_terminal(ctx, deps)


async def perform_function(ctx: Context, deps: SwitchDeps) -> None:
    """Sign-on, sign-off and echo test are answered 00 (a sign-on or sign-off is recorded
    for the connection); any other code 12."""
    code = ctx.request["70"]
    if code not in _ANSWERED:
        raise Decline(ResponseCode.UNSUPPORTED_TRANSACTION,
                      f"network management code {code} not supported")
    if code == SIGN_ON:
        record_sign_on(ctx.request["41"])
    elif code == SIGN_OFF:
        record_sign_off(ctx.request["41"])
    elif code == KEY_CHANGE:
        await change_keys_on_request(ctx, deps)


NETWORK_MANAGEMENT_STEPS: Sequence[Step] = (
    validate_network_request, check_signing_terminal, perform_function)


async def answer_network_management(request: IsoMessage, deps: SwitchDeps,
                                    steps: Sequence[Step] = NETWORK_MANAGEMENT_STEPS
                                    ) -> tuple[IsoMessage, str]:
    """The 0810 for an 0800. Its log line and event carry no reason: the response code
    says it all (a refused sign-on is rc=58), as the switch has always logged them."""
    ctx = await run_pipeline(Context(request), deps, steps)
    return answer(request, ctx.code, ctx.added if ctx.code is ResponseCode.APPROVED else None), ""
