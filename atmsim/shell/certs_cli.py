"""``atmsim certs``: a demo certificate authority for TLS between the ATMs and the switch.

``atmsim certs generate`` writes, under ``<data dir>/tls`` (or ``--dir``): ``ca.pem`` and
``ca-key.pem`` (the CA), ``server.pem``/``server-key.pem`` (for the switch, valid for the
``--host`` names, by default localhost, 127.0.0.1 and ::1), ``client.pem``/``client-key.pem``
(an ATM's client certificate) and ``tls.toml``, a configuration that turns mutual TLS on
for the switch and every ATM-side command::

    atmsim certs generate
    atmsim up --config ~/.local/share/atmsim/tls/tls.toml
    atmsim inquire --config ~/.local/share/atmsim/tls/tls.toml --pan ... --pin ...

Keys are written mode 0600. Test and demo use only: the CA's key lies beside its
certificate. Existing files are kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from atmsim.kernel.tls import DEMO_HOSTS, DemoPki, generate_demo_pki
from atmsim.shell.errors import UserError, exit_status
from atmsim.shell.options import COMMON, add_options, settings_from

__all__ = ["add_parser", "run", "tls_config"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``certs`` and its actions to the ``atmsim`` sub-parsers."""
    certs = subparsers.add_parser("certs", help="demo TLS certificates for the switch and "
                                  "the ATMs")
    actions = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate", help="a demo CA, a switch certificate, an ATM client certificate and "
        "a tls.toml that turns mutual TLS on")
    add_options(generate, *COMMON)
    generate.add_argument("--dir", type=Path, metavar="DIR",
                          help="where to write them (default: <data dir>/tls)")
    generate.add_argument("--host", action="append", metavar="NAME",
                          help="a DNS name or IP address the switch certificate is valid "
                               "for; repeat for more (default: localhost 127.0.0.1 ::1)")
    generate.add_argument("--days", type=int, default=825,
                          help="days the certificates are valid (825)")
    generate.add_argument("--force", action="store_true",
                          help="replace certificates already there")


def tls_config(pki: DemoPki) -> str:
    """The TOML that uses ``pki``: mutual TLS on the switch listener and on the ATM side."""
    def path(p: Path) -> str:
        return str(p.resolve()).replace("\\", "\\\\").replace('"', '\\"')

    return (
        "# Written by `atmsim certs generate`: mutual TLS between the ATMs and the switch.\n"
        "[switch]\n"
        f'tls_cert = "{path(pki.server_cert)}"\n'
        f'tls_key = "{path(pki.server_key)}"\n'
        f'tls_client_ca = "{path(pki.ca_cert)}"\n'
        "tls_require_client_cert = true\n\n"
        "[atm]\n"
        "tls = true\n"
        f'tls_ca = "{path(pki.ca_cert)}"\n'
        f'tls_cert = "{path(pki.client_cert)}"\n'
        f'tls_key = "{path(pki.client_key)}"\n')


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run an ``atmsim certs`` action: 0, or 2 with one line on stderr for a user error."""
    return exit_status(lambda: _generate(args, out or sys.stdout))


def _generate(args: argparse.Namespace, out: TextIO) -> int:
    if not 1 <= args.days <= 36500:
        raise UserError(f"--days {args.days}: between 1 and 36500")
    directory = args.dir if args.dir is not None else settings_from(args).data_dir / "tls"
    pki = DemoPki(directory)
    present = [p.name for p in (*pki.files(), directory / "tls.toml") if p.exists()]
    if present and not args.force:
        raise UserError(f"{directory} already has {', '.join(present)}: use --force to "
                        "replace them")
    try:
        pki = generate_demo_pki(directory, hosts=tuple(args.host or DEMO_HOSTS),
                                days=args.days)
        (directory / "tls.toml").write_text(tls_config(pki), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write to {directory}: {exc.strerror}") from None
    hosts = ", ".join(args.host or DEMO_HOSTS)
    print(f"demo CA and certificates in {directory} (switch certificate for {hosts}):", file=out)
    for p in pki.files():
        print(f"  {p.name}", file=out)
    print(f"try: atmsim up --config {directory / 'tls.toml'}", file=out)
    return 0
