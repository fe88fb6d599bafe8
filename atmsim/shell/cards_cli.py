"""``atmsim cards``: the issuer's card file - list cards, block and unblock them, reset the demo.

* ``atmsim cards list`` - every card: masked PAN, masked holder name, status, wrong PINs;
* ``atmsim cards unblock PAN`` - status ACTIVE and the wrong-PIN counter back to 0 (the
  way out of 75 after three wrong PINs);
* ``atmsim cards block PAN`` - status BLOCKED: inquiries are declined 62;
* ``atmsim cards reset-demo`` - the demo cards as a fresh data directory has them;
* ``atmsim cards terminal ID [--mac POLICY] [--sign-on POLICY]`` - a terminal's MAC and
  sign-on policies (docs/wire.md), shown, or changed and then shown.

They work on the data directory's ``switch/cards.db`` (``--data-dir``, ``--config``),
also while the switch runs: the switch reads a card's status and a terminal's policies on
every request. The card
database's PAN keys are unwrapped with the HSM's LMK (``[hsm] lmk_file``). No full PAN
is ever printed, not even the one typed on the command line.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from atm_switch.card_store import Card, CardStatus, CardStore, MacPolicy, SignOnPolicy, Terminal
from atmsim.kernel.masking import mask_name, mask_pan
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from
from atmsim.shell.provisioning import (
    card_store_target,
    load_lmk,
    open_card_store,
    provision_switch,
    reset_demo_cards,
)

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cards`` and its actions to the ``atmsim`` sub-parsers."""
    cards = subparsers.add_parser("cards", help="the issuer's cards: list, block, unblock, "
                                  "reset the demo cards; a terminal's MAC and sign-on policy")
    actions = cards.add_subparsers(dest="cards_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        add_options(parser, *COMMON, "cards_db",
                    helps={"log_level": "DEBUG, INFO, WARNING (default WARNING)"})

    common(actions.add_parser("list", help="every card: masked PAN, holder, status, wrong PINs"))
    unblock = actions.add_parser("unblock", help="status ACTIVE, wrong-PIN counter 0")
    common(unblock)
    unblock.add_argument("pan", metavar="PAN", help="card number")
    block = actions.add_parser("block", help="status BLOCKED (inquiries are declined 62)")
    common(block)
    block.add_argument("pan", metavar="PAN", help="card number")
    common(actions.add_parser("reset-demo", help="the demo cards back to their fresh state"))
    terminal = actions.add_parser("terminal", help="a terminal's MAC and sign-on policies: "
                                  "shown, or set (docs/wire.md)")
    common(terminal)
    terminal.add_argument("terminal_id", metavar="ID", help="terminal ID (field 41)")
    terminal.add_argument("--mac", choices=MacPolicy.ALL, help="MAC policy: off (not checked), "
                          "optional (checked when sent), required (missing or wrong: 63)")
    terminal.add_argument("--sign-on", dest="sign_on", choices=SignOnPolicy.ALL,
                          help="sign-on policy: required answers an 0200 from a terminal not "
                          "signed on over its connection with 91")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run an ``atmsim cards`` action: 0, or 2 with one line on stderr for a user error."""
    return exit_status(lambda: _run(args, out or sys.stdout))


def _run(args: argparse.Namespace, out: TextIO) -> int:
    pan = getattr(args, "pan", None)
    if pan is not None and not (pan.isdigit() and 12 <= len(pan) <= 19):
        # Even a mistyped card number is shown masked: it may be a real one.
        raise UserError(f"{mask_pan(pan)!r} is not a card number (12 to 19 digits)")
    settings = settings_from(args)
    try:
        lmk = load_lmk(settings.hsm.lmk_file)
    except (OSError, ValueError) as exc:
        raise UserError(f"LMK file {settings.hsm.lmk_file}: {exc}") from None
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # a fresh directory (or database) gets its demo cards
        provision_switch(settings.data_dir, lmk, card_store_target(settings))
    except OSError as exc:
        raise UserError(f"data directory {settings.data_dir}: {exc.strerror}") from None
    store = open_card_store(settings.data_dir, lmk, card_store_target(settings))
    try:
        if args.cards_command == "list":
            _list(store, out)
        elif args.cards_command == "terminal":
            _terminal(store, args.terminal_id, args.mac, args.sign_on, out)
        elif args.cards_command == "reset-demo":
            count = reset_demo_cards(store, lmk)
            print(f"{count} demo cards reset: ACTIVE, no wrong PINs", file=out)
        else:
            assert pan is not None
            status = CardStatus.ACTIVE if args.cards_command == "unblock" else CardStatus.BLOCKED
            if not store.set_status(pan, status, reset_tries=status == CardStatus.ACTIVE):
                raise UserError(f"card {mask_pan(pan)} is not on file")
            card = store.card(pan)
            assert card is not None
            print(_line(card), file=out)
    finally:
        store.close()
    return 0


_HEADER = f"{'PAN':<19}  {'holder':<24}  {'status':<11}  wrong PINs"


def _line(card: Card) -> str:
    return (f"{card.pan_masked:<19}  {mask_name(card.holder_name):<24}  {card.status:<11}  "
            f"{card.pin_tries}")


def _list(store: CardStore, out: TextIO) -> None:
    print(_HEADER, file=out)
    for card in store.cards():
        print(_line(card), file=out)


def _terminal(store: CardStore, terminal_id: str, mac: str | None, sign_on: str | None,
              out: TextIO) -> None:
    if (mac or sign_on) and not store.set_terminal_policy(terminal_id, mac=mac, sign_on=sign_on):
        raise UserError(f"terminal {terminal_id!r} is not on file")
    terminal = store.terminal(terminal_id)
    if terminal is None:
        raise UserError(f"terminal {terminal_id!r} is not on file")
    print(_terminal_line(terminal), file=out)


def _terminal_line(terminal: Terminal) -> str:
    return (f"{terminal.terminal_id}  acquirer {terminal.acquirer_id}  "
            f"MAC {terminal.mac_policy}  sign-on {terminal.sign_on_policy}")
