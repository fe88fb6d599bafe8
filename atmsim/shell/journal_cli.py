"""``atmsim journal``: the switch's transaction journal - inquiries, their fees, reversals.

``atmsim journal [--limit N] [--terminal ID] [--json]`` prints the latest inquiries the
switch answered and the reversals (0420/0421) it received, oldest first: time, kind,
terminal, STAN, masked PAN, response code, what happened to the inquiry fee ("charged
250000" sen, "reversed 250000" on the inquiry a reversal undid, "refunded 250000" on that
reversal) and a note. It reads the data directory's ``switch-journal.db``
(``--data-dir``), also while the switch runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from typing import TextIO

from atm_switch.journal import TransactionJournal, journal_path
from atmsim.kernel.masking import mask_pan
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``journal`` to the ``atmsim`` sub-parsers."""
    journal = subparsers.add_parser(
        "journal", help="the switch's journal: inquiries, fees charged and reversed, reversals")
    add_options(journal, *COMMON, helps={"log_level": "DEBUG, INFO, WARNING (default WARNING)"})
    journal.add_argument("--limit", type=int, default=50, help="latest entries shown (50)")
    journal.add_argument("--terminal", metavar="ID", help="only this terminal (field 41)")
    journal.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the journal: 0, or 2 with one line on stderr for a user error."""
    return exit_status(lambda: _run(args, out or sys.stdout))


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 1:
        raise UserError(f"--limit {args.limit}: at least 1")
    settings = settings_from(args)
    path = journal_path(settings.data_dir)
    if not path.exists():
        raise UserError(f"no journal in {settings.data_dir}: the switch has not run there")
    journal = TransactionJournal(path, settings.switch.journal_days)
    try:
        entries = list(journal.entries(limit=args.limit, terminal_id=args.terminal))
    finally:
        journal.close()
    if not args.json:
        print(f"{'time (UTC)':<19}  {'kind':<7}  {'terminal':<8}  {'STAN':<6}  {'PAN':<19}  "
              f"rc  {'fee (sen)':<16}  note", file=out)
    for entry in entries:
        at = datetime.fromtimestamp(entry.at, UTC)
        # The journal only ever holds masked PANs; masking again costs nothing and keeps
        # this output safe whatever a future writer stores.
        pan = mask_pan(entry.pan_masked)
        if args.json:
            row = dataclasses.asdict(entry) | {"at": at.isoformat(timespec="milliseconds"),
                                               "pan_masked": pan}
            print(json.dumps(row), file=out)
        else:
            print(f"{at:%Y-%m-%d %H:%M:%S}  {entry.kind:<7}  {entry.terminal_id:<8}  "
                  f"{entry.stan:<6}  {pan:<19}  {entry.response_code:<2}  {entry.fee:<16}  "
                  f"{entry.note}".rstrip(), file=out)
    return 0
