"""Fixed event sequences for the monitor's tests: the switch's event shape
(atm_switch/events.py), with or without per-hop timings."""

from __future__ import annotations

from typing import Any

import orjson

CODES = ["00", "00", "00", "55", "00", "91", "00", "14", "00", "00"]


def event(n: int, *, code: str | None = None, hops: bool = True, **extra: Any) -> dict[str, Any]:
    """The ``n``th event of a fixed sequence: three terminals taking turns."""
    body: dict[str, Any] = {
        "at": f"2026-11-21T02:{29 + (n // 60) % 30:02d}:{n % 60:02d}.250+00:00",
        "terminal_id": f"BNI0000{n % 3 + 1}", "acquirer_id": "009", "mti": "0200",
        "response_mti": "0210", "processing_code": "310000", "stan": f"{n + 1:06d}",
        "rrn": f"63250900{n + 1:04d}", "pan": "526422******0010",
        "response_code": code or CODES[n % len(CODES)], "reason": None,
        "latency_ms": 2.0 + (n % 7) * 0.5,
    }
    if hops:
        body["hops"] = {"hsm_ms": 0.3 + (n % 4) * 0.1, "ledger_ms": 1.0 + (n % 5) * 0.2,
                        "switch_ms": 1.9 + (n % 7) * 0.5}
    body.update(extra)
    return body


def payload(n: int, **options: Any) -> bytes:
    return orjson.dumps(event(n, **options))
