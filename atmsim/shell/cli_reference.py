"""The command reference of docs/cli.md, rendered from the ``atmsim`` parser itself: every
command and sub-command with its arguments, flags, defaults and help, so that the
document cannot say what the parser does not do (tests/cli/test_cli_reference.py).

``python -m atmsim.shell.cli_reference docs/cli.md`` rewrites the part of the document
between its two ``GENERATED`` markers; the prose around them is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["BEGIN", "END", "render", "updated"]

BEGIN = "<!-- GENERATED from the parser: python -m atmsim.shell.cli_reference docs/cli.md -->"
END = "<!-- END GENERATED -->"


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(parser: argparse.ArgumentParser, action: argparse.Action) -> str | None:
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
        return None
    formatter = parser._get_formatter()
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            name += " " + formatter._format_args(action, action.dest.upper())
    else:
        name = formatter._format_args(action, action.dest.upper())
    help_text = formatter._expand_help(action) if action.help else ""
    if action.required and action.option_strings:
        help_text += " (required)"
    return f"| `{_cell(name)}` | {_cell(help_text.strip())} |"


def _command(lines: list[str], path: str, parser: argparse.ArgumentParser,
             summary: str) -> None:
    lines += ["", f"### `{path}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    if parser.description and parser.description != summary:
        lines += [parser.description, ""]
    rows = [row for action in parser._actions
            if not isinstance(action, argparse._SubParsersAction)
            and (row := _row(parser, action)) is not None]
    if rows:
        lines += ["| argument | what it is |", "|---|---|", *rows]
    if parser.epilog:
        lines += ["", parser.epilog]
    _children(lines, path, parser)


def _children(lines: list[str], path: str, parser: argparse.ArgumentParser) -> None:
    sub = _subcommands(parser)
    if sub is None:
        return
    helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    for name, child in sub.choices.items():
        _command(lines, f"{path} {name}", child, helps.get(name, ""))


def render(parser: argparse.ArgumentParser) -> str:
    """The reference of every command ``parser`` (the ``atmsim`` parser) knows."""
    lines: list[str] = []
    _children(lines, parser.prog, parser)
    return "\n".join(lines).strip() + "\n"


def updated(document: str, parser: argparse.ArgumentParser) -> str:
    """``document`` with the part between its markers replaced by ``render(parser)``."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document has no {BEGIN!r} ... {END!r} section")
    return f"{head}{BEGIN}\n\n{render(parser)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    from atmsim.shell.cli import build_parser

    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m atmsim.shell.cli_reference docs/cli.md", file=sys.stderr)
        return 2
    path = Path(args[0])
    path.write_text(updated(path.read_text(encoding="utf-8"), build_parser()),
                    encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
