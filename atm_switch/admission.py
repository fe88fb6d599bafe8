"""Which 0200s the switch takes on: not a duplicate of a recent one (94), not more than
``max_pending`` at once (91).

Overload: at most ``max_pending`` inquiries are worked on switch-wide; one more is
answered 91 at once, without asking the HSM or the ledger. Without that bound an offered
load above capacity queues without limit, every inquiry ends up outliving its HSM and
ledger deadlines, and the switch spends all its time on answers nobody waits for (measured:
at 1,000/s offered against ~450/s capacity, 2 answers/s came back in time).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from atm_switch.pipeline import Context, Decline
from atmsim.kernel.response_codes import ResponseCode

if TYPE_CHECKING:
    from atm_switch.deps import SwitchDeps

__all__ = ["DuplicateGuard", "InquirySlots", "DEFAULT_MAX_PENDING", "DUPLICATE_WINDOW",
           "reject_duplicate", "admit"]

log = logging.getLogger("atmsim.switch")

DUPLICATE_WINDOW = 300.0  # seconds a (terminal, STAN, time, PAN) key is remembered
# Inquiries worked on at once, switch-wide, before more are answered 91 at once. At the
# measured capacity (1,000-2,000/s on 2 cores) this bounds the time spent in the switch to
# about half a second, well inside the HSM (2 s) and ledger (5 s) deadlines.
DEFAULT_MAX_PENDING = 1000
_DUPLICATE_KEY = ("41", "11", "7", "2")


class DuplicateGuard:
    """Remembers recent request keys; a repeat within the window is a duplicate."""

    def __init__(self, window: float = DUPLICATE_WINDOW, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self._window = window
        self._capacity = capacity

    def is_duplicate(self, key: tuple[str, ...]) -> bool:
        now = time.monotonic()
        while self._seen:
            _, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self._window and len(self._seen) < self._capacity:
                break
            self._seen.popitem(last=False)
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


class InquirySlots:
    """The bound on inquiries in progress, switch-wide, and how many were turned away."""

    def __init__(self, limit: int = DEFAULT_MAX_PENDING) -> None:
        self.limit = limit
        self.in_use = 0
        self.shed = 0

    def release(self) -> None:
        self.in_use -= 1


async def reject_duplicate(ctx: Context, deps: SwitchDeps) -> None:
    """The same terminal, STAN, transmission time and PAN as a recent request: 94."""
    key = tuple(ctx.request.get(f, "") for f in _DUPLICATE_KEY)
    if deps.duplicates.is_duplicate(key):
        raise Decline(ResponseCode.DUPLICATE, "duplicate of a recent request")


async def admit(ctx: Context, deps: SwitchDeps) -> None:
    """Take an inquiry slot until the transaction is over; none free: 91 at once."""
    slots = deps.slots
    if slots.in_use >= slots.limit:
        slots.shed += 1
        if slots.shed == 1 or slots.shed % 1000 == 0:
            log.warning("switch busy: %d inquiries answered 91 at once so far (more than %d "
                        "in progress)", slots.shed, slots.limit)
        raise Decline(ResponseCode.UNAVAILABLE,
                      f"switch busy: {slots.in_use} inquiries in progress")
    slots.in_use += 1
    ctx.on_end(slots.release)
