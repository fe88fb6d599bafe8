"""The command table: which host command codes this HSM answers, and how.

A handler is a pure function ``(FieldReader, HsmContext) -> bytes``: it reads its
request fields, calls ``fields.finish()``, does the work, and returns the response
fields after the error code. Failures are raised as
:class:`~atmsim.kernel.crypto.errors.HsmError`; the dispatcher (:mod:`hsm_mock.protocol`) turns
them into the reply's error code. An advice-only error that still returns fields
(A6's parity advice) is returned as :class:`~atmsim.kernel.crypto.errors.Advice`.
Work too slow for the event loop (RSA key generation and signing) is returned as
:class:`Offload`: the handler has read and checked every field, and the server runs
the offloaded function in its worker pool, so other connections keep being answered.

Each module in this package groups related commands and exports ``COMMANDS``.
Adding a command means writing its handler in the module of its family (or a new
module with its own ``COMMANDS`` tuple, listed in :func:`default_command_table`);
nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from atmsim.kernel.crypto.errors import Advice
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader

__all__ = [
    "Command",
    "CommandTable",
    "Handler",
    "HsmContext",
    "Offload",
    "default_command_table",
]


@dataclass(frozen=True)
class Offload:
    """Response fields still to be computed, by ``work``, off the event loop.

    ``work`` is pure and thread-safe: it returns the response fields or raises
    :class:`~atmsim.kernel.crypto.errors.HsmError`, like the rest of a handler.

    >>> Offload(lambda: b"fields").work()
    b'fields'
    """

    work: Callable[[], bytes] = field(repr=False)


Handler = Callable[[FieldReader, HsmContext], bytes | Advice | Offload]


@dataclass(frozen=True)
class Command:
    """One host command: its 2-character code, a short name and its handler.

    >>> Command("NC", "diagnostics", lambda r, c: b"").response_code
    'ND'
    """

    code: str
    name: str
    handler: Handler = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.code) != 2 or not self.code.isascii() or not self.code.isalnum():
            raise ValueError("a command code is two ASCII letters or digits")

    @property
    def response_code(self) -> str:
        """The reply's code: the second character plus one (DA -> DB, A0 -> A1)."""
        return self.code[0] + chr(ord(self.code[1]) + 1)


class CommandTable:
    """Command code -> :class:`Command`; refuses to register a code twice."""

    def __init__(self, commands: Iterable[Command] = ()) -> None:
        self._commands: dict[str, Command] = {}
        for command in commands:
            self.register(command)

    def register(self, command: Command) -> None:
        if command.code in self._commands:
            raise ValueError(f"command {command.code} is already registered")
        self._commands[command.code] = command

    def get(self, code: str) -> Command | None:
        return self._commands.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._commands

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())


def default_command_table() -> CommandTable:
    """Every command this mock implements."""
    # Imported here so that each command module can import from this package.
    from hsm_mock.commands import (
        asymmetric_keys,
        card_verification,
        diagnostics,
        key_exchange,
        key_management,
        mac,
        pin_generation,
        pin_translation,
        pin_verify,
        randomness,
        status,
    )

    modules = (
        diagnostics,
        status,
        key_management,
        key_exchange,
        pin_verify,
        pin_translation,
        pin_generation,
        card_verification,
        mac,
        randomness,
        asymmetric_keys,
    )
    return CommandTable(command for module in modules for command in module.COMMANDS)
