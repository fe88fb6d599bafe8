"""Per-hop timings of one inquiry on the wire: field 63, asked for by the ATM.

Field 63 (ans...999, "reserved private" in ISO 8583:1987) is free in every atmsim profile.
An ATM that wants to know where the time of its inquiry went puts ``HQ011`` there (the
tag-length-value item ``HQ`` = ``1``, as field 48 is laid out); the switch's 0210 then
carries, in its own field 63, how long the HSM's PIN verification (``HS``), the ledger's
answer (``LG``) and the whole answer inside the switch (``SW``) took, in milliseconds
with three decimals. A step that did not run is left out. An 0200 without ``HQ``
gets no field 63: the default bytes do not change (docs/observability.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from atmsim.kernel.wire.additional_data import decode_tlv, encode_tlv
from atmsim.kernel.wire.fields import IsoMessage

__all__ = ["HOP_TIMINGS_FIELD", "ASK_HOP_TIMINGS", "HopTimings", "hops_event", "asks_hop_timings",
           "encode_hop_timings", "decode_hop_timings"]

HOP_TIMINGS_FIELD = "63"
ASK_HOP_TIMINGS = encode_tlv([("HQ", "1")])
_TAGS = (("HS", "hsm_ms"), ("LG", "ledger_ms"), ("SW", "switch_ms"))


@dataclass(frozen=True, slots=True)
class HopTimings:
    """Milliseconds spent at the HSM, at the ledger and in the switch; None: not run."""

    hsm_ms: float | None = None
    ledger_ms: float | None = None
    switch_ms: float | None = None

    def as_event(self) -> dict[str, float | None]:
        """The ``hops`` object of a transaction event (docs/observability.md).

        >>> HopTimings(1.23456, None, 5.0).as_event()
        {'hsm_ms': 1.235, 'ledger_ms': None, 'switch_ms': 5.0}
        """
        return hops_event(self.hsm_ms, self.ledger_ms, self.switch_ms)


def hops_event(hsm_ms: float | None, ledger_ms: float | None,
               switch_ms: float | None) -> dict[str, float | None]:
    """The event's ``hops`` object of three timings (milliseconds, three decimals).

    >>> hops_event(0.41234, None, 2.5)
    {'hsm_ms': 0.412, 'ledger_ms': None, 'switch_ms': 2.5}
    """
    return {"hsm_ms": None if hsm_ms is None else round(hsm_ms, 3),
            "ledger_ms": None if ledger_ms is None else round(ledger_ms, 3),
            "switch_ms": None if switch_ms is None else round(switch_ms, 3)}


def asks_hop_timings(request: IsoMessage) -> bool:
    """Whether a request asks for the hop timings in its answer.

    >>> asks_hop_timings({"t": "0200", "63": "HQ011"}), asks_hop_timings({"t": "0200"})
    (True, False)
    >>> asks_hop_timings({"t": "0200", "63": "garbage"})  # not ours to refuse: ignored
    False
    """
    value = request.get(HOP_TIMINGS_FIELD)
    if not value:
        return False
    try:
        return decode_tlv(value).get("HQ") == "1"
    except ValueError:
        return False


def encode_hop_timings(timings: HopTimings) -> str:
    """Field 63 of an answer: the timings that ran, as TLV items.

    >>> encode_hop_timings(HopTimings(1.5, 3.25, 6.0))
    'HS051.500LG053.250SW056.000'
    >>> encode_hop_timings(HopTimings(None, None, 0.1234))
    'SW050.123'
    """
    return encode_tlv([(tag, f"{value:.3f}") for tag, name in _TAGS
                       if (value := getattr(timings, name)) is not None])


def decode_hop_timings(value: str) -> HopTimings:
    """The timings of an answer's field 63; ValueError for one that is not that layout.

    >>> decode_hop_timings("HS051.500SW056.000")
    HopTimings(hsm_ms=1.5, ledger_ms=None, switch_ms=6.0)
    """
    try:
        items = decode_tlv(value)
    except ValueError as exc:
        raise ValueError(f"field 63 is not tag-length-value items ({exc})") from None
    found: dict[str, float] = {}
    for tag, name in _TAGS:
        if tag in items:
            try:
                found[name] = float(items[tag])
            except ValueError:
                raise ValueError(f"field 63 {tag} is not a number of milliseconds") from None
    return HopTimings(**found)
