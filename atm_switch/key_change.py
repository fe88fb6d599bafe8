"""Key change (0800 with field 70 = 161, docs/wire.md "Key change"): a new TPK and TAK for a
terminal, made by the HSM under the LMK and under the terminal's TMK.

Two ways in: the ATM asks (its 0800/161 is answered 0810 with the new keys in field 48),
or the bank pushes (``push_key_change``: the switch sends the 0800/161 with the keys to
the connected ATM, on a schedule or on demand, and the ATM answers 0810). Either way the
HSM generates each key with A0 mode 1 and the TMK flag (key type 002 TPK, 003 TAK; scheme
U under the LMK, X under the TMK) and the card store keeps it as the terminal's next
generation; the key it replaces is retired then and still verifies for ``key_grace``
seconds, so PIN blocks and MACs already on their way are not refused.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from atm_switch.card_store import TAK, TPK, Terminal
from atm_switch.hsm_link import HsmUnavailable, NewKey
from atm_switch.pipeline import Context, Decline
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.additional_data import encode_tlv

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["KEY_TYPES", "KeyChangeError", "change_keys_on_request", "push_key_change",
           "key_change_data"]

log = logging.getLogger("atmsim.switch")

KEY_TYPES = {TPK: "002", TAK: "003"}  # variant LMK key type codes
# Field 48 tags of a key change: key under the TMK, its check value.
_TAGS = {TPK: ("PK", "PC"), TAK: ("AK", "AC")}


class KeyChangeError(Exception):
    """The new keys could not be made or delivered; the terminal keeps its keys."""

    def __init__(self, code: ResponseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class RequestSender(Protocol):
    """What pushes a request to a connected ATM (the switch's channel)."""

    async def send_request(self, terminal_id: str, request: IsoMessage,
                           timeout: float) -> IsoMessage: ...


def key_change_data(keys: dict[str, NewKey], generation: int) -> str:
    """Field 48 of a key change: each key under the TMK and its KCV, and the generation.

    >>> key_change_data({"TPK": NewKey("U" + "1" * 32, "X" + "2" * 32, "ABC123")}, 2)
    'PK33X22222222222222222222222222222222PC06ABC123KG012'
    """
    items: list[tuple[str, str]] = []
    for kind, key in keys.items():
        key_tag, kcv_tag = _TAGS[kind]
        items += [(key_tag, key.under_tmk), (kcv_tag, key.kcv)]
    items.append(("KG", str(generation)))
    return encode_tlv(items)


async def _new_keys(terminal: Terminal, deps: SwitchDeps) -> dict[str, NewKey]:
    if not terminal.tmk_lmk:
        raise KeyChangeError(ResponseCode.INTERNAL_ERROR,
                             f"terminal {terminal.terminal_id} has no TMK on file")
    keys: dict[str, NewKey] = {}
    for kind, key_type in KEY_TYPES.items():
        try:
            error, key = await deps.hsm.generate_terminal_key(key_type=key_type,
                                                              tmk_lmk=terminal.tmk_lmk)
        except HsmUnavailable as exc:
            raise KeyChangeError(ResponseCode.UNAVAILABLE, f"HSM: {exc}") from None
        if key is None:
            raise KeyChangeError(ResponseCode.INTERNAL_ERROR,
                                 f"HSM error {error} generating a {kind}")
        keys[kind] = key
    return keys


def _install(terminal_id: str, keys: dict[str, NewKey], deps: SwitchDeps) -> int:
    generation = deps.cards.change_keys(
        terminal_id, {kind: (key.under_lmk, key.kcv) for kind, key in keys.items()})
    log.info("terminal %s: key generation %d installed (TPK kcv %s, TAK kcv %s)", terminal_id,
             generation, keys[TPK].kcv, keys[TAK].kcv)
    return generation


def _next_generation(terminal_id: str, deps: SwitchDeps) -> int:
    current = deps.cards.key_generations(terminal_id, TPK)
    return (current[0].generation if current else 0) + 1


async def change_keys_on_request(ctx: Context, deps: SwitchDeps) -> None:
    """The 0800/161 step: new keys for the (known) terminal, in the 0810's field 48."""
    terminal = ctx.terminal
    assert terminal is not None
    try:
        keys = await _new_keys(terminal, deps)
    except KeyChangeError as exc:
        raise Decline(exc.code, str(exc)) from None
    generation = _install(terminal.terminal_id, keys, deps)
    ctx.added["48"] = key_change_data(keys, generation)


async def push_key_change(terminal_id: str, deps: SwitchDeps, sender: RequestSender, *,
                          stan: str, timeout: float = 10.0) -> int:
    """Bank-initiated key change: send the connected ATM an 0800/161 with new keys and,
    when it answers 0810 with 00, make them current. Returns the new generation;
    ``KeyChangeError`` (the terminal keeps its keys) otherwise."""
    terminal = deps.cards.terminal(terminal_id)
    if terminal is None:
        raise KeyChangeError(ResponseCode.TERMINAL_NOT_PERMITTED,
                             f"terminal {terminal_id!r} is not known")
    keys = await _new_keys(terminal, deps)
    generation = _next_generation(terminal_id, deps)
    request: IsoMessage = {"t": "0800", "7": datetime.now(UTC).strftime("%m%d%H%M%S"),
                           "11": stan, "41": terminal_id,
                           "48": key_change_data(keys, generation), "70": "161"}
    try:
        response = await sender.send_request(terminal_id, request, timeout)
    except (ConnectionError, OSError) as exc:
        raise KeyChangeError(ResponseCode.UNAVAILABLE, str(exc)) from None
    except TimeoutError:
        raise KeyChangeError(ResponseCode.UNAVAILABLE,
                             f"terminal {terminal_id} did not answer within {timeout:g} s"
                             ) from None
    if response.get("39") != ResponseCode.APPROVED.value:
        raise KeyChangeError(ResponseCode.SECURITY_VIOLATION,
                             f"terminal {terminal_id} refused the keys "
                             f"(39 = {response.get('39', 'none')})")
    return _install(terminal_id, keys, deps)
