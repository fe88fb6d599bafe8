"""BSU (Bantuan Subsidi Upah, the wage subsidy): who was a candidate recipient of each
programme, judged from what the ledger holds (docs/channels.md, "BSU rules").

Each programme's public rule, as the Ministry of Manpower regulations and BPJS published
it, reduced to what a JHT ledger can check:

* 2020 (Permenaker 14/2020): a PU (wage-earning) participant, active up to June 2020,
  reported wage **below** Rp5,000,000.
* 2021 (Permenaker 16/2021): PU, active up to June 2021, wage **at most** Rp3,500,000.
* 2022 (Permenaker 10/2022): PU, active up to July 2022, wage at most Rp3,500,000.
* 2025 (Permenaker 5/2025): PU, active up to April 2025, wage at most Rp3,500,000.

"Active up to" a month is read as: a JHT contribution posted for that month (the month's
dues were paid). The wage is the one reported for that month. Parts of the rules the
ledger cannot see are not judged and are said so in the answer's note: the higher
regional minimum wage (UMP/UMK) that replaced the Rp3.5 million limit where it was higher
(2021 onwards), WNI citizenship, civil servants, TNI and Polri (excluded), other aid
(Kartu Prakerja, PKH, BPUM) and the 2021 PPKM-zone condition.

Pure: ``assess`` takes the participant's segment and the contribution of the cut-off
month and says eligible or why not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bpjs_ledger.jht import Period

__all__ = ["PROGRAMMES", "BsuAssessment", "BsuProgramme", "NotEligible", "assess",
           "programme"]


@dataclass(frozen=True)
class BsuProgramme:
    year: str
    active_through: Period  # a contribution for this month must be posted
    wage_limit_sen: int
    limit_inclusive: bool  # 2020: below the limit; later: at most the limit
    regulation: str


PROGRAMMES: dict[str, BsuProgramme] = {p.year: p for p in (
    BsuProgramme("2020", Period(2020, 6), 5_000_000_00, False, "Permenaker 14/2020"),
    BsuProgramme("2021", Period(2021, 6), 3_500_000_00, True, "Permenaker 16/2021"),
    BsuProgramme("2022", Period(2022, 7), 3_500_000_00, True, "Permenaker 10/2022"),
    BsuProgramme("2025", Period(2025, 4), 3_500_000_00, True, "Permenaker 5/2025"),
)}


class NotEligible(StrEnum):
    NOT_PU = "NOT_PU"  # BSU is for wage earners (Penerima Upah) only
    NOT_ACTIVE = "NOT_ACTIVE"  # no contribution for the cut-off month
    WAGE_ABOVE_LIMIT = "WAGE_ABOVE_LIMIT"


@dataclass(frozen=True)
class BsuAssessment:
    programme: BsuProgramme
    eligible: bool
    reasons: tuple[NotEligible, ...]


def programme(year: str) -> BsuProgramme | None:
    """The programme of ``year``, or None.

    >>> programme("2022").active_through, programme("2023")
    (Period(year=2022, month=7), None)
    """
    return PROGRAMMES.get(year)


def assess(bsu: BsuProgramme, *, segment: str, cutoff_wage_sen: int | None) -> BsuAssessment:
    """Eligible, or every reason why not. ``cutoff_wage_sen``: the wage reported for the
    programme's cut-off month, None when no contribution was posted for it.

    >>> assess(PROGRAMMES["2020"], segment="PU", cutoff_wage_sen=4_999_999_00).eligible
    True
    >>> assess(PROGRAMMES["2020"], segment="PU", cutoff_wage_sen=5_000_000_00).reasons
    (<NotEligible.WAGE_ABOVE_LIMIT: 'WAGE_ABOVE_LIMIT'>,)
    >>> assess(PROGRAMMES["2022"], segment="PU", cutoff_wage_sen=3_500_000_00).eligible
    True
    >>> [r.value for r in assess(PROGRAMMES["2025"], segment="BPU", cutoff_wage_sen=None).reasons]
    ['NOT_PU', 'NOT_ACTIVE']
    """
    reasons: list[NotEligible] = []
    if segment != "PU":
        reasons.append(NotEligible.NOT_PU)
    if cutoff_wage_sen is None:
        reasons.append(NotEligible.NOT_ACTIVE)
    elif (cutoff_wage_sen > bsu.wage_limit_sen if bsu.limit_inclusive
          else cutoff_wage_sen >= bsu.wage_limit_sen):
        reasons.append(NotEligible.WAGE_ABOVE_LIMIT)
    return BsuAssessment(bsu, not reasons, tuple(reasons))
