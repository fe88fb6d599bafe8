"""``atmsim keys``: key ceremony helpers - generate keys, import components, check values.

Keys leave this command only encrypted under the LMK, with their check value:

* ``atmsim keys generate --type TPK`` - a random key under the LMK;
* ``atmsim keys generate --type ZMK --components 3`` - a random key *and* the clear
  components whose XOR it is, for a key ceremony: each component is printed with
  its check value for one custodian. This is the only case in which anything clear
  is printed, and only because the user asked for components;
* ``atmsim keys import --type ZMK --component HEX --component HEX`` (or the
  components typed, unechoed, one per line) - form a key from 2 or 3 clear
  components, print it under the LMK;
* ``atmsim keys check --type TPK KEY`` - the check value of a key under the LMK.

The LMK is the one the HSM uses: ``--lmk-file``, else ``[hsm] lmk_file`` from the
configuration, else the published Thales test LMK (said so on the output). The lead
wires :func:`add_parser` and :func:`run` into ``atmsim.shell.cli``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import add_options, settings_from
from hsm_mock import HsmError, VariantLmk
from hsm_mock.keys import combine_components as xor_components
from hsm_mock.keys import has_odd_parity, is_hex, kcv, random_key
from hsm_mock.lmk import pair_for_key_type

__all__ = ["KEY_TYPES", "add_parser", "combine_components", "run"]

# Names a key custodian uses -> payShield key type code (variant LMK).
KEY_TYPES: dict[str, str] = {
    "ZMK": "000",
    "ZPK": "001",
    "TPK": "002",
    "TMK": "002",
    "PVK": "002",
    "TAK": "003",
    "ZAK": "008",
    "BDK": "009",
    "ZEK": "00A",
    "DEK": "00B",
    "CVK": "402",
}
_SCHEME_LENGTH = {"Z": 8, "U": 16, "T": 24}
_SCHEME_BY_LENGTH = {length: scheme for scheme, length in _SCHEME_LENGTH.items()}


@dataclass(frozen=True)
class _Output:
    out: TextIO
    err: TextIO


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its sub-commands to the ``atmsim`` sub-parsers."""
    keys = subparsers.add_parser(
        "keys", help="key ceremony helpers: generate, import components, check values"
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--type", required=True, metavar="TYPE",
            help=f"{', '.join(sorted(KEY_TYPES))} or a 3-hex key type code",
        )
        add_options(parser, "lmk_file", "config")

    generate = actions.add_parser("generate", help="a random key under the LMK, with its KCV")
    common(generate)
    generate.add_argument("--scheme", choices=sorted(_SCHEME_LENGTH), default="U",
                          help="Z single, U double (default), T triple length")
    generate.add_argument("--components", type=int, choices=(2, 3),
                          help="also print the key as 2 or 3 CLEAR components (key ceremony)")

    imported = actions.add_parser("import", help="form a key from 2 or 3 clear components")
    common(imported)
    imported.add_argument("--component", action="append", metavar="HEX",
                          help="a clear component (repeat); without it, read them from stdin")

    check = actions.add_parser("check", help="the check value of a key under the LMK")
    common(check)
    check.add_argument("key", help="the key under the LMK (16H, U+32H or T+48H)")

    rotate = actions.add_parser(
        "rotate", help="new TPK and TAK for a connected ATM, pushed by the running switch")
    rotate.add_argument("--terminal", required=True, metavar="ID",
                        help="terminal ID, e.g. BNI00001")
    rotate.add_argument("--wait", type=float, default=15.0, metavar="SECONDS",
                        help="how long to wait for the switch to report (default 15)")
    add_options(rotate, "data_dir", "lmk_file", "config", "cards_db")


def run(args: argparse.Namespace) -> int:
    """Run an ``atmsim keys`` action; 0 on success, 2 (with one stderr line) on a user error."""
    return exit_status(lambda: _run(args, _Output(sys.stdout, sys.stderr)))


def _run(args: argparse.Namespace, io: _Output) -> int:
    if args.keys_command == "rotate":
        return _rotate(args, io)
    key_type, label = _key_type(args.type)
    lmk, lmk_note = _load_lmk(args)
    action: Callable[[argparse.Namespace, VariantLmk, str, str, _Output], None] = {
        "generate": _generate,
        "import": _import,
        "check": _check,
    }[args.keys_command]
    try:
        action(args, lmk, key_type, label, io)
    except HsmError as exc:
        raise UserError(_hsm_message(exc)) from None
    print(lmk_note, file=io.out)
    return 0


def _rotate(args: argparse.Namespace, io: _Output) -> int:
    """Leave a key change request in the card database, where the running switch takes it
    within a second and pushes an 0800/161 to the ATM; report what it says."""
    from atmsim.shell.provisioning import card_store_target, open_card_store

    settings = settings_from(args)
    lmk, _ = _load_lmk(args)
    target = card_store_target(settings)  # the switch's database
    if isinstance(target, Path) and not target.exists():
        raise UserError(f"no switch data in {settings.data_dir}: start the switch first")
    store = open_card_store(settings.data_dir, lmk, target)
    try:
        if store.terminal(args.terminal) is None:
            raise UserError(f"terminal {args.terminal!r} is not known")
        request_id = store.request_key_change(args.terminal)
        deadline = time.monotonic() + args.wait
        while (result := store.key_change_result(request_id)) is None:
            if time.monotonic() >= deadline:
                raise UserError(f"no switch took the key change within {args.wait:g} s "
                                "(is it running on this data directory?); it stays queued")
            time.sleep(0.2)
    finally:
        store.close()
    if result.startswith("failed"):
        raise UserError(f"key change for {args.terminal} {result}")
    print(f"{args.terminal}: new TPK and TAK installed, key {result}", file=io.out)
    return 0


def combine_components(components: Sequence[bytes]) -> bytes:
    """The key formed from 2 or 3 equal-length components (XOR, odd parity forced).

    >>> combine_components([bytes.fromhex("0101"), bytes.fromhex("0201")]).hex()
    '0201'
    """
    if len(components) not in (2, 3) or len({len(c) for c in components}) != 1:
        raise UserError("a key is formed from 2 or 3 components of the same length")
    return xor_components(components)


def _generate(
    args: argparse.Namespace, lmk: VariantLmk, key_type: str, label: str, io: _Output
) -> None:
    length = _SCHEME_LENGTH[args.scheme]
    if args.components:
        components = [random_key(length) for _ in range(args.components)]
        clear = combine_components(components)
        print("CLEAR KEY COMPONENTS - printed because --components was asked for a key "
              "ceremony.", file=io.out)
        print("Give each to a different custodian; do not store or send them.", file=io.out)
        for n, component in enumerate(components, 1):
            print(f"component {n}: {_grouped(component)}  KCV {kcv(component)}", file=io.out)
    else:
        clear = random_key(length)
    _print_key(lmk, clear, key_type, label, args.scheme, io)


def _import(
    args: argparse.Namespace, lmk: VariantLmk, key_type: str, label: str, io: _Output
) -> None:
    texts = args.component if args.component else _read_components()
    components = [_parse_component(text, n) for n, text in enumerate(texts, 1)]
    clear = combine_components(components)
    for n, component in enumerate(components, 1):
        print(f"component {n} KCV {kcv(component)}", file=io.out)
    _print_key(lmk, clear, key_type, label, _SCHEME_BY_LENGTH[len(clear)], io)


def _check(
    args: argparse.Namespace, lmk: VariantLmk, key_type: str, label: str, io: _Output
) -> None:
    key = lmk.decrypt_key(args.key.strip().upper(), key_type)
    parity = "" if key.has_odd_parity else "  (WARNING: not odd parity; the HSM answers 10/11)"
    print(f"{label} check value: {key.kcv()}{parity}", file=io.out)


def _print_key(
    lmk: VariantLmk, clear: bytes, key_type: str, label: str, scheme: str, io: _Output
) -> None:
    pair, _ = pair_for_key_type(key_type)
    print(f"{label} under LMK {pair}: {lmk.encrypt_key(clear, key_type, scheme)}", file=io.out)
    print(f"check value: {kcv(clear)}", file=io.out)


def _key_type(text: str) -> tuple[str, str]:
    name = text.strip().upper()
    code = KEY_TYPES.get(name, name)
    try:
        pair_for_key_type(code)
    except HsmError:
        raise UserError(
            f"unknown key type {text!r}: use {', '.join(sorted(KEY_TYPES))} or a code like 002"
        ) from None
    return code, (f"{name} (key type {code})" if name in KEY_TYPES else f"key type {code}")


def _load_lmk(args: argparse.Namespace) -> tuple[VariantLmk, str]:
    path = settings_from(args).hsm.lmk_file
    if not path:
        lmk = VariantLmk.test()
    else:
        try:
            lmk = VariantLmk.from_file(path)
        except OSError as exc:
            raise UserError(f"cannot read LMK file {path}: {exc.strerror}") from None
        except ValueError as exc:
            # Our own message (it names the expected layout), never key material.
            raise UserError(f"LMK file {path}: {exc}") from None
    check = lmk.check_value()[:6]
    if lmk.is_test_lmk:
        return lmk, f"LMK: the published Thales TEST LMK (check {check}) - test keys only"
    return lmk, f"LMK: {path} (check {check})"


def _read_components() -> list[str]:
    if not sys.stdin.isatty():
        return [line.strip() for line in sys.stdin if line.strip()]
    try:
        count = input("number of components (2 or 3): ").strip()
        if count not in ("2", "3"):
            raise UserError("a key is formed from 2 or 3 components")
        return [getpass.getpass(f"component {n} (hex, not echoed): ") for n in
                range(1, int(count) + 1)]
    except EOFError:
        raise UserError("no components given") from None


def _parse_component(text: str, n: int) -> bytes:
    digits = text.replace(" ", "").upper()
    if len(digits) not in (16, 32, 48) or not is_hex(digits):
        raise UserError(f"component {n} is not 16, 32 or 48 hex digits")
    component = bytes.fromhex(digits)
    if not has_odd_parity(component):
        raise UserError(f"component {n} does not have odd parity: check how it was typed")
    return component


def _grouped(key: bytes) -> str:
    text = key.hex().upper()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _hsm_message(exc: HsmError) -> str:
    reasons = {"15": "not a key field", "26": "unknown key scheme", "27": "wrong key length"}
    return f"the key is not valid: {reasons.get(exc.code, 'error ' + exc.code)}"
