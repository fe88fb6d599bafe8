"""The switch: its channel (``atm_switch.channel``) handing every message to its
dispatcher (``atm_switch.dispatcher``), which runs the pipelines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time

from atm_switch.admission import DEFAULT_MAX_PENDING
from atm_switch.channel import (
    DEFAULT_FRAME_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    Channel,
)
from atm_switch.deps import SwitchDeps
from atm_switch.dispatcher import Dispatcher
from atm_switch.key_change import KeyChangeError, push_key_change
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.rules import RuleBook
from atmsim.kernel.tls import DEFAULT_HANDSHAKE_TIMEOUT
from atmsim.kernel.wire import Framing, WireProfile

__all__ = ["SwitchServer"]

_KEY_CHANGE_POLL = 1.0  # seconds between looks for `atmsim keys rotate` requests


class SwitchServer(Channel):
    """The channel on ``host``:``port`` with the switch's dispatcher; ``max_pending``
    bounds the inquiries in progress switch-wide (``atm_switch.admission``); ``rules``
    may answer requests first (``atm_switch.host_rules``)."""

    def __init__(self, deps: SwitchDeps, profile: WireProfile, framing: Framing, *,
                 host: str = "127.0.0.1", port: int = 8583, max_in_flight: int = 256,
                 max_pending: int = DEFAULT_MAX_PENDING,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 repeat_interval: float = 60.0, key_change_interval: float = 0.0,
                 rules: RuleBook | None = None, tls: ssl.SSLContext | None = None,
                 tls_handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT) -> None:
        deps.profile = profile  # the MACs of answers are over the bytes this profile writes
        warn = RateLimitedLog(logging.getLogger("atmsim.switch"), repeat_interval)
        self.dispatcher = Dispatcher(deps, warn, rules)
        deps.slots.limit = max_pending
        # A connection that ends lets the answers being worked on reach the ATM if it is
        # still there: the longest an inquiry can take is its HSM and ledger deadlines.
        super().__init__(self.dispatcher, profile, framing, host=host, port=port,
                         max_in_flight=max_in_flight, idle_timeout=idle_timeout,
                         frame_timeout=frame_timeout, max_connections=max_connections,
                         drain_timeout=deps.hsm_deadline + deps.ledger_deadline + 1, warn=warn,
                         tls=tls, tls_handshake_timeout=tls_handshake_timeout)
        self.deps = deps
        slots = deps.slots
        deps.metrics.watch(connections=lambda: self.open_connections,
                           refused=lambda: self.refused, pending=lambda: slots.in_use,
                           shed=lambda: slots.shed)
        self.key_change_interval = key_change_interval
        self._push_stan = 0
        self._key_changes: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._key_changes = asyncio.create_task(self._key_change_loop())

    async def close(self) -> None:
        if self._key_changes is not None:
            self._key_changes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_changes
            self._key_changes = None
        await super().close()

    async def _key_change_loop(self) -> None:
        """Key changes the bank asks for: ``atmsim keys rotate`` (a request row in the card
        database, looked at every second) and, with ``key_change_interval``, every
        connected terminal on that schedule."""
        next_round = time.monotonic() + self.key_change_interval
        while True:
            await asyncio.sleep(_KEY_CHANGE_POLL)
            while (taken := self.deps.cards.take_key_change_request(
                    self.connected_terminals())) is not None:
                request_id, terminal_id = taken
                self.deps.cards.finish_key_change_request(
                    request_id, await self._rotate_logged(terminal_id))
            if self.key_change_interval > 0 and time.monotonic() >= next_round:
                next_round = time.monotonic() + self.key_change_interval
                for terminal_id in self.connected_terminals():
                    await self._rotate_logged(terminal_id)

    async def _rotate_logged(self, terminal_id: str) -> str:
        try:
            return f"generation {await self.rotate_keys(terminal_id)}"
        except KeyChangeError as exc:
            logging.getLogger("atmsim.switch").warning("key change for %s failed: %s",
                                                       terminal_id, exc)
            return f"failed: {exc}"

    async def rotate_keys(self, terminal_id: str, timeout: float = 10.0) -> int:
        """Bank-initiated key change for a connected ATM (``atm_switch.key_change``):
        returns the new key generation, or raises ``KeyChangeError``."""
        self._push_stan = self._push_stan % 999_999 + 1
        return await push_key_change(terminal_id, self.deps, self, stan=f"{self._push_stan:06d}",
                                     timeout=timeout)

    @property
    def max_pending(self) -> int:
        return self.deps.slots.limit

    @max_pending.setter
    def max_pending(self, limit: int) -> None:
        self.deps.slots.limit = limit
