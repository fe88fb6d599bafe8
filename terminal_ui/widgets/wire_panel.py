"""The wire panel: the last ISO 8583 request and response, masked, with timings.

For engineers demoing message flows; toggled with F2. With ``[atm] hop_timings`` (``atmsim
atm --hop-timings``) the ATM asks the switch where the time of each inquiry went (field
63, docs/observability.md) and the panel shows it under the round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.containers import VerticalScroll
from textual.widgets import Static

from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.hop_timings import (
    HOP_TIMINGS_FIELD,
    HopTimings,
    asks_hop_timings,
    decode_hop_timings,
)
from terminal_ui.device.i18n import t
from terminal_ui.device.wire_view import field_lines

__all__ = ["WireExchange", "WirePanel"]


@dataclass(frozen=True)
class WireExchange:
    request: IsoMessage
    response: IsoMessage | None
    sent_at: datetime
    round_trip_ms: float | None

    def hops_line(self) -> str | None:
        """Where the time went, from the answer's field 63; None when the ATM did not ask.

        >>> from datetime import datetime
        >>> WireExchange({"t": "0200", "63": "HQ011"}, {"t": "0210", "63": "HS050.812"
        ...              "LG051.904SW053.120"}, datetime(2026, 12, 1), 4.0).hops_line()
        'hops: HSM 0.812 ms · ledger 1.904 ms · switch 3.120 ms'
        """
        if not asks_hop_timings(self.request):
            return None
        if self.response is None:
            return "hops: no reply"
        if HOP_TIMINGS_FIELD not in self.response:
            return "hops: not given by the switch"
        try:
            hops = decode_hop_timings(self.response[HOP_TIMINGS_FIELD])
        except ValueError as exc:
            return f"hops: unreadable ({exc})"
        return "hops: " + " · ".join(
            f"{label} {'not run' if value is None else f'{value:.3f} ms'}"
            for label, value in _hop_labels(hops))


def _hop_labels(hops: HopTimings) -> list[tuple[str, float | None]]:
    return [("HSM", hops.hsm_ms), ("ledger", hops.ledger_ms), ("switch", hops.switch_ms)]


class WirePanel(VerticalScroll):
    def __init__(self) -> None:
        super().__init__(id="wire-panel")
        self.can_focus = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="wire-text")

    def show(self, exchange: WireExchange | None, language: str) -> None:
        text = self.query_one("#wire-text", Static)
        if exchange is None:
            text.update(f"[b]{t('wire_title', language)}[/b]\n{t('wire_empty', language)}")
            return
        timing = (f"{exchange.round_trip_ms:.1f} ms" if exchange.round_trip_ms is not None
                  else "no reply")
        sent = exchange.sent_at.strftime("%H:%M:%S.%f")[:-3]  # milliseconds
        lines = [f"[b]{t('wire_title', language)}[/b]  {sent}  round trip {timing}"]
        hops = exchange.hops_line()
        if hops is not None:
            lines.append(hops)
        lines += [f"{exchange.request.get('t')} →", *field_lines(exchange.request, 24)]
        if exchange.response is not None:
            lines += [f"{exchange.response.get('t')} ←", *field_lines(exchange.response, 24)]
        text.update("\n".join(line.replace("[", r"\[") if not line.startswith("[b]") else line
                              for line in lines))
