"""The dashboard's panels. Each takes the window (``Traffic``) and ``now`` in ``show`` and
draws from them; none does I/O or reads a clock.

The plots are Textual's own ``Sparkline``: it ships with Textual (no dependency of its
own to keep working with Textual 8), draws in any terminal and in the browser
(textual-serve), and renders the same characters for the same data, which the SVG
snapshots need. One row per hop for p50, one for p99; the figures beside them are the
window's.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

from atm_monitor.alarms import Alarm
from atm_monitor.events import HOPS
from atm_monitor.traffic import Percentiles, Traffic
from atmsim.kernel.response_codes import ResponseCode

__all__ = ["AlarmPanel", "CodeMix", "LastTransactions", "LatencyPanel", "RatePanel",
           "TerminalTable", "clock_of", "ms"]


def ms(value: float | None) -> str:
    """Milliseconds for a narrow column.

    >>> ms(0.4567), ms(12.345), ms(1234.6), ms(None)
    ('0.46', '12.3', '1235', '-')
    """
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def clock_of(at: str) -> str:
    """The time of day of an event's ISO time stamp (as the switch wrote it, UTC).

    >>> clock_of("2026-11-21T02:30:01.250+00:00"), clock_of("garbage")
    ('02:30:01', '?')
    """
    time_part = at[11:19]
    return time_part if len(time_part) == 8 and time_part[2] == ":" == time_part[5] else "?"


def _code_style(code: str) -> str:
    if code == "00":
        return "green"
    return "bold red" if code in ("91", "96") else "yellow"


class RatePanel(Vertical):
    """Inquiries per second: the figure and a plot of each second of the window."""

    def compose(self) -> ComposeResult:
        yield Label(id="rate-figure")
        yield Sparkline([], id="rate-plot")

    def show(self, traffic: Traffic, now: float) -> None:
        rate = traffic.inquiry_rate(now)
        self.query_one("#rate-figure", Label).update(Text.assemble(
            ("inquiries/s ", "bold"), (f"{rate:.1f}", "bold cyan"),
            f"  ({traffic.settings.rate_seconds} s average; {traffic.inquiries} since start)"))
        self.query_one("#rate-plot", Sparkline).data = traffic.rate_series(now)


class CodeMix(Static):
    """The response codes of the window's inquiries, with their share."""

    def show(self, traffic: Traffic, now: float) -> None:
        mix = traffic.code_mix(now)
        total = sum(count for _, count in mix)
        text = Text.assemble(("response codes", "bold"),
                             f"  (last {traffic.settings.seconds} s)\n")
        if not mix:
            text.append("no inquiries yet", "dim")
        for code, count in mix[:8]:
            share = count / total
            text.append(f"{code} ", _code_style(code))
            text.append(f"{ResponseCode.describe(code)[:24]:<24} {count:>6} {share:>5.0%} ")
            text.append("█" * max(1, round(share * 12)) + "\n", _code_style(code))
        if len(mix) > 8:
            text.append(f"... and {len(mix) - 8} more codes", "dim")
        text.rstrip()
        self.update(text)


class LatencyPanel(Vertical):
    """p50 and p99 per hop over the window, and plots of each second's."""

    def compose(self) -> ComposeResult:
        yield Label(Text("latency per hop (ms)", "bold"), id="latency-title")
        for hop in HOPS:
            yield Label(id=f"latency-{hop}", classes="hop-figure")
            yield Sparkline([], id=f"p50-{hop}", classes="p50")
            yield Sparkline([], id=f"p99-{hop}", classes="p99")

    def show(self, traffic: Traffic, now: float) -> None:
        for hop in HOPS:
            overall = traffic.percentiles(hop, now)
            series = [p for p in traffic.latency_series(hop, now) if p is not None]
            label = Text.assemble((f"{hop:<7}", "bold"))
            if overall is None:
                why = ("no per-hop timings in the events" if hop != "switch"
                       and not traffic.hops_seen else "no samples")
                label.append(f"  {why}", "dim")
            else:
                label.append_text(self._figures(overall))
                if hop == "switch" and not traffic.hops_seen:
                    label.append("  (latency_ms)", "dim")
            self.query_one(f"#latency-{hop}", Label).update(label)
            self.query_one(f"#p50-{hop}", Sparkline).data = [p.p50 for p in series]
            self.query_one(f"#p99-{hop}", Sparkline).data = [p.p99 for p in series]

    @staticmethod
    def _figures(p: Percentiles) -> Text:
        return Text.assemble("  p50 ", (ms(p.p50), "cyan"), "  p99 ", (ms(p.p99), "magenta"),
                             f"  n={p.count}")


class AlarmPanel(Static):
    """The alarms in force, or that there are none; and the unreadable events."""

    def show(self, alarms: list[Alarm], traffic: Traffic) -> None:
        text = Text("alarms\n", "bold")
        if not alarms:
            text.append("none", "green")
        for alarm in alarms:
            text.append("▲ ", "bold red")
            text.append(alarm.text + "\n", "red")
        text.append(f"\nunreadable events: {traffic.unreadable}",
                    "bold yellow" if traffic.unreadable else "dim")
        if traffic.unreadable:
            text.append(f" (last: {traffic.last_unreadable_reason})", "yellow")
        self.update(text)


class LastTransactions(DataTable[Text]):
    """The last transactions, newest first, masked as in the events."""

    COLUMNS = ("time", "terminal", "MTI", "STAN", "PAN", "rc", "meaning", "ms")

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns(*self.COLUMNS)

    def show(self, traffic: Traffic) -> None:
        self.clear()
        for seen in reversed(traffic.last):
            e = seen.event
            self.add_row(*(Text(v) for v in (clock_of(e.at), e.terminal_id or "-", e.mti,
                                             e.stan, e.pan or "-")),
                         Text(e.response_code, _code_style(e.response_code)),
                         Text((e.reason or ResponseCode.describe(e.response_code))[:28]),
                         Text(ms(e.hop_ms("switch")), justify="right"))


class TerminalTable(DataTable[Text]):
    """Each terminal: when it was last seen, its last code, its counts."""

    COLUMNS = ("terminal", "last seen", "ago", "last rc", "inquiries", "approved",
               "declined", "other")

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns(*self.COLUMNS)

    def show(self, traffic: Traffic, now: float, limit: int = 50) -> None:
        self.clear()
        for t in traffic.recent_terminals()[:limit]:
            self.add_row(Text(t.terminal_id), Text(clock_of(t.last_at)),
                         Text(f"{max(0.0, now - t.last_seen):.0f} s", justify="right"),
                         Text(t.last_code, _code_style(t.last_code)),
                         *(Text(str(n), justify="right")
                           for n in (t.inquiries, t.approved, t.declined, t.other_messages)))
