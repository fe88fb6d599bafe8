"""What the switch knows about the ATM connection a request came in on.

The channel (``atm_switch.channel``) runs each request on a task of its own and sets, for
that task, the request as received (``Inbound``: its bytes, which a MAC covers, and the
connection's ``LinkState``: which terminals signed on there). The pipeline steps read it
with :func:`current_inbound` without every route having to pass it along; outside the
channel (a step tested alone) there is none.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field

__all__ = ["Inbound", "LinkState", "current_inbound", "receiving"]


@dataclass(eq=False)
class LinkState:
    """One ATM connection's sign-on state: the terminals signed on over it (0800/001,
    until 0800/002 or the connection ends)."""

    peer: str
    signed_on: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Inbound:
    """One request as the channel received it."""

    raw: bytes  # the message as it came, without the length header
    link: LinkState | None = None
    # The TAK (under the LMK) that verified this request's MAC: the answer gets a MAC
    # under the same key. None: the answer goes without one.
    mac_key: str | None = None


_CURRENT: ContextVar[Inbound | None] = ContextVar("atmsim_inbound", default=None)


def current_inbound() -> Inbound | None:
    """The request being answered on this task, as received; None outside the channel."""
    return _CURRENT.get()


def receiving(inbound: Inbound) -> Token[Inbound | None]:
    """Mark ``inbound`` as the request this task answers."""
    return _CURRENT.set(inbound)
