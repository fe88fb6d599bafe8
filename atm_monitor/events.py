"""One transaction event as the monitor reads it, or why it cannot be read.

The switch publishes, on ``atmsim/v1/events/tx``, one JSON object per answered message
(the switch's ``atm_switch/events.py``): ``at``, ``terminal_id``, ``acquirer_id``, ``mti``,
``response_mti``, ``processing_code``, ``stan``, ``rrn``, ``pan`` (masked), ``response_code``,
``reason``, ``latency_ms`` and, from the per-hop timings on, ``hops`` =
``{"hsm_ms", "ledger_ms", "switch_ms"}`` (milliseconds or null). Anyone with the switch's
account could publish there, and a broker relays whatever it is given, so every field is
checked: a payload that is too large, not JSON, not an object or has a field of the wrong
type is an ``Unreadable`` with the reason, never an exception. Text that reaches the screen
is cut to a display length, stripped of control characters, and any card number in clear
is masked again (first 6, last 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from atmsim.kernel.masking import mask_digits_in_text, mask_pan

__all__ = ["EVENTS_TOPIC", "HOPS", "MAX_EVENT_BYTES", "TxEvent", "Unreadable", "read_event"]

# The switch's topic (atm_switch.events.EVENTS_TOPIC; components do not import each other,
# tests/monitor checks that the two agree).
EVENTS_TOPIC = "atmsim/v1/events/tx"
# An event is about 400 bytes; anything far larger is not one, and is not parsed.
MAX_EVENT_BYTES = 16 * 1024
# The hops of ``hops``, in the order the dashboard shows them; ``switch`` is the switch's
# whole answer (``latency_ms`` when an event has no ``hops``).
HOPS = ("switch", "hsm", "ledger")

_TEXT_FIELDS = {"at": 32, "terminal_id": 16, "acquirer_id": 11, "response_mti": 4,
                "processing_code": 6, "stan": 6, "rrn": 12, "pan": 19, "reason": 120}


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A payload on the events topic that is not an event; ``reason`` says why."""

    reason: str


@dataclass(frozen=True, slots=True)
class TxEvent:
    """One answered message, checked and ready to show."""

    mti: str
    response_code: str
    latency_ms: float
    terminal_id: str | None = None
    at: str = ""
    stan: str = ""
    rrn: str = ""
    pan: str = ""  # masked
    reason: str = ""
    processing_code: str = ""
    # By hop name (``HOPS``): milliseconds, or None where the event says the step did not
    # run; empty when the event carries no ``hops``.
    hops: tuple[tuple[str, float | None], ...] = ()

    @property
    def is_inquiry(self) -> bool:
        return self.mti == "0200"

    def hop_ms(self, hop: str) -> float | None:
        """The hop's milliseconds: from ``hops``; the switch's falls back to ``latency_ms``.

        >>> event = TxEvent("0200", "00", 4.5)
        >>> event.hop_ms("switch"), event.hop_ms("hsm")
        (4.5, None)
        >>> TxEvent("0200", "00", 4.5, hops=(("switch", 4.1), ("hsm", 0.7))).hop_ms("switch")
        4.1
        """
        for name, value in self.hops:
            if name == hop:
                return value
        return self.latency_ms if hop == "switch" and not self.hops else None


def _clean(text: str, limit: int) -> str:
    shown = text[:limit]
    if not shown.isprintable():  # an escape sequence must not reach the terminal
        shown = "".join(c if c.isprintable() else "?" for c in shown)
    # A card number is 13 digits or more: a shorter text cannot hold one.
    return mask_digits_in_text(shown) if len(shown) >= 13 else shown


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def read_event(payload: bytes) -> TxEvent | Unreadable:
    """The event in ``payload``, or why it is not one.

    >>> read_event(b'{"mti": "0200", "response_code": "00", "latency_ms": 3.2, '
    ...            b'"terminal_id": "BNI00001", "pan": "526422******0010"}').pan
    '526422******0010'
    >>> read_event(b'{"mti": "0200", "response_code": "00", "latency_ms": 1, '
    ...            b'"pan": "5264220000100010"}').pan
    '526422******0010'
    >>> read_event(b"not json")
    Unreadable(reason='not JSON')
    >>> read_event(b'{"mti": "0200", "response_code": 0, "latency_ms": 1}')
    Unreadable(reason='response_code is not a 2-character code')
    >>> read_event(b'{"mti": "0200", "response_code": "00", "latency_ms": 1, "hops": []}')
    Unreadable(reason='hops is not an object')
    """
    if len(payload) > MAX_EVENT_BYTES:
        return Unreadable(f"{len(payload)} bytes (over {MAX_EVENT_BYTES})")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Unreadable("not JSON")
    if not isinstance(body, dict):
        return Unreadable("not a JSON object")
    mti = body.get("mti")
    if not (isinstance(mti, str) and len(mti) == 4 and mti.isdigit() and mti.isascii()):
        return Unreadable("mti is not 4 digits")
    code = body.get("response_code")
    if not (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalnum()):
        return Unreadable("response_code is not a 2-character code")
    latency = _number(body.get("latency_ms"))
    if latency is None:
        return Unreadable("latency_ms is not a number of milliseconds")
    texts: dict[str, str] = {}
    for name, limit in _TEXT_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return Unreadable(f"{name} is not text")
        texts[name] = _clean(value, limit)
    hops: list[tuple[str, float | None]] = []
    raw_hops = body.get("hops")
    if raw_hops is not None:
        if not isinstance(raw_hops, dict):
            return Unreadable("hops is not an object")
        for hop in HOPS:
            value = raw_hops.get(f"{hop}_ms")
            number = None if value is None else _number(value)
            if value is not None and number is None:
                return Unreadable(f"hops.{hop}_ms is not a number of milliseconds")
            hops.append((hop, number))
    pan = texts.get("pan", "")
    if pan.isdigit():  # a card number in clear: never shown so
        pan = mask_pan(pan)
    return TxEvent(mti=mti, response_code=code.upper(), latency_ms=latency,
                   terminal_id=texts.get("terminal_id") or None, at=texts.get("at", ""),
                   stan=texts.get("stan", ""), rrn=texts.get("rrn", ""), pan=pan,
                   reason=texts.get("reason", ""),
                   processing_code=texts.get("processing_code", ""), hops=tuple(hops))
