"""The one error type for mistakes a user can fix (a bad flag, setting, port or path).

The ``atmsim`` command prints such an error as one line ``atmsim: <message>`` on stderr and
exits with status 2; every module that detects one raises a subclass of ``UserError``.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A mistake on the command line, in the configuration or in the environment that the
    user can fix; the message is one line that says what and where."""
