"""The ledger's records as Python values: participants, employers, and a participant's
whole JHT history (contributions, claims, year-end balances) ready to be stored.

The demo generator produces these and the store writes them; a bulk seeder or a posting
service later produces the same values, so the store has one way to write a history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bpjs_ledger.identity import Kpj, Nik, Sex
from bpjs_ledger.jht import Claim, Contribution, JhtYear, Period

__all__ = ["Employer", "Participant", "ParticipantHistory", "Segment", "Status"]


class Segment(StrEnum):
    """BPJS participant segments (DOMAIN_NOTES §3)."""

    PU = "PU"  # Penerima Upah: wage earners, contributions paid through the employer
    BPU = "BPU"  # Bukan Penerima Upah: self-employed
    JAKON = "JAKON"  # Jasa Konstruksi: construction projects
    PMI = "PMI"  # Pekerja Migran Indonesia


class Status(StrEnum):
    AKTIF = "AKTIF"
    NONAKTIF = "NONAKTIF"


@dataclass(frozen=True)
class Employer:
    """A contributing employer (pemberi kerja), known by its NPP registration number."""

    npp: str
    name: str


@dataclass(frozen=True)
class Participant:
    """A BPJS Ketenagakerjaan participant (peserta) as the ledger keeps them."""

    kpj: Kpj
    nik: Nik
    name: str
    segment: Segment
    status: Status
    member_since: date  # kepesertaan awal JHT
    employer: Employer | None  # PU participants only
    inactive_since: date | None = None
    inactive_reason: str | None = None

    @property
    def birth_date(self) -> date:
        return self.nik.birth_date

    @property
    def sex(self) -> Sex:
        return self.nik.sex


@dataclass(frozen=True)
class ParticipantHistory:
    """Everything posted to one participant's JHT account up to ``as_of``."""

    participant: Participant
    contributions: tuple[Contribution, ...]
    claims: tuple[Claim, ...]
    years: tuple[JhtYear, ...]  # from the first year of membership to the year of as_of
    as_of: date

    @property
    def balance_sen(self) -> int:
        return self.years[-1].closing_sen if self.years else 0

    @property
    def last_contribution(self) -> Period | None:
        return max((c.period for c in self.contributions), default=None)
