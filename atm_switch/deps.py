"""What the switch's participants need from outside: stores, links, limits and the state
they share across requests (PIN tries in flight, recent requests, inquiry slots, the 0200s
being answered) and the transaction journal reversals are matched against."""

from __future__ import annotations

from dataclasses import dataclass, field

from atm_switch.admission import DuplicateGuard, InquirySlots
from atm_switch.card_store import CardStore
from atm_switch.hsm_link import SwitchHsm
from atm_switch.journal import InquiriesInFlight, TransactionJournal
from atm_switch.metrics import SwitchMetrics
from atm_switch.pin_verification import PinTrySignals
from atmsim.kernel.bus import Bus
from atmsim.kernel.wire import WireProfile, default_profile

__all__ = ["SwitchDeps"]


@dataclass
class SwitchDeps:
    """The card database, the HSM, the bus to the ledger, and the limits the steps keep."""

    cards: CardStore
    hsm: SwitchHsm
    bus: Bus
    hsm_deadline: float
    ledger_deadline: float
    pin_tries: int = 3
    pin_settled: PinTrySignals = field(default_factory=PinTrySignals)
    duplicates: DuplicateGuard = field(default_factory=DuplicateGuard)
    slots: InquirySlots = field(default_factory=InquirySlots)
    # Seconds a TPK or TAK replaced by a key change keeps verifying ([switch] key_grace).
    key_grace: float = 300.0
    profile: WireProfile = field(default_factory=default_profile)
    # None: no journal (unit tests of other steps); a reversal is then answered 12.
    journal: TransactionJournal | None = None
    in_flight: InquiriesInFlight = field(default_factory=InquiriesInFlight)
    inquiry_fee_sen: int = 0  # charged per approved inquiry; a reversal refunds it
    # Counted always (a few increments per request); served only with [switch] metrics.
    metrics: SwitchMetrics = field(default_factory=SwitchMetrics)
