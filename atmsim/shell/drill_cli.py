"""``atmsim drill --faults FILE --seed N``: a fault schedule under ``atmsim load``.

Starts a stack of its own (in a fresh temporary data directory unless ``--data-dir`` is
given) wired through fault proxies (``atmsim.shell.drill.topology``), runs virtual ATMs
against it for the schedule's duration while the faults come and go, and reports per
fault the first 91, the recovery time and the answers lost or duplicated
(``atmsim.shell.drill.report``). ``--events FILE`` writes the event log (JSON lines, the
same for the same file and seed); ``--dry-run`` prints it without running anything.
Mistakes a user can fix are one line and exit status 2; a drill that ran exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS
from atmsim.kernel.faults import FaultError, load_schedule
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.load.cards import demo_cards
from atmsim.shell.load.mix import MixSettings
from atmsim.shell.load.runner import LoadSettings
from atmsim.shell.options import add_options, settings_from

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Add ``drill`` to the ``atmsim`` subcommands."""
    parser = subparsers.add_parser(
        "drill", help="fault drill: a seeded fault schedule on every hop under load",
        description="Run a fault schedule (docs/faults.md) on a stack of its own under "
        "virtual ATMs and report, per fault, the first 91, the recovery time and the "
        "answers lost or duplicated.")
    parser.add_argument("--faults", type=Path, required=True, metavar="FILE",
                        help="the faults file (YAML, docs/faults.md)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every draw in the schedule (default 0)")
    parser.add_argument("--rate", type=float, default=20.0, metavar="N",
                        help="inquiries per second, open loop (default 20)")
    parser.add_argument("--atms", type=int, default=4, metavar="N",
                        help="virtual ATMs (default 4)")
    # Above the switch's own deadlines (HSM 2 s, ledger 5 s): a part that is gone then
    # shows as the 91 the switch answers, not as an ATM timing out first.
    parser.add_argument("--timeout", type=float, default=6.0, metavar="S",
                        help="seconds an ATM waits for an answer (default 6)")
    parser.add_argument("--events", type=Path, metavar="FILE",
                        help="write the event log here (JSON lines)")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="the report as JSON, on stdout or into FILE")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the event log of the schedule and stop")
    add_options(parser, "data_dir", "config", "log_level",
                helps={"data_dir": "data directory of the drill's stack (default: a fresh "
                       "temporary one, removed afterwards)",
                       "log_level": "DEBUG, INFO, WARNING (default WARNING)"})


def run(args: argparse.Namespace) -> int:
    """Carry out ``atmsim drill``; returns the exit status."""
    return exit_status(lambda: _run(args))


def _load_settings(args: argparse.Namespace) -> LoadSettings:
    if args.atms < 1:
        raise UserError(f"--atms {args.atms}: must be at least 1")
    for option, number in (("--rate", args.rate), ("--timeout", args.timeout)):
        if not number > 0:
            raise UserError(f"{option} {number}: must be above 0")
    # Cards a healthy stack approves: then every answer that is not 00 is the faults'.
    approved = {c.pan for c in DEMO_CARDS if c.kpj is not None}
    cards = [c for c in demo_cards() if c.pan in approved and c.typed_kpj is None]
    return LoadSettings(host="127.0.0.1", port=1, cards=cards,
                        tpk_hex=DEMO_KEYS["TPK"].clear_hex, atms=args.atms, rate=args.rate,
                        duration=1.0, timeout=args.timeout, mix=MixSettings(0.0, 0.0),
                        seed=args.seed)


def _run(args: argparse.Namespace) -> int:
    try:
        schedule = load_schedule(args.faults, args.seed)
    except FaultError as exc:
        raise UserError(str(exc)) from None
    if args.dry_run:
        sys.stdout.write(schedule.event_log())
        return 0
    load = _load_settings(args)
    for option, path in (("--events", args.events),
                         ("--json", None if args.json in (None, "-") else Path(args.json))):
        # Checked before the drill, not after it: its findings must have somewhere to go.
        if path is not None and not path.parent.is_dir():
            raise UserError(f"{option} {path}: directory {path.parent} does not exist")
    settings = settings_from(args)
    from atmsim.shell.drill.report import drill_json, format_drill
    from atmsim.shell.drill.topology import run_drill

    with tempfile.TemporaryDirectory(prefix="atmsim-drill-") as scratch:
        if args.data_dir is None:
            settings.data_dir = Path(scratch)
        report = asyncio.run(run_drill(schedule, settings, load, args.events))
    if args.json is None:
        print(format_drill(report))
    else:
        text = json.dumps(drill_json(report), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            try:
                Path(args.json).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UserError(f"--json {args.json}: {exc.strerror}") from None
            print(format_drill(report))
    return 0
