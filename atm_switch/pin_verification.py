"""Where the PIN is verified: the card's PIN try is reserved, then the HSM is asked.

``check_card`` finds the card, checks that it is usable and that the ATM read the right
one, and takes one of its PIN tries in one atomic statement; ``verify_pin`` asks the HSM
(IBM 3624 offset or Visa PVV, as the card says) with that try and settles it. Both are
steps of the 0200 pipeline (``atm_switch.balance_inquiry``).
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from atm_switch.card_store import TPK, Card, CardStatus, Terminal
from atm_switch.hsm_link import HsmUnavailable
from atm_switch.metrics import current_trace
from atm_switch.pipeline import Context, Decline
from atmsim.kernel.crypto.pin_blocks import account_number_12
from atmsim.kernel.response_codes import ResponseCode, from_hsm_error
from atmsim.kernel.wire import IsoMessage

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["PinTrySignals", "check_card", "verify_pin"]

_TRACK2_SEPARATOR = re.compile(r"[=D]")


class PinTrySignals:
    """This switch's PIN verifications in flight per card, and the inquiries waiting.

    The database holds the authoritative count (shared by every switch process); this
    copy only saves statements that cannot succeed: an inquiry for a card whose tries are
    all held by this process waits without asking the database. A waiter is woken when a
    try is given back (a right PIN, or a verification that did not happen), one waiter
    per try, the longest waiting first; a wrong PIN keeps its try and wakes nobody, unless
    it blocked the card: then the waiters learn it one after the other. Tries held by
    another process are seen at the next poll.
    """

    POLL = 0.05  # seconds between looks at the database while waiting

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}

    def held(self, pan_hash: str) -> int:
        return self._held.get(pan_hash, 0)

    def taken(self, pan_hash: str) -> None:
        self._held[pan_hash] = self._held.get(pan_hash, 0) + 1

    def settled(self, pan_hash: str, *, wake: bool) -> None:
        left = self._held.get(pan_hash, 0) - 1
        if left > 0:
            self._held[pan_hash] = left
        else:
            self._held.pop(pan_hash, None)
        if wake:
            self.wake(pan_hash)

    def wake(self, pan_hash: str) -> None:
        queue = self._waiters.get(pan_hash)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if queue is not None and not queue:
            del self._waiters[pan_hash]

    async def wait(self, pan_hash: str, timeout: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        queue = self._waiters.setdefault(pan_hash, collections.deque())
        queue.append(waiter)
        try:
            await asyncio.wait_for(waiter, min(timeout, self.POLL))
        except TimeoutError:
            pass
        finally:
            # Not queue.remove() with ValueError suppressed: a woken waiter is no longer
            # queued, and that ValueError's message is the future's repr, built each time.
            if waiter in queue:
                queue.remove(waiter)
            if not queue and self._waiters.get(pan_hash) is queue:
                del self._waiters[pan_hash]


def _card_expiry(request: IsoMessage) -> str | None:
    if "14" in request:
        return request["14"]
    track2 = request.get("35", "")
    for sep in ("=", "D"):
        if sep in track2:
            return track2.split(sep, 1)[1][:4] or None
    return None


async def check_card(ctx: Context, deps: SwitchDeps) -> None:
    """The card exists, is usable, the ATM read the right one, and a PIN try is reserved.

    The card is read and its try taken in one atomic statement, before the HSM is asked:
    verifications in flight count against the limit, so racing inquiries (many
    connections, or pipelined on one) cannot have more than ``pin_tries`` PINs checked.
    When the limit is taken only by verifications still in flight, the inquiry waits (up
    to the HSM deadline) for one of them to finish: they may be right PINs; if none has
    by then, 91 (the card is not blocked).
    """
    pan = ctx.request["2"]
    track2 = ctx.request.get("35")
    if track2 is not None and _TRACK2_SEPARATOR.split(track2, maxsplit=1)[0] != pan:
        raise Decline(ResponseCode.FORMAT_ERROR, "field 35 PAN differs from field 2")
    expiry = _card_expiry(ctx.request)
    pan_hash = ctx.pan_hash = ctx.pan_hash or deps.cards.pan_hash(pan)
    give_up = time.monotonic() + deps.hsm_deadline
    waited = False
    gate = deps.pin_settled
    while True:
        if gate.held(pan_hash) < deps.pin_tries:
            card = deps.cards.reserve_pin_try(pan_hash, limit=deps.pin_tries, expiry=expiry,
                                              current_yymm=_current_yymm())
            if card is not None:
                gate.taken(pan_hash)
                ctx.card = card
                return
            try:
                _why_no_try(deps.cards.card_by_hash(pan_hash), expiry, deps.pin_tries)
            except Decline:
                if waited:  # the next waiter learns it too
                    gate.wake(pan_hash)
                raise
        # Every try left is taken by a verification in flight. Still so at the deadline:
        # 91, try again. Not 75: the card is not blocked (those may all be right PINs),
        # and 75 would have the ATM keep a good card.
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            raise Decline(ResponseCode.UNAVAILABLE,
                          "all PIN tries taken by verifications in progress")
        await gate.wait(pan_hash, remaining)
        waited = True


def _why_no_try(card: Card | None, expiry: str | None, limit: int) -> None:
    """The decline for a card that got no PIN try; returns if its tries are only in use."""
    if card is None:
        raise Decline(ResponseCode.UNKNOWN_CARD, "PAN not on file")
    if card.status == CardStatus.PIN_BLOCKED:
        raise Decline(ResponseCode.PIN_TRIES_EXCEEDED, "card blocked after wrong PINs")
    if card.status != CardStatus.ACTIVE:
        raise Decline(ResponseCode.RESTRICTED_CARD, f"card status {card.status}")
    if expiry is not None and expiry != card.expiry:
        raise Decline(ResponseCode.EXPIRED_CARD, "expiry date does not match the card")
    if card.expiry < _current_yymm():
        raise Decline(ResponseCode.EXPIRED_CARD, "card expired")
    if card.pin_tries >= limit:
        raise Decline(ResponseCode.PIN_TRIES_EXCEEDED, f"{card.pin_tries} wrong PINs in a row")


_yymm_cache: tuple[float, str] = (0.0, "")


def _current_yymm() -> str:
    """This month as YYMM (UTC), worked out at most once a minute: it is asked per inquiry."""
    global _yymm_cache
    now = time.monotonic()
    if now - _yymm_cache[0] > 60:
        _yymm_cache = (now, datetime.now(UTC).strftime("%y%m"))
    return _yymm_cache[1]


async def _verify_under(tpk_lmk: str, card: Card, pan: str, pin_block: str,
                        deps: SwitchDeps) -> str:
    if card.pin_method == "VISA_PVV":
        return await deps.hsm.verify_pin_pvv(
            tpk_lmk=tpk_lmk, pvk_lmk=card.pvk_lmk, pin_block_hex=pin_block,
            pin_block_format="01", account12=account_number_12(pan), pvki=card.pvki or 0,
            pvv=card.pvv or "")
    return await deps.hsm.verify_pin_ibm3624(
        tpk_lmk=tpk_lmk, pvk_lmk=card.pvk_lmk, pin_block_hex=pin_block, pin_block_format="01",
        account12=account_number_12(pan), check_length=card.pin_check_length or 6,
        dec_table=card.dec_table or "", validation_data=card.validation_data(pan),
        offset=card.pin_offset or "")


def _tpks_to_try(terminal: Terminal, deps: SwitchDeps) -> Iterator[str]:
    """The current TPK (the terminal's row check_terminal read), then any retired less
    than key_grace ago: an ATM that has not taken its new key yet, or a PIN block already
    on its way. Lazily: the list is read only when the PIN was wrong under the current
    key, which is rare, so the common inquiry reads no list of keys."""
    yield terminal.tpk_lmk
    for tpk_lmk in deps.cards.usable_keys(terminal.terminal_id, TPK, grace=deps.key_grace):
        if tpk_lmk != terminal.tpk_lmk:
            yield tpk_lmk


async def verify_pin(ctx: Context, deps: SwitchDeps) -> None:
    """Ask the HSM with the try ``check_card`` reserved, then settle the try: a right PIN
    resets the count, a wrong one keeps it (the ``pin_tries``-th in a row blocks the card),
    and a verification that did not happen (HSM unavailable or failing) gives it back."""
    card, terminal, pan_hash = ctx.card, ctx.terminal, ctx.pan_hash
    assert card is not None and terminal is not None and pan_hash is not None
    pan = ctx.request["2"]
    settled = False
    keeps_try = False  # a wrong PIN that did not block: no try comes free
    trace = current_trace()
    try:
        started = time.perf_counter()
        try:
            error = "01"
            for tpk_lmk in _tpks_to_try(terminal, deps):
                error = await _verify_under(tpk_lmk, card, pan, ctx.request["52"], deps)
                if from_hsm_error(error) is not ResponseCode.WRONG_PIN:
                    break
        except HsmUnavailable as exc:
            raise Decline(ResponseCode.UNAVAILABLE, f"HSM: {exc}") from None
        finally:
            if trace is not None:
                trace.hsm_ms = (time.perf_counter() - started) * 1000
        code = from_hsm_error(error)
        if code is ResponseCode.APPROVED:
            deps.cards.record_right_pin(pan_hash)
            settled = True
            return
        if code is ResponseCode.WRONG_PIN:
            outcome = deps.cards.record_wrong_pin(pan_hash, deps.pin_tries)
            settled = True
            keeps_try = not outcome.blocked
            if outcome.blocked:
                raise Decline(ResponseCode.PIN_TRIES_EXCEEDED,
                              f"wrong PIN {outcome.tries} times in a row: card blocked")
            raise Decline(ResponseCode.WRONG_PIN, f"wrong PIN ({outcome.tries} in a row)")
        raise Decline(code, f"HSM error {error}")
    finally:
        if not settled:
            deps.cards.release_pin_try(pan_hash)
        deps.pin_settled.settled(pan_hash, wake=not keeps_try)
