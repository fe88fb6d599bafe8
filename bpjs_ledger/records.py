"""The ledger's records as Python values: participants, employers, a participant's whole
JHT history (contributions, claims, year-end balances) ready to be stored, and the yearly
statement read back from the store.

The demo generator produces histories and the store writes them, so the store has one way
to write a history. ``contribution_for`` says which contributions a segment pays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bpjs_ledger.identity import Kpj, Nik, Sex
from bpjs_ledger.jht import (
    JHT_WORKER_PERCENT,
    Claim,
    Contribution,
    JhtYear,
    Period,
    percent_of,
)

__all__ = [
    "ContributionPost",
    "Employer",
    "JhtStatement",
    "Participant",
    "ParticipantHistory",
    "Segment",
    "Status",
    "contribution_for",
]


class Segment(StrEnum):
    """BPJS participant segments (docs/ledger.md, "What the ledger holds")."""

    PU = "PU"  # Penerima Upah: wage earners, contributions paid through the employer
    BPU = "BPU"  # Bukan Penerima Upah: self-employed
    JAKON = "JAKON"  # Jasa Konstruksi: construction projects
    PMI = "PMI"  # Pekerja Migran Indonesia


class Status(StrEnum):
    AKTIF = "AKTIF"
    NONAKTIF = "NONAKTIF"


def contribution_for(segment: Segment, period: Period, wage_sen: int, *, paid_on: date,
                     posted_on: date) -> Contribution:
    """The month's contribution a participant of ``segment`` pays on ``wage_sen``.

    * PU: JHT 3.7% (employer) + 2% (worker), and JP 2% + 1% from July 2015 (capped).
    * BPU and PMI: JHT is voluntary and paid by the participant alone; we take 2% of the
      reported income, no employer share and no JP. The BPJS rules list the programmes
      per segment but not the BPU/PMI JHT rate: the 2% is an assumption [I].
    * JAKON: no JHT at all (JKK and JKM only), so there is no JHT contribution to post.

    >>> contribution_for(Segment.BPU, Period(2024, 1), 3_000_000_00,
    ...                  paid_on=date(2024, 2, 10), posted_on=date(2024, 2, 12)).total_sen
    6000000
    """
    if wage_sen < 0:
        raise ValueError(f"wage cannot be negative, got {wage_sen} sen")
    if segment is Segment.PU:
        return Contribution.for_wage(period, wage_sen, paid_on=paid_on, posted_on=posted_on)
    if segment in (Segment.BPU, Segment.PMI):
        return Contribution(period, wage_sen, 0, percent_of(wage_sen, JHT_WORKER_PERCENT),
                            paid_on, posted_on)
    raise ValueError(f"segment {segment.value} has no JHT programme")


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
    """Everything posted to one participant's JHT account up to ``as_of``.

    ``opening_sen`` is a *saldo awal* on 1 January of the first year in ``years``: money
    carried over from before the rows kept here (0 for a history that starts when the
    membership does).
    """

    participant: Participant
    contributions: tuple[Contribution, ...]
    claims: tuple[Claim, ...]
    years: tuple[JhtYear, ...]  # from the first year held to the year of as_of
    as_of: date
    opening_sen: int = 0

    @property
    def first_year(self) -> int:
        return self.years[0].year if self.years else self.as_of.year

    @property
    def balance_sen(self) -> int:
        return self.years[-1].closing_sen if self.years else 0

    @property
    def last_contribution(self) -> Period | None:
        return max((c.period for c in self.contributions), default=None)


@dataclass(frozen=True)
class JhtStatement:
    """A participant's JHT account year by year, as the JMO app shows it, read from one
    consistent snapshot of the ledger: the last year's closing is ``balance_sen``."""

    participant: Participant
    years: tuple[JhtYear, ...]
    balance_sen: int
    as_of: date
    last_contribution: str | None  # YYYY-MM


@dataclass(frozen=True)
class ContributionPost:
    """One month's contribution as an employer (or a self-paying participant) posts it.

    ``key`` makes the post idempotent: the ledger counts a key once, however often it
    arrives. ``npp`` is the posting employer, ``None`` for a participant without one.
    The shares are not part of the post: the ledger computes them (``contribution_for``).
    """

    key: str
    kpj: Kpj
    npp: str | None
    period: Period
    wage_sen: int
    paid_on: date

    @property
    def fingerprint(self) -> str:
        """What the post says, as one string: a repeated key must say the same.

        >>> from bpjs_ledger.identity import parse_kpj
        >>> ContributionPost("k1", parse_kpj("10012345678"), "10012089", Period(2026, 10),
        ...                  5_000_000_00, date(2026, 11, 10)).fingerprint
        '10012345678|10012089|2026-10|500000000|2026-11-10'
        """
        return "|".join([self.kpj.value, self.npp or "-", str(self.period),
                         str(self.wage_sen), self.paid_on.isoformat()])
