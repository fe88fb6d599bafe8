"""``atmsim load``: the load generator's command line.

``add_parser`` adds the ``load`` subcommand to the ``atmsim`` parser and ``run`` carries
it out; ``main`` runs it alone (``python -m atmsim.shell.load``). ``atmsim load merge
FILES...`` turns the histogram files of several runs (``--hdr-out``, one per segment of a
run split with ``--segment``) into one report. Mistakes a user can fix are
one line ``atmsim: ...`` on stderr and exit status 2. The exit status is 0 when every
inquiry was answered (whatever its response code) and 1 when some timed out or failed
(a lost connection, or a protocol error such as an approval without a valid field 54).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.kernel.tls import TlsError
from atmsim.shell.config import parse_hostport
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.load.cards import CardFileError, LoadCard, demo_cards, distinct, read_card_file
from atmsim.shell.load.merge import histogram_document, merge_files, write_histogram_file
from atmsim.shell.load.mix import MixSettings
from atmsim.shell.load.runner import LoadSettings, run_load, terminal_id
from atmsim.shell.load.segment import WHOLE, Segment, parse_segment
from atmsim.shell.load.stats import LoadReport, format_report, report_json
from atmsim.shell.logs import setup_logging
from atmsim.shell.options import add_options, settings_from
from terminal_ui.device.store_and_forward import saf_path

__all__ = ["add_parser", "run", "main", "parse_share", "load_settings_from"]

_T = TypeVar("_T")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--switch", metavar="HOST:PORT",
                        help="the switch to load (default: the configured switch, "
                             "127.0.0.1:8583); nothing else is contacted")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--rate", type=float, metavar="N",
                       help="open loop: N inquiries per second, whatever the latency")
    shape.add_argument("--concurrency", type=int, metavar="N",
                       help="closed loop: N inquiries in flight (default: one per ATM)")
    parser.add_argument("--atms", type=int, metavar="N",
                        help="virtual ATMs, each with its own connection, terminal ID and "
                             "STAN sequence (default: the concurrency, or 50 with --rate)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default 10 unless --count is given)")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N inquiries")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds an ATM waits for an answer before counting a timeout (5)")
    parser.add_argument("--wrong-pin", default="0.02", metavar="SHARE",
                        help="share of inquiries with a wrong PIN, e.g. 0.02 or 2%% (2%%); "
                             "never enough to block a card")
    parser.add_argument("--unknown-kpj", default="0.01", metavar="SHARE",
                        help="share of inquiries typing a KPJ no participant has (1%%)")
    parser.add_argument("--cards", type=Path, metavar="FILE",
                        help="more cards, CSV with a header pan,pin[,expiry][,kpj] "
                             "(e.g. seeded participants' cards)")
    parser.add_argument("--no-demo-cards", action="store_true",
                        help="use only the cards of --cards, not the six demo cards")
    parser.add_argument("--first-terminal", default="BNI00002", metavar="ID",
                        help="terminal ID of the first virtual ATM (BNI00002)")
    parser.add_argument("--pin-tries", type=int, metavar="N",
                        help="wrong PINs in a row the switch blocks a card at "
                             "(default: switch.pin_tries, 3)")
    parser.add_argument("--seed", type=int, help="random seed, for a reproducible card mix")
    parser.add_argument("--segment", metavar="I/N",
                        help="run segment I of N of this run (same flags on N hosts): its "
                             "own block of the --atms terminal IDs and STAN range, 1/N of "
                             "the rate, concurrency and count (docs/scaling.md)")
    parser.add_argument("--hdr-out", type=Path, metavar="FILE",
                        help="write the run's latency histogram and counts, for "
                             "atmsim load merge")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="write a picture (.png or .svg): latency over time and histogram")
    parser.add_argument("--no-progress", action="store_true",
                        help="no live progress on the terminal")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto",
                        help="event loop (auto: uvloop when installed)")
    add_options(parser, "profile", "data_dir", "config", "log_level",
                helps={"log_level": "DEBUG, INFO, WARNING (default WARNING)",
                       "data_dir": "where the reversals owed after timeouts are kept "
                                   "(saf/; default: $ATMSIM_DATA_DIR or the "
                                   "per-user data directory)"})


_DESCRIPTION = ("Virtual ATMs sign on to one switch and send real 0200 balance inquiries "
                "with real PIN blocks, at a rate (open loop) or a concurrency (closed loop), "
                "until the duration or count; then print throughput, latency percentiles, "
                "response codes and timeouts.")


def add_parser(subparsers: Any) -> None:
    """Add ``load`` to the ``atmsim`` subcommands."""
    parser = subparsers.add_parser(
        "load", help="load generator: virtual ATMs sending balance inquiries",
        description=_DESCRIPTION)
    _arguments(parser)
    _merge_parser(parser)


def _merge_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="load_command", metavar="merge", required=False)
    merge = sub.add_parser(
        "merge", help="one report of several runs' histogram files (--hdr-out)",
        description="Add up the histogram files of the segments of a run (atmsim load "
                    "--segment I/N --hdr-out FILE on each host) into one report: counts "
                    "and response codes summed, latency percentiles from the merged "
                    "histograms.")
    merge.add_argument("files", nargs="+", type=Path, metavar="FILE",
                       help="histogram files written by atmsim load --hdr-out")
    merge.add_argument("--json", type=Path, metavar="FILE",
                       help="write the merged report as JSON")
    merge.add_argument("--hdr-out", type=Path, metavar="FILE",
                       help="write the merged histogram file (to merge again)")


def parse_share(text: str, option: str = "share") -> float:
    """A share as a fraction or a percentage.

    >>> parse_share("0.05"), parse_share("5%")
    (0.05, 0.05)
    """
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UserError(f"{option} {text!r}: not a share (e.g. 0.02 or 2%)") from None
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{option} {text!r}: not between 0 and 1 (0% and 100%)")
    return value


def _terminal_number(text: str) -> int:
    if not (len(text) == 8 and text.startswith("BNI") and text[3:].isdigit()):
        raise UserError(f"--first-terminal {text!r}: expected a terminal ID like BNI00002")
    return int(text[3:])


def _cards(args: argparse.Namespace) -> list[LoadCard]:
    cards: list[LoadCard] = [] if args.no_demo_cards else demo_cards()
    if args.cards is not None:
        try:
            cards += read_card_file(args.cards)
        except CardFileError as exc:
            raise UserError(str(exc)) from None
    if not cards:
        raise UserError("--no-demo-cards needs --cards FILE: there are no cards to use")
    return distinct(cards)


def load_settings_from(args: argparse.Namespace) -> LoadSettings:
    """The run's settings from the parsed arguments; ``UserError`` for a bad one."""
    config = settings_from(args)
    host, port = parse_hostport(args.switch or f"{config.switch.host}:{config.switch.port}")
    profile, framing = config.switch.wire()
    _check_counts(args)
    segment = parse_segment(args.segment) if args.segment is not None else WHOLE
    concurrency = args.concurrency
    if args.rate is None and concurrency is None:
        concurrency = args.atms or 10
    atms = args.atms or (concurrency if concurrency is not None else 50)
    first = _terminal_number(args.first_terminal)
    rate, count = args.rate, args.count
    if not segment.whole:
        first += segment.offset(atms)
        atms = _segment_share(segment, atms, "--atms")
        rate = rate / segment.count if rate is not None else None
        concurrency = (_segment_share(segment, concurrency, "--concurrency")
                       if concurrency is not None else None)
        count = _segment_share(segment, count, "--count") if count is not None else None
    duration = args.duration if args.duration is not None else (
        None if args.count is not None else 10.0)
    try:
        mix = MixSettings(parse_share(args.wrong_pin, "--wrong-pin"),
                          parse_share(args.unknown_kpj, "--unknown-kpj"),
                          args.pin_tries if args.pin_tries is not None
                          else config.switch.pin_tries)
        try:
            atm = config.atm.device_config(host, port, config.data_dir / "receipts")
            tls = atm.tls_context()
        except TlsError as exc:
            raise UserError(f"atm.tls_*: {exc}") from None
        return LoadSettings(
            tls=tls, tls_server_name=atm.tls_server_name or None,
            host=host, port=port, cards=_cards(args), tpk_hex=DEMO_KEYS["TPK"].clear_hex,
            atms=atms, rate=rate, concurrency=concurrency, duration=duration,
            count=count, timeout=args.timeout, first_terminal=first, mix=mix, seed=args.seed,
            saf_file=saf_path(config.data_dir, host, port), profile=profile, framing=framing,
            segment=segment)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _segment_share(segment: Segment, total: int, option: str) -> int:
    share = segment.share(total)
    if share < 1:
        raise UserError(f"{option} {total}: too few to split into {segment.count} segments "
                        f"(segment {segment} would get none)")
    return share


def _check_counts(args: argparse.Namespace) -> None:
    # Checked here, by flag: "--atms 0" must not read as "--atms not given".
    for option, value in (("--atms", args.atms), ("--concurrency", args.concurrency),
                          ("--count", args.count), ("--pin-tries", args.pin_tries)):
        if value is not None and value < 1:
            raise UserError(f"{option} {value}: must be at least 1")
    for option, number in (("--duration", args.duration), ("--timeout", args.timeout)):
        if number is not None and not number > 0:  # also NaN
            raise UserError(f"{option} {number}: must be above 0 seconds")


def _check_outputs(args: argparse.Namespace) -> None:
    for option, path in (("--json", args.json), ("--plot", getattr(args, "plot", None)),
                         ("--hdr-out", args.hdr_out)):
        if path is None:
            continue
        # Before the run, not after a minute of load: the report must be writable.
        if not path.parent.is_dir():
            raise UserError(f"{option} {path}: directory {path.parent} does not exist")
        if path.is_dir():
            raise UserError(f"{option} {path}: is a directory")
        if not os.access(path.parent, os.W_OK) or (path.exists()
                                                   and not os.access(path, os.W_OK)):
            raise UserError(f"{option} {path}: not writable")
    if getattr(args, "plot", None) is None:
        return
    if args.plot.suffix.lower() not in (".png", ".svg"):
        raise UserError(f"--plot {args.plot}: the picture is written as .png or .svg")
    if importlib.util.find_spec("matplotlib") is None:
        # Checked before the run, not after a minute of load.
        raise UserError("--plot needs matplotlib: pip install 'atmsim[plot]'")


def _run_async(coroutine: Coroutine[Any, Any, _T], loop_choice: str) -> _T:
    if loop_choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop_choice == "uvloop":
                coroutine.close()
                raise UserError("--loop uvloop: uvloop is not installed") from None
        else:
            return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def _write_outputs(report: LoadReport, args: argparse.Namespace,
                   settings: LoadSettings | None = None) -> None:
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report_json(report), indent=2) + "\n",
                                 encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--json {args.json}: {exc.strerror}") from None
    if args.hdr_out is not None:
        if settings is None:  # a merged report
            document = histogram_document(report, segment=WHOLE, rate=None,
                                          concurrency=None, terminals=("", ""), stans=(0, 0))
        else:
            last = settings.first_terminal + settings.atms - 1
            document = histogram_document(
                report, segment=settings.segment, rate=settings.rate,
                concurrency=settings.concurrency,
                terminals=(terminal_id(settings.first_terminal), terminal_id(last)),
                stans=settings.segment.stan_range())
        write_histogram_file(args.hdr_out, document)
    if getattr(args, "plot", None) is not None:
        from atmsim.shell.load.plot import write_plot

        try:
            write_plot(report, args.plot)
        except OSError as exc:
            raise UserError(f"--plot {args.plot}: {exc.strerror}") from None


async def _load(settings: LoadSettings, show_progress: bool) -> LoadReport:
    if not show_progress:
        return await run_load(settings)
    from atmsim.shell.load.progress import LiveProgress

    with LiveProgress(sys.stderr, settings.duration) as live:
        return await run_load(settings, live.update)


def run(args: argparse.Namespace) -> int:
    """Carry out ``atmsim load``; returns the exit status."""
    return exit_status(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    try:
        setup_logging(args.log_level or "WARNING")
    except ValueError:
        raise UserError(f"--log-level {args.log_level!r}: use DEBUG, INFO, WARNING or ERROR"
                        ) from None
    if getattr(args, "load_command", None) == "merge":
        return _merge(args)
    settings = load_settings_from(args)
    _check_outputs(args)
    report = _run_async(_load(settings, not args.no_progress), args.loop)
    print(format_report(report))
    sys.stdout.flush()
    _write_outputs(report, args, settings)
    clean = report.timeouts == 0 and report.errors == 0 and report.protocol_errors == 0
    return 0 if clean else 1


def _merge(args: argparse.Namespace) -> int:
    _check_outputs(args)
    report = merge_files(args.files)
    print(format_report(report))
    sys.stdout.flush()
    _write_outputs(report, args)
    clean = report.timeouts == 0 and report.errors == 0 and report.protocol_errors == 0
    return 0 if clean else 1


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"atmsim: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m atmsim.shell.load ...``: the same command without the ``atmsim`` front."""
    parser = _OneLineParser(prog="atmsim load", description=_DESCRIPTION)
    _arguments(parser)
    _merge_parser(parser)
    return run(parser.parse_args(argv))
