"""``atmsim scenario run FILE|DIR``, ``atmsim scenario from-capture FILE`` (docs/replay.md)
and ``atmsim certify --role ROLE H:P`` (docs/scenarios.md).

``scenario run`` runs scenario files against the addresses given: ``--target`` (the switch,
ISO 8583), ``--hsm`` (Thales host commands), ``--broker`` (the ledger's MQTT contract).
``certify`` runs the shipped certification pack of a role (``atmsim/scenarios/certify/``)
against one address. Both print the report, write ``--junit FILE`` and ``--json FILE``
when asked, and exit 0 when every scenario that ran passed, 1 when one failed, 2 for a
usage error (a bad file: one line naming file:line and step).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, TextIO

from atmsim.kernel.wire import WireProfile
from atmsim.shell.config import parse_hostport
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from

__all__ = ["PACK_ROOT", "ROLES", "add_parser", "run", "run_certify"]

PACK_ROOT = Path(__file__).resolve().parent.parent / "scenarios"
ROLES = ("switch", "hsm", "issuer")


def _common(parser: argparse.ArgumentParser) -> None:
    add_options(parser, *COMMON, "profile",
                helps={"log_level": "DEBUG, INFO, WARNING (default WARNING)"})
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="set a variable (repeatable; overrides the files' vars)")
    parser.add_argument("--vars", action="append", default=[], metavar="FILE", type=Path,
                        help="a YAML file of variables (repeatable)")
    parser.add_argument("--include", action="append", default=[], metavar="TAG",
                        help="also run pending scenarios with this tag ('all': every one)")
    parser.add_argument("--exclude", action="append", default=[], metavar="TAG",
                        help="skip scenarios with this tag (repeatable)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the results as JSON here ('-': standard output)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="list passing steps too")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``scenario`` (with ``run``) and ``certify`` to the ``atmsim`` sub-parsers."""
    scenario = subparsers.add_parser("scenario", help="run scenario files (YAML) against a "
                                     "switch, an HSM or the ledger bus")
    actions = scenario.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    run_p = actions.add_parser("run", help="run a scenario file or every one in a directory")
    run_p.add_argument("paths", type=Path, nargs="+", metavar="FILE|DIR",
                       help="scenario files or directories")
    run_p.add_argument("--target", metavar="HOST:PORT", help="the switch (ISO 8583) under test")
    run_p.add_argument("--hsm", metavar="HOST:PORT", help="the HSM (Thales host commands)")
    run_p.add_argument("--broker", metavar="URL",
                       help="MQTT broker of the ledger bus (mqtt://user:password@host:port; "
                       "without an account: the data directory's switch account)")
    _common(run_p)
    from atmsim.shell.scenario_capture import add_from_capture

    add_from_capture(actions)

    certify = subparsers.add_parser("certify", help="run the shipped certification pack of "
                                    "a role against an address")
    certify.add_argument("--role", required=True, choices=ROLES,
                         help="switch: ISO 8583 at HOST:PORT; hsm: Thales host commands; "
                         "issuer: the ledger's MQTT contract on the broker at HOST:PORT")
    certify.add_argument("address", metavar="HOST:PORT|URL", help="what to certify")
    _common(certify)


def _variables(args: argparse.Namespace) -> dict[str, Any]:
    from atmsim.shell.scenario.model import ScenarioError, load_vars

    found: dict[str, Any] = {}
    for path in args.vars:
        try:
            found.update(load_vars(path))
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UserError(f"--var {item!r}: give NAME=VALUE")
        found[name] = value
    return found


def _endpoint(args: argparse.Namespace, url: str) -> Any:
    from atmsim.shell.stack import mqtt_endpoint

    settings = settings_from(args)
    settings.mqtt.url = url
    return mqtt_endpoint(settings, None, "switch")  # the account that may ask the ledger


def _hostport(flag: str, text: str | None) -> tuple[str, int] | None:
    return None if text is None else parse_hostport(text, flag)  # ConfigError: one line


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``atmsim scenario run|from-capture`` or ``atmsim certify``; the exit status."""
    if args.command == "scenario" and args.scenario_command == "from-capture":
        from atmsim.shell.scenario_capture import run_from_capture

        return run_from_capture(args)
    return exit_status(lambda: _run(args, out or sys.stdout))


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from atmsim.shell.scenario.runner import Targets

    if args.command == "certify":
        paths = [PACK_ROOT / "certify" / args.role]
        if args.role == "switch":
            targets = Targets(atm=_hostport("address", args.address))
        elif args.role == "hsm":
            targets = Targets(hsm=_hostport("address", args.address))
        else:
            url = args.address if "://" in args.address else f"mqtt://{args.address}"
            targets = Targets(broker=_endpoint(args, url))
        suite = f"atmsim certify --role {args.role}"
    else:
        paths = args.paths
        targets = Targets(atm=_hostport("--target", args.target),
                          hsm=_hostport("--hsm", args.hsm),
                          broker=_endpoint(args, args.broker) if args.broker else None)
        suite = "atmsim scenario run " + " ".join(map(str, paths))
    return run_paths(paths, targets, _variables(args), include=set(args.include),
                    exclude=set(args.exclude), junit=args.junit, json_out=args.json,
                    suite=suite, verbose=args.verbose, out=out,
                    profile=settings_from(args).switch.wire()[0])


def run_paths(paths: list[Path], targets: Any, variables: dict[str, Any], *, include: set[str],
             exclude: set[str], junit: Path | None, json_out: Path | None, suite: str,
             verbose: bool, out: TextIO, profile: WireProfile | None = None) -> int:
    from atmsim.shell.scenario.model import ScenarioError
    from atmsim.shell.scenario.report import json_report, junit_xml, text_report
    from atmsim.shell.scenario.runner import load_pack, run_scenarios

    try:
        scenarios = load_pack(*paths)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    result = asyncio.run(run_scenarios(scenarios, variables, targets,
                                       include=include, exclude=exclude, profile=profile))
    # With --json - the JSON alone goes to standard output, for a pipe; the report to stderr.
    print(text_report(result, verbose=verbose),
          file=sys.stderr if str(json_out) == "-" else out)
    try:
        if junit is not None:
            junit.write_bytes(junit_xml(result, suite))
        if json_out is not None:
            if str(json_out) == "-":
                print(json_report(result), file=out)
            else:
                json_out.write_text(json_report(result) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror}: {exc.filename}") from None
    return 0 if result.ok else 1


def run_certify(role: str, address: str, **kwargs: Any) -> int:
    """``atmsim certify`` from Python (the tests and the pytest plugin)."""
    argv = ["certify", "--role", role, address]
    for name, values in kwargs.items():
        for value in values if isinstance(values, list) else [values]:
            argv += [f"--{name}", str(value)]
    from atmsim.shell.cli import main

    return main(argv)
