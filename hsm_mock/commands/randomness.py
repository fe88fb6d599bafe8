"""N0: random bytes from the HSM's generator, for hosts that need nonces or key material
they do not want to draw themselves."""

from __future__ import annotations

from atmsim.kernel.crypto.errors import INVALID_INPUT, HsmError
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader

__all__ = ["COMMANDS", "MAX_RANDOM_LENGTH", "generate_random"]

MAX_RANDOM_LENGTH = 256  # bytes one N0 returns at most (this mock's bound)


def generate_random(fields: FieldReader, ctx: HsmContext) -> bytes:
    """N0: length 3N (001-256) -> that many random bytes, binary."""
    length = fields.number(3, "length")
    fields.finish()
    if not 1 <= length <= MAX_RANDOM_LENGTH:
        raise HsmError(INVALID_INPUT, field="length")
    return ctx.rng(length)


COMMANDS = (Command("N0", "generate a random value", generate_random),)
