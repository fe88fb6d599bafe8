"""Rate limits of the portal's public forms, per client address: a sliding window of the
last attempts (:class:`atmsim.kernel.rate_limits.SlidingWindow`), kept in memory (one
portal process; behind several, put them in front).

The numbers (``PORTAL_LIMITS``) keep the forms usable by a person and useless for trying
identities in bulk: a "cek kepesertaan" answers a KPJ for a NIK + birth date + name, so
a stranger who could ask it often could confirm guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limit", "PORTAL_LIMITS"]


@dataclass(frozen=True)
class Limit:
    attempts: int
    seconds: float


# form -> at most `attempts` per client address within `seconds`
PORTAL_LIMITS = {
    "login": Limit(20, 60.0),  # the account lockout (5 wrong in a row) guards each account
    "register": Limit(10, 600.0),
    "member": Limit(10, 600.0),
}

