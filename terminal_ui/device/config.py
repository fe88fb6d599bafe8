"""What an ATM is configured with: where its switch is and how it speaks to it (wire
profile and framing), who it is (terminal and acquirer), its timers, its cards and its PIN
key, its clock and time zone, where it keeps the reversals it owes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL, DEMO_CARDS, DEMO_KEYS, DemoCard
from atmsim.kernel.wire import Framing, WireProfile, default_profile
from terminal_ui.device.clock import DEFAULT_TIME_ZONE, Clock, utc_now
from terminal_ui.device.store_and_forward import saf_path

__all__ = ["AtmConfig"]


@dataclass
class AtmConfig:
    """The ATM's settings, with the defaults a BNI ATM uses; the timers are in seconds."""

    host: str = "127.0.0.1"
    port: int = 8583
    terminal_id: str = DEMO_ATM_TERMINAL
    acquirer_id: str = "009"
    idle_timeout: float = 30.0  # then "do you need more time?"
    more_time_timeout: int = 15
    take_card_timeout: float = 30.0  # then the card is retained
    host_timeout: float = 30.0
    message_time: float = 3.0  # "thank you" and "card retained" before idle
    reconnect_interval: float = 2.0
    # An 0800 echo (301) this often keeps a quiet link open: switches close connections
    # that send nothing for minutes (ours after 5), and it shows a dead link early.
    echo_interval: float = 60.0
    receipts_dir: Path = field(default_factory=lambda: Path("receipts"))
    # The store-and-forward queue of reversals; None: in saf/ next to receipts_dir
    saf_queue: Path | None = None
    cards: tuple[DemoCard, ...] = DEMO_CARDS
    tpk_hex: str = DEMO_KEYS["TPK"].clear_hex
    time_zone: str = DEFAULT_TIME_ZONE  # the terminal's local time (fields 12/13, receipt)
    clock: Clock = utc_now  # the current time; tests and snapshots pin it
    # How the link to the switch is encoded and framed (docs/profiles.md).
    profile: WireProfile = field(default_factory=default_profile)
    framing: Framing = field(default_factory=Framing)

    @property
    def saf_file(self) -> Path:
        """Where the ATM keeps the reversals it still owes its switch: in the data
        directory (``<data dir>/saf/reversals-HOST-PORT.db`` when receipts are in
        ``<data dir>/receipts``)."""
        return self.saf_queue or saf_path(self.receipts_dir.parent, self.host, self.port)
