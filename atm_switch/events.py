"""The masked transaction event published on ``atmsim/v1/events/tx`` for monitors.

Never carries PIN data: only what a monitoring screen may show. ``hops`` is where the
time went (docs/observability.md): ``{"hsm_ms", "ledger_ms", "switch_ms"}``, each in
milliseconds or null where that step did not run; ``atmsim monitor`` reads these names.

Events are published at QoS 0 (``EVENTS_QOS``): they are for watching, the journal and the
ledger keep the record, and a QoS 1 event cost every inquiry the broker's PUBACK (one more
message waking the switch). A monitor connected to a running broker gets every event; one
that loses its connection misses what was published meanwhile, as it would at QoS 1
without a persistent session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from atmsim.kernel.masking import mask_pan
from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.hop_timings import HopTimings

__all__ = ["EVENTS_QOS", "EVENTS_TOPIC", "transaction_event"]

EVENTS_TOPIC = "atmsim/v1/events/tx"
EVENTS_QOS = 0


def transaction_event(request: IsoMessage, response: IsoMessage, latency_ms: float,
                      reason: str = "", hops: dict[str, float | None] | None = None
                      ) -> dict[str, Any]:
    """The event of one answer; ``hops`` (``HopTimings.as_event()``) None: only the
    switch's total is known."""
    return {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "terminal_id": request.get("41"),
        "acquirer_id": request.get("32"),
        "mti": request.get("t"),
        "response_mti": response.get("t"),
        "processing_code": request.get("3"),
        "stan": request.get("11"),
        "rrn": request.get("37"),
        "pan": mask_pan(request.get("2", "")) if request.get("2") else None,
        "response_code": response.get("39"),
        "reason": reason or None,
        "latency_ms": round(latency_ms, 3),
        "hops": hops or HopTimings(switch_ms=latency_ms).as_event(),
    }
