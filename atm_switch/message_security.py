"""The MAC of a terminal's messages (docs/wire.md "MAC"): verified on the way in, added on
the way out, both through the HSM (M8 and M6) under the terminal's TAK.

``verify_request_mac`` is a pipeline step (after ``check_terminal``) that applies the
terminal's MAC policy: ``off`` checks nothing; ``optional`` verifies a MAC that is present;
``required`` answers 63 to a message without one. A MAC that does not verify is 63 under
any policy but ``off``. The TAK tried first is the current one, then those retired less
than ``switch.key_grace`` seconds ago (a key change in progress). The key that verified
is remembered on the request (``atm_switch.connections.Inbound``) and ``seal_answer``
gives the answer a MAC under it. Any flow (0200, 0420 ...) calls the same two functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atm_switch.card_store import TAK, MacPolicy
from atm_switch.connections import current_inbound
from atm_switch.hsm_link import HsmUnavailable
from atm_switch.pipeline import Context, Decline
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage, WireProfile
from atmsim.kernel.wire.message_mac import (
    MAC_FIELDS,
    field_of_mac,
    mac_field,
    mac_input,
    mac_of_field,
    received_mac_input,
)

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["verify_request_mac", "seal_answer"]

_VERIFIED, _MISMATCH = "00", "01"


async def verify_request_mac(ctx: Context, deps: SwitchDeps) -> None:
    """The request's MAC, as the terminal's policy wants it; 63 when it is missing (policy
    ``required``) or wrong; 91 when the HSM does not answer."""
    terminal = ctx.terminal
    assert terminal is not None
    if terminal.mac_policy == MacPolicy.OFF:
        return
    request = ctx.request
    present = [f for f in MAC_FIELDS if f in request]
    if not present:
        if terminal.mac_policy == MacPolicy.REQUIRED:
            raise Decline(ResponseCode.SECURITY_VIOLATION, "MAC required and missing")
        return
    expected_field = mac_field({k: v for k, v in request.items() if k not in MAC_FIELDS})
    mac = mac_of_field(request.get(expected_field, ""))
    inbound = current_inbound()
    data = (received_mac_input(inbound.raw, request) if inbound is not None
            else mac_input(deps.profile, request))
    if mac is None or data is None or present != [expected_field]:
        raise Decline(ResponseCode.SECURITY_VIOLATION,
                      f"MAC not in field {expected_field} as the profile lays it out")
    keys = deps.cards.usable_keys(terminal.terminal_id, TAK, grace=deps.key_grace)
    if not keys:
        raise Decline(ResponseCode.SECURITY_VIOLATION, "a MAC, but no TAK on file")
    for generation, tak_lmk in enumerate(keys):
        try:
            error = await deps.hsm.verify_mac(tak_lmk=tak_lmk, data=data, mac=mac)
        except HsmUnavailable as exc:
            raise Decline(ResponseCode.UNAVAILABLE, f"HSM: {exc}") from None
        if error == _VERIFIED:
            if inbound is not None:
                inbound.mac_key = tak_lmk
            ctx.reason = "MAC verified under a retired TAK (grace window)" if generation else ""
            return
        if error != _MISMATCH:
            raise Decline(ResponseCode.INTERNAL_ERROR, f"HSM error {error} verifying a MAC")
    raise Decline(ResponseCode.SECURITY_VIOLATION, "MAC does not verify")


async def seal_answer(response: IsoMessage, deps: SwitchDeps, profile: WireProfile) -> IsoMessage:
    """``response`` with a MAC (M6) under the TAK that verified its request, if one did.

    An answer whose MAC cannot be made (HSM down) goes without one: the ATM then refuses
    it, as it would refuse a forged answer, and reverses or retries.
    """
    inbound = current_inbound()
    if inbound is None or inbound.mac_key is None:
        return response
    data = mac_input(profile, response)
    try:
        error, mac = await deps.hsm.generate_mac(tak_lmk=inbound.mac_key, data=data)
    except HsmUnavailable:
        return response
    if error != _VERIFIED:
        return response
    sealed = dict(response)
    sealed[mac_field(response)] = field_of_mac(mac)
    return sealed
