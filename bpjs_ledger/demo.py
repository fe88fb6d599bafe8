"""Reproducible JHT histories for the demo participants (docs/demo-data.md).

Every number follows from the participant's public demo record and the balance date
``as_of``: the same ``as_of`` gives the same rows, byte for byte, on every machine. The
rules (all in this module, all deterministic):

* Wages start at the participant's ``monthly_wage_sen`` and rise every January after the
  first year of membership by that year's ``wage_growth_percent``, rounded half-up to whole
  thousands of rupiah (payroll reports round wages; it also keeps contribution shares
  exact). The raise depends on the calendar year, not on the person, so wages keep the
  order of the demo table within any one year.
* One contribution per month from the month of ``member_since``; the employer pays it on
  the 10th of the following month (due by the 15th) and it is posted two days later.
  A month is in the history once it is posted on or before ``as_of``.
* A participant who became inactive (Dewi) has no contributions for months that start
  after ``inactive_since``, but the balance keeps earning yearly returns.
* ``DEMO_CLAIMS`` lists the few withdrawals of the demo set; each pays its percentage of
  the balance on the day it is paid.
* Returns follow ``bpjs_ledger.jht`` (rate table, crediting and rounding rules there).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS, DemoParticipant
from bpjs_ledger.identity import parse_kpj, parse_nik
from bpjs_ledger.jht import (
    Claim,
    ClaimKind,
    Contribution,
    Period,
    claim_amount,
    percent_of,
    roll_forward,
)
from bpjs_ledger.records import Employer, Participant, ParticipantHistory, Segment, Status

__all__ = [
    "DEMO_CLAIMS",
    "WAGE_STEP_SEN",
    "default_as_of",
    "demo_histories",
    "demo_history",
    "demo_participant",
    "monthly_wage_sen",
    "round_to_step",
    "wage_growth_percent",
    "wage_series_sen",
    "yearly_wages_sen",
]

# Yearly raises by calendar year, (first year, last year, percent). Shaped loosely after
# Indonesia's minimum-wage history (fast rises around 2001-2002 and 2013, formula-bound ones
# since 2016) so that a wage of 1995 and one of 2009 compare plausibly. Not sourced data.
_WAGE_GROWTH_BANDS: tuple[tuple[int, int, Decimal], ...] = (
    (1993, 2000, Decimal(12)),
    (2001, 2002, Decimal(25)),
    (2003, 2012, Decimal(9)),
    (2013, 2013, Decimal(25)),
    (2014, 2016, Decimal(11)),
)
_WAGE_GROWTH_LATER = Decimal(7)  # from 2017 on
WAGE_STEP_SEN = 1_000_00  # wages are whole thousands of rupiah
_PAID_ON_DAY = 10  # of the month after the period; BPJS's due date is the 15th
_POSTING_DELAY = timedelta(days=2)

# Withdrawals in the demo data: Wayan took the 10% retirement-preparation claim once he
# had 10+ years of membership (PP 46/2015 allows it), so a claim shows in a real history.
DEMO_CLAIMS: dict[str, tuple[tuple[ClaimKind, date], ...]] = {
    "09012300033": ((ClaimKind.PARTIAL_10, date(2016, 3, 21)),),
}


def default_as_of(today: date | None = None) -> date:
    """The last day of the month before ``today``: the ledger's usual balance date.

    >>> default_as_of(date(2026, 11, 5))
    datetime.date(2026, 10, 31)
    """
    today = today or date.today()
    return today.replace(day=1) - timedelta(days=1)


def wage_growth_percent(year: int) -> Decimal:
    """The demo's wage raise given in January of ``year``.

    >>> wage_growth_percent(2013), wage_growth_percent(2030)
    (Decimal('25'), Decimal('7'))
    """
    for first, last, percent in _WAGE_GROWTH_BANDS:
        if first <= year <= last:
            return percent
    return _WAGE_GROWTH_LATER


def monthly_wage_sen(participant: DemoParticipant, year: int) -> int:
    """The participant's monthly wage in ``year`` (the raise is applied every January).

    >>> from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
    >>> wayan = DEMO_PARTICIPANTS[-1]
    >>> monthly_wage_sen(wayan, 1995), monthly_wage_sen(wayan, 1996)
    (45000000, 50400000)
    """
    if year < participant.member_since.year:
        raise ValueError(f"no wage in {year}: membership starts in "
                         f"{participant.member_since.year}")
    return yearly_wages_sen(participant, year)[year]


def yearly_wages_sen(participant: DemoParticipant, until: int) -> dict[int, int]:
    """The monthly wage of every year from joining to ``until``, by year."""
    return wage_series_sen(participant.monthly_wage_sen, participant.member_since.year, until)


def wage_series_sen(first_wage_sen: int, first_year: int, until: int) -> dict[int, int]:
    """A wage of ``first_wage_sen`` in ``first_year``, raised every January after it by
    that year's ``wage_growth_percent`` (to whole thousands of rupiah), up to ``until``.

    >>> wage_series_sen(450_000_00, 1995, 1997)
    {1995: 45000000, 1996: 50400000, 1997: 56400000}
    """
    wages: dict[int, int] = {}
    wage = first_wage_sen
    for year in range(first_year, until + 1):
        if year > first_year:
            wage = _raised_wage(wage, year)
        wages[year] = wage
    return wages


def demo_participant(record: DemoParticipant, as_of: date) -> Participant:
    """The ledger's participant record for a demo participant, with its status on ``as_of``."""
    inactive = record.status == Status.NONAKTIF and (
        record.inactive_since is None or record.inactive_since <= as_of)
    employer = Employer(record.employer_npp, record.employer_name) if record.employer_npp else None
    return Participant(
        kpj=parse_kpj(record.kpj),
        nik=parse_nik(record.nik, today=as_of),
        name=record.name,
        segment=Segment(record.segment),
        status=Status.NONAKTIF if inactive else Status.AKTIF,
        member_since=record.member_since,
        employer=employer,
        inactive_since=record.inactive_since if inactive else None,
        inactive_reason=record.inactive_reason if inactive else None,
    )


def demo_history(record: DemoParticipant, as_of: date) -> ParticipantHistory | None:
    """The JHT history of one demo participant up to ``as_of``; None before they joined."""
    if record.member_since > as_of:
        return None
    contributions = _contributions(record, as_of)
    claims = _claims(record, contributions, as_of)
    years = roll_forward(contributions, claims, first_year=record.member_since.year,
                         as_of=as_of)
    return ParticipantHistory(demo_participant(record, as_of), contributions, claims, years,
                              as_of)


def demo_histories(as_of: date, participants: Iterable[DemoParticipant] = DEMO_PARTICIPANTS,
                   ) -> tuple[ParticipantHistory, ...]:
    """Histories of every demo participant who had joined by ``as_of``."""
    histories = (demo_history(p, as_of) for p in participants)
    return tuple(h for h in histories if h is not None)


def _contributions(record: DemoParticipant, as_of: date) -> tuple[Contribution, ...]:
    rows: list[Contribution] = []
    period = Period.of(record.member_since)
    wages = yearly_wages_sen(record, as_of.year)
    while True:
        if record.inactive_since is not None and period.first_day > record.inactive_since:
            break
        paid_on = period.next().first_day.replace(day=_PAID_ON_DAY)
        posted_on = paid_on + _POSTING_DELAY
        if posted_on > as_of:
            break
        rows.append(Contribution.for_wage(period, wages[period.year],
                                          paid_on=paid_on, posted_on=posted_on))
        period = period.next()
    return tuple(rows)


def _claims(record: DemoParticipant, contributions: tuple[Contribution, ...],
            as_of: date) -> tuple[Claim, ...]:
    claims: list[Claim] = []
    for kind, paid_on in DEMO_CLAIMS.get(record.kpj, ()):
        if paid_on > as_of:
            continue
        posted = [c for c in contributions if c.posted_on <= paid_on]
        balance = roll_forward(posted, claims, first_year=record.member_since.year,
                               as_of=paid_on)[-1].closing_sen
        claims.append(Claim(kind, claim_amount(balance, kind), paid_on))
    return tuple(claims)


def _raised_wage(wage_sen: int, year: int) -> int:
    return round_to_step(wage_sen + percent_of(wage_sen, wage_growth_percent(year)),
                         WAGE_STEP_SEN)


def round_to_step(amount_sen: int, step_sen: int) -> int:
    """Half-up to a multiple of ``step_sen`` (amounts here are never negative).

    >>> round_to_step(1_234_500_00, WAGE_STEP_SEN)
    123500000
    """
    return (amount_sen + step_sen // 2) // step_sen * step_sen
