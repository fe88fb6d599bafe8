"""Diagnostics commands: NC (perform diagnostics) and B2 (echo).

The host times NC to check the HSM is alive (the manual suggests raising an alarm
after 5 seconds without a reply) and reads the LMK check value to confirm the
right LMK is loaded. B2 echoes data back, for link tests.
"""

from __future__ import annotations

from atmsim.kernel.crypto.errors import DATA_LENGTH_ERROR
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader

__all__ = ["COMMANDS", "diagnostics", "echo"]


def diagnostics(fields: FieldReader, ctx: HsmContext) -> bytes:
    """NC: LMK check value (16H) then firmware number (9A)."""
    fields.finish()
    return (ctx.lmk.check_value() + ctx.firmware).encode("ascii")


def echo(fields: FieldReader, ctx: HsmContext) -> bytes:
    """B2: 4H length then that many bytes of data, echoed back.

    More data than the length says is a data length error (80); less is an input
    error (15), as simulators observed it.
    """
    length = int(fields.hex(4, "length"), 16)
    data = fields.raw(length, "data")
    fields.finish(DATA_LENGTH_ERROR)
    return data


COMMANDS = (
    Command("NC", "perform diagnostics", diagnostics),
    Command("B2", "echo", echo),
)
