"""``atmsim scenario``: scenario files. Here only ``from-capture`` (a capture turned into a
scenario, ``atmsim.shell.scenario_capture``); the runner's sub-commands join this group."""

from __future__ import annotations

import argparse
from typing import Any

from atmsim.shell.scenario_capture import add_from_capture, run_from_capture

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Add ``scenario`` and its sub-commands to the ``atmsim`` subcommands."""
    parser = subparsers.add_parser("scenario", help="scenario files: make one from a capture")
    actions = parser.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    add_from_capture(actions)


def run(args: argparse.Namespace) -> int:
    if args.scenario_command == "from-capture":
        return run_from_capture(args)
    raise AssertionError(args.scenario_command)  # argparse allows no other
