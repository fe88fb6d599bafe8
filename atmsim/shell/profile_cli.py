"""``atmsim profile``: the ISO 8583 wire profiles - list the shipped ones, show one as a
whole profile file, check a file before pointing a switch or an ATM at it.

* ``atmsim profile list`` - the shipped profiles, one a line, with what each is;
* ``atmsim profile show NAME|FILE`` - the profile as a file with its whole field table
  written out (``base = "none"``): ``atmsim profile show default > mine.toml`` is the
  start of a profile of one's own;
* ``atmsim profile check FILE`` - reads the file as every command would and says what
  it describes; a bad one is the same one line (file, line, field) and exit status 2.

The file format is in docs/profiles.md.
"""

from __future__ import annotations

import argparse
import sys

from atmsim.kernel.wire import WireProfile
from atmsim.kernel.wire.encoding import ENCODING_CHOICES
from atmsim.kernel.wire.profile_file import (
    ProfileError,
    load_profile,
    profile_toml,
    shipped_profiles,
)
from atmsim.shell.errors import UserError, exit_status

__all__ = ["add_parser", "run", "summary"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``profile`` and its sub-commands to the ``atmsim`` sub-parsers."""
    profile = subparsers.add_parser(
        "profile", help="ISO 8583 wire profiles: list, show as a file, check a file")
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="the shipped profiles")
    show = actions.add_parser("show", help="a profile as a file, its whole field table "
                                           "written out")
    show.add_argument("profile_name", metavar="NAME|FILE", help="a shipped profile or a file")
    check = actions.add_parser("check", help="read a profile file and say what it describes")
    check.add_argument("profile_name", metavar="NAME|FILE",
                       help="a shipped profile or a file")


def run(args: argparse.Namespace) -> int:
    """Run an ``atmsim profile`` action; 0, or 2 with one stderr line for a bad profile."""
    return exit_status(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.profile_command == "list":
        for name in shipped_profiles():
            print(f"{name:12} {load_profile(name).description}")
        return 0
    try:
        profile = load_profile(args.profile_name)
    except ProfileError as exc:
        raise UserError(str(exc)) from None
    if args.profile_command == "show":
        sys.stdout.write(profile_toml(profile))
    else:
        print(summary(profile))
    return 0


def summary(profile: WireProfile) -> str:
    """What a profile describes, in a few lines."""
    header = ("no header" if profile.header.kind == "none" else
              f"{profile.header.kind} header {profile.header.value.hex().upper()} "
              f"({profile.header.length} bytes)")
    encodings = ", ".join(f"{part} {getattr(profile.encoding, part)}"
                          for part in ENCODING_CHOICES)
    own = [f"{f.number} {f.encoding}" for f in profile.fields.values() if f.encoding]
    lines = [f"profile {profile.name}: {len(profile.fields)} fields, framing "
             f"{profile.framing}, {header}",
             f"  {encodings}",
             f"  codec: {'direct path' if profile.direct is not None else 'pyiso8583'}"]
    if own:
        lines.append(f"  fields with their own encoding: {', '.join(own)}")
    return "\n".join(lines)
