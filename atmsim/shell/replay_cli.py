"""``atmsim replay``: send a capture's requests again and diff the replies with the captured.

``atmsim replay day1.jsonl --target 127.0.0.1:8583`` (or a ``.pcap``/``.pcapng`` from
tshark or tcpdump) opens one connection to the target per captured connection, sends
each captured request rewritten as ``atmsim.shell.replay`` says, at the captured pace
(``--speed 10``: ten times faster; ``--as-fast-as-possible``: each connection sends its
next request as soon as the last is answered), and reports every reply that differs from
the captured one in a field that must not (masked), with the throughput reached. Exit
status 0 when every reply matches, 1 when one differs or is missing, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.wire import Framing, IsoMessage, WireProfile
from atmsim.shell.capture import CaptureError, read_capture
from atmsim.shell.config import parse_hostport
from atmsim.shell.errors import UserError
from atmsim.shell.load.cards import CardFileError, LoadCard, demo_cards, read_card_file
from atmsim.shell.options import add_options, settings_from
from atmsim.shell.replay import (
    IGNORED,
    CapturedExchange,
    ReplayRefused,
    Rewrite,
    field_diff,
    pair_exchanges,
)
from atmsim.shell.replay import rewrite_request as rewrite
from terminal_ui.device.clock import terminal_zone
from terminal_ui.device.host_link import AtmHostLink, HostTimeout, HostUnavailable
from terminal_ui.device.pinpad import PinPad

__all__ = ["ReplayReport", "add_capture_options", "add_parser", "capture_from", "replay",
           "run"]


@dataclass
class Outcome:
    exchange: CapturedExchange
    sent: IsoMessage | None = None
    reply: IsoMessage | None = None
    problem: str | None = None  # not sent, or no reply: why
    diff: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.problem is None and not self.diff


@dataclass
class ReplayReport:
    outcomes: list[Outcome]
    connections: int
    seconds: float
    captured_seconds: float

    @property
    def identical(self) -> int:
        return sum(o.identical for o in self.outcomes)

    @property
    def sent(self) -> int:
        return sum(o.sent is not None for o in self.outcomes)

    def lines(self) -> list[str]:
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        different = sum(bool(o.diff) for o in self.outcomes)
        unanswered = sum(o.sent is not None and o.reply is None for o in self.outcomes)
        refused = len(self.outcomes) - self.sent
        lines = [f"replayed {self.sent:,} of {len(self.outcomes):,} captured requests on "
                 f"{self.connections} connection(s) in {self.seconds:.2f} s ({rate:,.0f} "
                 f"requests/s; the capture spanned {self.captured_seconds:.2f} s)",
                 f"identical {self.identical:,} · different {different:,} · no reply "
                 f"{unanswered:,} · not sent {refused:,}",
                 "ignored, as they must differ: " + ", ".join(IGNORED)]
        for outcome in self.outcomes:
            if outcome.identical:
                continue
            request = outcome.exchange.request.fields
            head = (f"#{outcome.exchange.number} conn {outcome.exchange.request.conn} "
                    f"{request.get('t', '?')} 11={request.get('11', '?')}")
            if "2" in request:
                head += f" PAN {mask_pan(request['2'])}"
            if outcome.problem:
                lines.append(f"{head}: {outcome.problem}")
            for line in outcome.diff:
                lines.append(f"{head}: {line}")
        return lines

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "captured": len(self.outcomes), "identical": self.identical,
                "seconds": self.seconds, "captured_seconds": self.captured_seconds,
                "ignored": list(IGNORED),
                "differences": [{"number": o.exchange.number, "problem": o.problem,
                                 "diff": o.diff} for o in self.outcomes if not o.identical]}


async def replay(exchanges: Sequence[CapturedExchange], target: tuple[str, int], *,
                 how: Rewrite, speed: float | None = 1.0, timeout: float = 30.0,
                 framing: Framing | None = None,
                 profile: WireProfile | None = None) -> ReplayReport:
    """Send the exchanges' requests again; ``speed`` None: as fast as possible."""
    by_conn: dict[int, list[CapturedExchange]] = {}
    for exchange in exchanges:
        by_conn.setdefault(exchange.request.conn, []).append(exchange)
    outcomes = {e.number: Outcome(e) for e in exchanges}
    first = exchanges[0].request.time if exchanges else 0.0
    captured = (max(e.request.time for e in exchanges) - first) if exchanges else 0.0
    how.originals = {} if how.originals is None else how.originals
    started = time.monotonic()

    async def one(link: AtmHostLink, exchange: CapturedExchange) -> None:
        outcome = outcomes[exchange.number]
        try:
            outcome.sent = rewrite(exchange.request, link.next_stan(), datetime.now(UTC), how)
        except ReplayRefused as exc:
            outcome.problem = f"not sent: {exc}"
            return
        try:
            outcome.reply = await link.exchange(outcome.sent, timeout)
        except HostTimeout:
            outcome.problem = f"no reply within {timeout:g} s"
        except HostUnavailable as exc:
            outcome.problem = f"no reply: {exc}"
        except ValueError as exc:  # a captured value the profile will not encode
            outcome.sent, outcome.problem = None, f"not sent: {exc}"
        if outcome.reply is not None:
            if exchange.reply is None:
                outcome.problem = "answered now, unanswered in the capture"
            else:
                outcome.diff = field_diff(exchange.reply.fields, outcome.reply)
        elif exchange.reply is None and outcome.problem and outcome.problem.startswith("no reply"):
            outcome.problem = None  # unanswered then and now

    async def connection(conn: int, mine: list[CapturedExchange]) -> None:
        terminal = next((e.request.fields["41"] for e in mine if "41" in e.request.fields),
                        "")
        try:
            link = AtmHostLink(target[0], target[1], terminal_id=terminal, framing=framing,
                               profile=profile)
            await link.connect()
        except HostUnavailable as exc:
            for exchange in mine:
                outcomes[exchange.number].problem = f"not sent: {exc}"
            return
        try:
            if speed is None:
                for exchange in mine:
                    await one(link, exchange)
                return
            tasks = []
            for exchange in mine:
                due = started + (exchange.request.time - first) / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(one(link, exchange)))
            await asyncio.gather(*tasks)
        finally:
            await link.close()

    await asyncio.gather(*(connection(c, mine) for c, mine in by_conn.items()))
    return ReplayReport([outcomes[e.number] for e in exchanges], len(by_conn),
                        time.monotonic() - started, captured)


def add_parser(subparsers: Any) -> None:
    """Add ``replay`` to the ``atmsim`` subcommands."""
    parser = subparsers.add_parser(
        "replay", help="send a capture's requests again and diff the replies",
        description="Re-send the requests of an atmsim record capture (JSONL) or a "
                    "pcap/pcapng to a target, STAN, RRN and times rewritten, and report "
                    "every reply that differs from the captured one.")
    parser.add_argument("--target", required=True, metavar="HOST:PORT",
                        help="the switch to send to")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, metavar="N",
                      help="N times the captured pace (default 1)")
    pace.add_argument("--as-fast-as-possible", action="store_true",
                      help="each connection sends its next request when the last is answered")
    add_capture_options(parser, cards_help="restores masked PANs and, with --tpk, makes "
                                           "PIN blocks anew")
    parser.add_argument("--tpk", metavar="HEX|demo",
                        help="the target terminal's clear TPK (test keys only): PIN blocks "
                             "are made anew from the cards' PINs")
    parser.add_argument("--capture-tpk", metavar="HEX|demo",
                        help="the clear TPK the captured PIN blocks are under (a raw capture): "
                             "with --tpk they are translated to it, wrong PINs staying wrong")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for each reply (30)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    add_options(parser, "profile", "config", "log_level")


def add_capture_options(parser: argparse.ArgumentParser, cards_help: str) -> None:
    """The options of a command that reads a capture: its cards and a pcap's port."""
    parser.add_argument("capture", type=Path, metavar="FILE",
                        help="a capture: JSONL from atmsim record, or .pcap / .pcapng")
    parser.add_argument("--cards", type=Path, metavar="FILE",
                        help=f"CSV pan,pin[,expiry] (as atmsim load): {cards_help}")
    parser.add_argument("--demo-cards", action="store_true",
                        help="the demo cards of docs/demo-data.md (as well as --cards)")
    parser.add_argument("--port", type=int, metavar="PORT",
                        help="pcap: the server's TCP port (default: every TCP connection)")


def capture_from(args: argparse.Namespace, profile: WireProfile, framing: Framing) -> tuple[
        list[CapturedExchange], list[LoadCard]]:
    """The exchanges of the capture and the cards the options name; ``UserError`` if
    either cannot be read or the capture holds no request."""
    cards: list[LoadCard] = demo_cards() if args.demo_cards else []
    try:
        if args.cards is not None:
            cards += read_card_file(args.cards)
        frames = read_capture(args.capture, profile, framing, args.port)
    except (CaptureError, CardFileError) as exc:
        raise UserError(str(exc)) from None
    exchanges = pair_exchanges(frames)
    if not exchanges:
        raise UserError(f"{args.capture}: no request in the capture")
    return exchanges, cards


def _clear_key(text: str, flag: str) -> bytes:
    key = DEMO_KEYS["TPK"].clear_hex if text == "demo" else text
    try:
        if len(key) not in (16, 32, 48):
            raise ValueError
        return bytes.fromhex(key)
    except ValueError:
        raise UserError(f"{flag}: a clear key is 16, 32 or 48 hex characters (or 'demo')"
                        ) from None


def _rewrite(args: argparse.Namespace, cards: list[LoadCard], zone: tzinfo) -> Rewrite:
    tpk = None if args.tpk is None else _clear_key(args.tpk, "--tpk")
    if args.capture_tpk is not None and tpk is None:
        raise UserError("--capture-tpk needs --tpk: the key to translate the PIN blocks to")
    if tpk is not None and not cards and args.capture_tpk is None:
        raise UserError("--tpk needs the cards' PINs (--cards FILE or --demo-cards) or the "
                        "capture's key (--capture-tpk)")
    translate = (None if args.capture_tpk is None or tpk is None
                 else (_clear_key(args.capture_tpk, "--capture-tpk"), tpk))
    return Rewrite(cards, None if tpk is None else PinPad(tpk.hex()), translate, zone)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target = parse_hostport(args.target, "--target")
    if args.speed <= 0:
        raise UserError("--speed must be above 0")
    profile, framing = settings.switch.wire()
    exchanges, cards = capture_from(args, profile, framing)
    how = _rewrite(args, cards, terminal_zone(settings.atm.time_zone))
    report = asyncio.run(replay(exchanges, target, how=how,
                                speed=None if args.as_fast_as_possible else args.speed,
                                timeout=args.timeout, framing=framing, profile=profile))
    print("\n".join(report.lines()))
    sys.stdout.flush()
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    return 0 if report.identical == len(report.outcomes) else 1
