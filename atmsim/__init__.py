"""atmsim: the shell (:mod:`atmsim.shell`: the command line and the composition of the
parts) and the kernel every part shares (:mod:`atmsim.kernel`).

For embedding, the ATM client is at hand here: ``from atmsim import AtmClient`` (with
``Inquiry``, ``Backoff``, ``HostUnavailable``, ``HostTimeout`` and ``SignOnRefused``), the
same client the ATM, ``atmsim inquire`` and ``atmsim load`` use
(:mod:`terminal_ui.device.client` documents it).

>>> from atmsim import AtmClient
>>> AtmClient.__module__
'terminal_ui.device.client'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from terminal_ui.device.client import (
        AtmClient,
        Backoff,
        HostTimeout,
        HostUnavailable,
        Inquiry,
        SignOnRefused,
    )

__all__ = ["AtmClient", "Backoff", "Inquiry", "HostTimeout", "HostUnavailable",
           "SignOnRefused"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import atmsim.kernel`` (which every part does) must not pull
    # in the ATM and its dependencies.
    if name in __all__:
        from terminal_ui.device import client

        return getattr(client, name)
    raise AttributeError(f"module 'atmsim' has no attribute {name!r}")
