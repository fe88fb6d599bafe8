"""``atmsim ledger``: the BPJS JHT ledger from the command line.

    atmsim ledger [serve] [--mqtt URL] [--workers N] [--db DB]    the MQTT service
    atmsim ledger seed [--participants N] [--seed S] [--as-of DATE] [--replace] [--db DB]
    atmsim ledger balance KPJ [--json] [--db DB]
    atmsim ledger statement KPJ [--json] [--db DB]

``DB`` is a SQLite file or a ``postgresql://`` URL; by default ``[ledger] db`` from the
config (``ATMSIM_LEDGER_DB``), else ``ledger/ledger.db`` in the data directory.
``balance`` and ``statement`` are the ledger staff's view by KPJ alone, so they mask the
name as every other atmsim output does and never show a NIK.

Exit status: 0 done; 1 the KPJ is not in the ledger; 2 a mistake the user can fix (one
line ``atmsim: ...`` on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from atmsim.kernel.masking import mask_name
from atmsim.shell.config import Settings
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from
from atmsim.shell.provisioning import ledger_target
from bpjs_ledger.answers import BalanceAnswer, BalanceResult
from bpjs_ledger.db import describe_target
from bpjs_ledger.identity import IdentityError, parse_kpj
from bpjs_ledger.messages import balance_reply, statement_json
from bpjs_ledger.records import JhtStatement
from bpjs_ledger.store import LedgerStore
from terminal_ui.device.formatting import format_date, format_rupiah

__all__ = ["add_parser", "run"]

_DEFAULT_PARTICIPANTS = 1000
_DEFAULT_SEED = 1


# The exit status of a query for a KPJ the ledger does not hold.
NOT_IN_LEDGER = 1


# -- parsing --------------------------------------------------------------------------


def _options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options the ``ledger`` parser and each sub-command both accept. A sub-command's
    copies default to SUPPRESS: argparse copies a sub-parser's defaults over the parent's
    values, which would forget ``atmsim ledger --db X balance K``'s ``--db``."""
    add_options(parser, *COMMON, "db", suppress=suppress,
                helps={"log_level": "DEBUG, INFO, WARNING (default INFO)"})


def _serve_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    add_options(parser, "mqtt", "mqtt_ca", "mqtt_port", "broker", "workers", "ledger_rules",
                "ledger_metrics", "otel", suppress=suppress,
                helps={"mqtt": "the MQTT broker (mqtt://[user:password@]host:port or mqtts://; "
                       "default: the embedded broker's address, 127.0.0.1:1883)",
                       "mqtt_port": "port of the broker when no --mqtt URL is given "
                       "(default 1883)",
                       "broker": argparse.SUPPRESS})  # accepted for compatibility; unused


def add_parser(subparsers: Any) -> None:
    """Add ``ledger`` and its sub-commands to the ``atmsim`` parser's sub-parsers."""
    ledger = subparsers.add_parser(
        "ledger", help="the BPJS JHT ledger: serve (default), seed, balance, statement",
        description="The BPJS JHT ledger. Without a sub-command it serves inquiries and "
        "contribution posts over MQTT, as 'atmsim ledger serve' does.",
        epilog="Exit status: 0 done, 1 KPJ not in the ledger, 2 usage or database error.")
    _options(ledger, suppress=False)
    _serve_options(ledger, suppress=False)
    sub = ledger.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND")

    serve = sub.add_parser("serve", help="answer balance, statement and contribution "
                           "requests over MQTT until Ctrl-C (the default)")
    _options(serve, suppress=True)
    _serve_options(serve, suppress=True)

    seed = sub.add_parser(
        "seed", help="fill the ledger with the demo participants and N synthetic ones",
        description="Fill an empty ledger with the demo participants of docs/demo-data.md "
        "(and their cards in the data directory) plus N reproducible synthetic "
        "participants: the same --participants, --seed and --as-of give the same ledger.")
    _options(seed, suppress=True)
    seed.add_argument("--participants", type=int, default=_DEFAULT_PARTICIPANTS,
                      help=f"synthetic participants besides the demo ones "
                      f"(default {_DEFAULT_PARTICIPANTS})")
    seed.add_argument("--seed", type=int, default=_DEFAULT_SEED,
                      help=f"random seed of the synthetic data (default {_DEFAULT_SEED})")
    seed.add_argument("--as-of", metavar="YYYY-MM-DD",
                      help="balance date of the data (default: the end of last month)")
    seed.add_argument("--replace", action="store_true",
                      help="empty a ledger that already holds participants first")
    seed.add_argument("--jobs", type=int, help="processes generating rows "
                      "(default: one less than the CPUs)")

    for name, what in (("balance", "the JHT balance of a KPJ"),
                       ("statement", "a KPJ's JHT account year by year, as JMO shows it")):
        query = sub.add_parser(name, help=what)
        _options(query, suppress=True)
        query.add_argument("kpj", metavar="KPJ", help="the participant's 11-digit KPJ")
        query.add_argument("--json", action="store_true",
                           help="print JSON (amounts in integer sen)")


# -- running --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run ``atmsim ledger ...``; the exit status. Errors a user can fix are one line on
    stderr and status 2."""
    return exit_status(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    command = getattr(args, "ledger_command", None) or "serve"
    settings = settings_from(args)
    if command == "serve":
        return _serve(settings)
    target = ledger_target(settings)
    if command == "seed":
        return _seed(args, settings, target)
    if command == "balance":
        return _balance(args, target)
    if command == "statement":
        return _statement(args, target)
    raise UserError(f"unknown ledger command {command!r}")


def _existing(target: Path | str) -> Path | str:
    # A query must not create an empty ledger where the user mistyped a path.
    if isinstance(target, Path) and not target.exists():
        raise UserError(f"no ledger at {target} (create one with 'atmsim ledger seed', "
                         "'atmsim up' or 'atmsim demo', or name it with --db)")
    return target


def _kpj(args: argparse.Namespace) -> str:
    try:
        return parse_kpj(args.kpj).value
    except IdentityError as exc:
        raise UserError(str(exc)) from None


# -- serve ----------------------------------------------------------------------------


def _serve(settings: Settings) -> int:
    from atmsim.shell.lifecycle import run_loop, serve
    from atmsim.shell.stack import Stack

    def announce(stack: Stack) -> None:
        # Only once subscribed (the stack waits for it): a request sent after this line is
        # answered.
        assert stack.ledger_target is not None and stack.ledger_endpoint is not None
        print(f"ledger {describe_target(stack.ledger_target)} answering on "
              f"{stack.ledger_endpoint.url}")
        if "ledger" in stack.metrics:
            print(f"ledger metrics on {stack.metrics['ledger'].url}")

    # On uvloop, as the switch and the HSM run (run_loop): asyncio's own loop costs the
    # ledger 10-15% more CPU per request.
    return run_loop(serve(settings, {"ledger"}, announce))


# -- seed -----------------------------------------------------------------------------


def _seed(args: argparse.Namespace, settings: Settings, target: Path | str) -> int:
    from atmsim.shell.provisioning import load_lmk, provision_switch, switch_db_path
    from bpjs_ledger.seed import seed_ledger

    as_of = None
    if args.as_of is not None:
        try:
            as_of = date.fromisoformat(args.as_of)
        except ValueError:
            raise UserError(f"--as-of {args.as_of!r}: expected a date YYYY-MM-DD") from None
    if args.participants < 0:
        raise UserError("--participants cannot be negative")
    started = time.monotonic()
    last_shown = [started]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last_shown[0] >= 5:
            last_shown[0] = now
            print(f"seeding: {done:,} / {total:,} synthetic participants "
                  f"({now - started:.0f} s)", file=sys.stderr)

    try:
        report = seed_ledger(target, participants=args.participants, seed=args.seed,
                             as_of=as_of, replace=args.replace, jobs=args.jobs,
                             progress=progress)
    except ValueError as exc:  # e.g. an --as-of before the ledger's first year
        raise UserError(str(exc)) from None
    # The demo participants come with their cards, so the demo and inquiries work at once.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    provision_switch(settings.data_dir, load_lmk(settings.hsm.lmk_file))
    print(f"seeded {report.demo + report.synthetic:,} participants ({report.demo} demo + "
          f"{report.synthetic:,} synthetic, seed {report.seed}) as of {report.as_of} into "
          f"{report.location} in {report.seconds:.1f} s")
    print(f"demo cards: {switch_db_path(settings.data_dir)}")
    return 0


# -- balance and statement ------------------------------------------------------------


def _balance(args: argparse.Namespace, target: Path | str) -> int:
    kpj = _kpj(args)
    with LedgerStore(_existing(target), seed_demo=False) as store:
        answer = store.account(kpj)
        location = store.location
    if answer.result is not BalanceResult.OK:
        raise UserError(f"KPJ {kpj} is not in the ledger at {location}", status=NOT_IN_LEDGER)
    print(json.dumps(balance_json(answer), indent=2) if args.json else balance_text(answer))
    return 0


def balance_json(answer: BalanceAnswer) -> dict[str, Any]:
    """The balance as ``--json`` prints it: the MQTT reply's keys, the name masked."""
    body = {k: v for k, v in balance_reply(None, answer).items() if k not in ("id", "result")}
    return {**body, "name": mask_name(answer.name or "")}


def balance_text(answer: BalanceAnswer) -> str:
    """The balance as a person reads it.

    >>> print(balance_text(BalanceAnswer(BalanceResult.OK, "10012345678", "Budi Santoso",
    ...       None, "PU", 12_220_953_025, date(2026, 10, 31), "2026-09")))
    KPJ 10012345678  B**i S*****o  PU  -
    Saldo JHT Rp122.209.530,25 per 31/10/2026 (last contribution 2026-09)
    """
    status = "-" if answer.status is None else answer.status.value
    last = answer.last_contribution or "none"
    as_of = "?" if answer.as_of is None else format_date(answer.as_of)
    return (f"KPJ {answer.kpj}  {mask_name(answer.name or '')}  {answer.segment}  {status}\n"
            f"Saldo JHT {format_rupiah(answer.balance_sen or 0)} per {as_of} "
            f"(last contribution {last})")


def _statement(args: argparse.Namespace, target: Path | str) -> int:
    kpj = _kpj(args)
    with LedgerStore(_existing(target), seed_demo=False) as store:
        statement = store.account_statement(kpj)
        location = store.location
    if statement is None:
        raise UserError(f"KPJ {kpj} is not in the ledger at {location}", status=NOT_IN_LEDGER)
    print(json.dumps(masked_statement_json(statement), indent=2) if args.json
          else statement_text(statement))
    return 0


def masked_statement_json(statement: JhtStatement) -> dict[str, Any]:
    """The statement as ``--json`` prints it: the MQTT reply's keys, the name masked; its
    ``years`` have opening, contributions, returns, claims and closing in integer sen."""
    return {**statement_json(statement), "name": mask_name(statement.participant.name)}


_COLUMNS = (("year", 4), ("opening", 16), ("contributions", 15), ("returns", 14),
            ("rate %", 6), ("claims", 15), ("closing", 16))


def statement_text(statement: JhtStatement) -> str:
    """The statement as a table: one line per year, amounts in rupiah."""
    p = statement.participant
    employer = f"  {p.employer.name} (NPP {p.employer.npp})" if p.employer else ""
    inactive = ""
    if p.inactive_since is not None:
        inactive = f" since {format_date(p.inactive_since)} ({p.inactive_reason or '-'})"
    lines = [
        f"KPJ {p.kpj.value}  {mask_name(p.name)}  {p.segment.value}  "
        f"{p.status.value}{inactive}",
        f"member since {p.member_since:%m-%Y}{employer}",
        f"Saldo JHT {format_rupiah(statement.balance_sen)} per {format_date(statement.as_of)}"
        f" (last contribution {statement.last_contribution or 'none'})",
        "",
        "  ".join(title.rjust(width) for title, width in _COLUMNS),
    ]
    for y in statement.years:
        rate = "-" if y.rate is None else str(y.rate.percent)
        cells = (str(y.year), _rupiah(y.opening_sen), _rupiah(y.contributions_sen),
                 _rupiah(y.returns_sen), rate, _rupiah(y.claims_sen), _rupiah(y.closing_sen))
        lines.append("  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, _COLUMNS,
                                                                             strict=True)))
    lines.append("amounts in rupiah; returns are credited on 31 December "
                 "(a year without a rate has none yet)")
    return "\n".join(lines)


def _rupiah(sen: int) -> str:
    return format_rupiah(sen).removeprefix("Rp")
