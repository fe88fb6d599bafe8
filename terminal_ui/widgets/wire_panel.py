"""The wire panel: the last ISO 8583 request and response, masked, with timings.

For engineers demoing message flows; toggled with F2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.containers import VerticalScroll
from textual.widgets import Static

from atmsim.kernel.wire import IsoMessage
from terminal_ui.device.i18n import t
from terminal_ui.device.wire_view import field_lines

__all__ = ["WireExchange", "WirePanel"]


@dataclass(frozen=True)
class WireExchange:
    request: IsoMessage
    response: IsoMessage | None
    sent_at: datetime
    round_trip_ms: float | None


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
        lines = [f"[b]{t('wire_title', language)}[/b]  {sent}  round trip {timing}",
                 f"{exchange.request.get('t')} →", *field_lines(exchange.request, 24)]
        if exchange.response is not None:
            lines += [f"{exchange.response.get('t')} ←", *field_lines(exchange.response, 24)]
        text.update("\n".join(line.replace("[", r"\[") if not line.startswith("[b]") else line
                              for line in lines))
