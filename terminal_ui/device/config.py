"""What an ATM is configured with: where its switch is and how it speaks to it (wire
profile and framing), who it is (terminal and acquirer), its timers, its cards and its PIN
key, its clock and time zone, where it keeps the reversals it owes."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL, DEMO_CARDS, DEMO_KEYS, DemoCard
from atmsim.kernel.tls import client_context
from atmsim.kernel.wire import Framing, WireProfile, default_profile
from terminal_ui.device.clock import DEFAULT_TIME_ZONE, Clock, utc_now
from terminal_ui.device.pinpad import PinPad
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
    echo_interval: float = 60.0  # seconds without traffic, then an echo
    echo_failures: int = 3  # echoes in a row unanswered (or not 00), then reconnect
    reconnect_max: float = 30.0  # backoff from reconnect_interval doubles up to this
    # TLS to the switch: off by default (a private line); tls_ca empty trusts the system's
    # CAs; tls_cert/tls_key present a client certificate; tls_server_name is checked
    # against the switch's certificate (empty: host)
    tls: bool = False
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_server_name: str = ""
    receipts_dir: Path = field(default_factory=lambda: Path("receipts"))
    # The store-and-forward queue of reversals; None: in saf/ next to receipts_dir
    saf_queue: Path | None = None
    cards: tuple[DemoCard, ...] = DEMO_CARDS
    tpk_hex: str = DEMO_KEYS["TPK"].clear_hex
    # The PIN pad's MAC key and master key (key change installs new TPK/TAK under it);
    # empty: none. The demo terminals' keys of docs/demo-data.md (test keys only).
    tak_hex: str = DEMO_KEYS["TAK"].clear_hex
    tmk_hex: str = DEMO_KEYS["TMK"].clear_hex
    # MAC every 0200/0420 (field 64) and check the switch's MACs (docs/wire.md "MAC")
    mac: bool = False
    # Ask for the switch's hop timings in each 0200 (field 63 = HQ011; docs/observability.md):
    # the wire panel (F2) shows them. Off: the 0200 is the plain one of docs/wire.md.
    hop_timings: bool = False
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

    def pinpad(self) -> PinPad:
        """A PIN pad loaded with this ATM's keys (one per ATM: key changes install into it)."""
        return PinPad(self.tpk_hex, self.tak_hex or None, self.tmk_hex or None)

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of the link to the switch, None for plain TCP; a
        ``atmsim.kernel.tls.TlsError`` names a file that cannot be used."""
        if not self.tls:
            return None
        return client_context(ca_file=self.tls_ca or None, cert=self.tls_cert or None,
                              key=self.tls_key or None)
