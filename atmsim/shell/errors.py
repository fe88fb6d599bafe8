"""The one error type for mistakes a user can fix, and the one tail that turns an error
into what the user sees: one line on stderr and an exit status.

``UserError`` is a mistake on the command line, in the configuration or in the
environment (a bad flag, setting, port or path); every shell module that detects one
raises it (or ``ConfigError`` / ``StackError``, which are ``UserError``s that say where).
``exit_status`` runs a command and maps what it raises:

=====================================  ==========================================  ======
raised                                 printed on stderr                           status
=====================================  ==========================================  ======
``UserError``, a component's one-line  ``atmsim: <message>``                       2 (or
error (card store, ledger database)                                                its own)
``KeyboardInterrupt``, ``Interrupted``  nothing                                    130
``BrokenPipeError`` (``... | head``)   nothing                                     1
anything else (a fault of atmsim's)    ``atmsim: unexpected error: ...``           1
=====================================  ==========================================  ======
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["Interrupted", "UserError", "exit_status", "user_status"]


class UserError(Exception):
    """A mistake on the command line, in the configuration or in the environment that the
    user can fix; the message is one line that says what and where. ``status`` is the exit
    status (2, a usage error, unless the command documents another, e.g. 1 for "not found")."""

    def __init__(self, message: str, *, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


class Interrupted(Exception):
    """Stopped by a signal before the command was up."""


def _component_errors() -> tuple[type[Exception], ...]:
    """The components' own one-line errors a user can fix (imported when one is raised:
    the tail must not load the card store or the ledger for every command)."""
    from atm_switch.card_store import CardStoreError  # a card database under another LMK
    from atm_switch.journal import JournalError  # a journal locked by another process
    from bpjs_ledger.db import StorageError  # a ledger database that cannot be used

    return CardStoreError, JournalError, StorageError


def user_status(exc: BaseException) -> int | None:
    """The exit status of an error a user can fix, after printing its one line; None (and
    nothing printed) for any other exception."""
    if isinstance(exc, UserError):
        status = exc.status
    elif isinstance(exc, _component_errors()):
        status = 2
    else:
        return None
    print(f"atmsim: {exc}", file=sys.stderr)
    return status


def exit_status(command: Callable[[], int], debug: Callable[[], bool] = lambda: False) -> int:
    """Run ``command`` and return its exit status; every error ends here as one line.

    ``debug()`` is asked only after a fault of atmsim's: True re-raises it (the traceback
    ``--log-level DEBUG`` promises)."""
    try:
        return command()
    except (KeyboardInterrupt, Interrupted):
        return 130
    except BrokenPipeError:
        # The reader went away (``atmsim inquire ... | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        status = user_status(exc)
        if status is not None:
            return status
        # A fault of atmsim's, not the user's: still one line, the traceback on request.
        if debug():
            raise
        print(f"atmsim: unexpected error: {type(exc).__name__}: {exc} "
              "(--log-level DEBUG shows where)", file=sys.stderr)
        return 1
