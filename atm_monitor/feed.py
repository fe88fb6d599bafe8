"""The MQTT edge: the events topic, read with the monitor's own account, into ``Traffic``.

The connection is the kernel's bus (``atmsim.kernel.bus.MqttBus``), which reconnects by
itself; ``MqttBus.listen`` hands over each payload unparsed, so that whatever is not an
event is counted as unreadable rather than dropped unseen. A message over the bus's packet
limit never arrives whole: the bus reads past it and counts it, and ``poll`` adds those to
the unreadable events too. The monitor's account may read ``atmsim/v1/events/#`` and
publish nothing (docs/security.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from atm_monitor.events import EVENTS_TOPIC
from atm_monitor.traffic import Traffic
from atmsim.kernel.bus import MAX_PACKET, MqttBus

__all__ = ["EventFeed"]

log = logging.getLogger("atmsim.monitor")


class EventFeed:
    """``traffic`` fed from ``bus`` (open, or about to be) from ``start()`` on."""

    def __init__(self, bus: MqttBus, traffic: Traffic,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.traffic = traffic
        self.clock = clock
        self._oversize_seen = 0
        self._started = False

    def start(self) -> None:
        """Listen from now on. Started before the bus connects, the subscription is in
        place by the time ``established`` returns: no event of the first seconds is lost."""
        if not self._started:
            self._started = True
            self.bus.listen(EVENTS_TOPIC, self._received)

    def _received(self, topic: str, payload: bytes) -> None:
        try:
            self.traffic.take(payload, self.clock())
        except Exception:  # a fault of ours must not cost the bus its connection
            log.exception("event on %s not counted", topic[:80])
            self.traffic.add_unreadable("could not be read (see the log)", self.clock())

    def poll(self) -> None:
        """Count the messages the bus dropped as oversize since the last poll."""
        dropped = self.bus.dropped_oversize
        if dropped > self._oversize_seen:
            self.traffic.add_unreadable(f"over the {MAX_PACKET}-byte packet limit",
                                        self.clock(), dropped - self._oversize_seen)
            self._oversize_seen = dropped

    @property
    def connected(self) -> bool:
        return self.bus.connected

    @property
    def source(self) -> str:
        """Where the events come from, password masked."""
        return self.bus.endpoint.url
