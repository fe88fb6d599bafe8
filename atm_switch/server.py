"""The switch: its channel (``atm_switch.channel``) handing every message to its
dispatcher (``atm_switch.dispatcher``), which runs the pipelines."""

from __future__ import annotations

import logging
import ssl

from atm_switch.admission import DEFAULT_MAX_PENDING
from atm_switch.channel import (
    DEFAULT_FRAME_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    Channel,
)
from atm_switch.deps import SwitchDeps
from atm_switch.dispatcher import Dispatcher
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.tls import DEFAULT_HANDSHAKE_TIMEOUT
from atmsim.kernel.wire import Framing, WireProfile

__all__ = ["SwitchServer"]


class SwitchServer(Channel):
    """The channel on ``host``:``port`` with the switch's dispatcher; ``max_pending``
    bounds the inquiries in progress switch-wide (``atm_switch.admission``)."""

    def __init__(self, deps: SwitchDeps, profile: WireProfile, framing: Framing, *,
                 host: str = "127.0.0.1", port: int = 8583, max_in_flight: int = 256,
                 max_pending: int = DEFAULT_MAX_PENDING,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 repeat_interval: float = 60.0, tls: ssl.SSLContext | None = None,
                 tls_handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT) -> None:
        warn = RateLimitedLog(logging.getLogger("atmsim.switch"), repeat_interval)
        self.dispatcher = Dispatcher(deps, warn)
        deps.slots.limit = max_pending
        # A connection that ends lets the answers being worked on reach the ATM if it is
        # still there: the longest an inquiry can take is its HSM and ledger deadlines.
        super().__init__(self.dispatcher, profile, framing, host=host, port=port,
                         max_in_flight=max_in_flight, idle_timeout=idle_timeout,
                         frame_timeout=frame_timeout, max_connections=max_connections,
                         drain_timeout=deps.hsm_deadline + deps.ledger_deadline + 1, warn=warn,
                         tls=tls, tls_handshake_timeout=tls_handshake_timeout)
        self.deps = deps

    @property
    def max_pending(self) -> int:
        return self.deps.slots.limit

    @max_pending.setter
    def max_pending(self, limit: int) -> None:
        self.deps.slots.limit = limit
