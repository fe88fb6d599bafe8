"""JHT (Jaminan Hari Tua) arithmetic: contributions, yearly returns, claims, year-end balances.

Pure functions over integer sen; no I/O. The store, the demo generator and (later) the
statement and posting code all use these, so a balance is computed one way only.

Rules this module fixes (the sources do not say how BPJS rounds or credits):

* **Rounding.** Every computed amount (a contribution share, a claim, a year's return) is
  rounded once, half-up (ties away from zero) to the whole sen, from exact rational
  arithmetic: ``round_half_up_sen``. Rates are ``Decimal`` percentages, never floats.
* **Contributions.** 5.7% of the reported wage a month: 3.7% paid by the employer, 2% by
  the worker, each share rounded on its own (a statement shows them separately). Pension
  (JP) contributions, 2% + 1% of the wage up to the JP wage cap, are recorded beside them
  but are not JHT money: they never enter a JHT balance.
* **Crediting returns (assumption).** A year's *hasil pengembangan* is credited on 31
  December at that year's rate on the opening balance (1 January) plus, for every
  movement posted during the year, the rate times the movement times the whole months
  left in the year after the month it was posted, over 12 (posted in January: 11/12;
  posted in December: nothing). Claims are movements with a negative amount, so money
  paid out stops earning from the month after it left. In other words: the rate on the
  average of the twelve balances at the start of each month. This reproduces the worked
  example of docs/ledger.md ("Crediting returns").
* **Years.** A movement belongs to the year of its *posting* date. A year is closed (its
  return credited) once 31 December is on or before the balance date; the current year
  shows contributions and claims so far and no return yet.
* **Opening balance.** An account may start with a *saldo awal* on 1 January of a year
  (money carried over from before the rows the ledger holds); it earns like any balance.

>>> contribution_shares(4_000_000_00) == (148_000_00, 80_000_00)  # Rp4,000,000 wage
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

__all__ = [
    "JHT_EMPLOYER_PERCENT",
    "JHT_WORKER_PERCENT",
    "JP_EMPLOYER_PERCENT",
    "JP_WORKER_PERCENT",
    "JP_FIRST_PERIOD",
    "JP_WAGE_CAPS_SEN",
    "RETURN_RATES",
    "Claim",
    "ClaimKind",
    "Contribution",
    "JhtYear",
    "Period",
    "ReturnRate",
    "claim_amount",
    "contribution_shares",
    "jp_shares",
    "jp_wage_cap_sen",
    "percent_of",
    "return_on_month_sen",
    "return_rate",
    "returns_due",
    "roll_forward",
    "round_half_up_sen",
    "statement_years",
    "yearly_return_sen",
]

JHT_EMPLOYER_PERCENT = Decimal("3.7")
JHT_WORKER_PERCENT = Decimal(2)
JP_EMPLOYER_PERCENT = Decimal(2)
JP_WORKER_PERCENT = Decimal(1)

_MONTHS = 12


def round_half_up_sen(amount: Fraction | Decimal | int) -> int:
    """Round an exact amount of sen to a whole sen, ties away from zero.

    >>> round_half_up_sen(Fraction(5, 2)), round_half_up_sen(Fraction(-5, 2))
    (3, -3)
    >>> round_half_up_sen(Decimal("2.4999"))
    2
    """
    exact = Fraction(amount)
    return _divide_half_up(exact.numerator, exact.denominator)


def _divide_half_up(numerator: int, denominator: int) -> int:
    # Integer-only form of the one rounding rule: fast enough for bulk seeding, and exact.
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def percent_of(amount_sen: int, percent: Decimal) -> int:
    """``percent`` % of ``amount_sen``, rounded half-up to the sen.

    >>> percent_of(1_234_567_89, Decimal("3.7"))
    4567901
    """
    numerator, denominator = _ratio(percent)
    return _divide_half_up(amount_sen * numerator, denominator * 100)


@lru_cache(maxsize=1024)
def _ratio(percent: Decimal) -> tuple[int, int]:
    # Decimal.as_integer_ratio is slow next to the arithmetic; a bulk seed asks for the
    # same few rates millions of times.
    return percent.as_integer_ratio()


# -- contributions ------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    """A contribution month (BL-TH on a BPJS statement), written ``YYYY-MM``.

    >>> str(Period.parse("2020-01").next())
    '2020-02'
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= _MONTHS:
            raise ValueError(f"period month must be 1-12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        try:
            year, month = text.split("-")
            return cls(int(year), int(month))
        except ValueError:
            raise ValueError(f"period must be YYYY-MM, got {text!r}") from None

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def next(self) -> Period:
        if self.month == _MONTHS:
            return Period(self.year + 1, 1)
        return Period(self.year, self.month + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def contribution_shares(wage_sen: int) -> tuple[int, int]:
    """The employer's (3.7%) and the worker's (2%) JHT shares of a monthly wage, in sen."""
    if wage_sen < 0:
        raise ValueError(f"wage cannot be negative, got {wage_sen} sen")
    return percent_of(wage_sen, JHT_EMPLOYER_PERCENT), percent_of(wage_sen, JHT_WORKER_PERCENT)


# Jaminan Pensiun started with the July 2015 contributions (PP 45/2015).
JP_FIRST_PERIOD = Period(2015, 7)

# The JP wage cap (upah maksimum JP) by the year it was set, in sen. It is adjusted every
# year and takes effect in March. The BPJS rules only say a cap exists: these figures are
# the published BPJS announcements as remembered, not checked against a stored source [I].
# Years after the table keep its last cap.
JP_WAGE_CAPS_SEN: Mapping[int, int] = {
    2015: 7_000_000_00, 2016: 7_335_300_00, 2017: 7_703_500_00, 2018: 8_094_000_00,
    2019: 8_512_400_00, 2020: 8_754_600_00, 2021: 9_077_600_00, 2022: 9_077_600_00,
    2023: 9_559_600_00, 2024: 10_042_300_00, 2025: 10_547_400_00,
}
_JP_CAP_MONTH = 3  # a new cap applies from the March period


def jp_wage_cap_sen(period: Period) -> int:
    """The JP wage cap for a contribution period.

    >>> jp_wage_cap_sen(Period(2024, 2)), jp_wage_cap_sen(Period(2024, 3))
    (955960000, 1004230000)
    """
    if period < JP_FIRST_PERIOD:
        raise ValueError(f"no JP before {JP_FIRST_PERIOD}, asked for {period}")
    year = period.year if period.month >= _JP_CAP_MONTH else period.year - 1
    year = max(min(year, max(JP_WAGE_CAPS_SEN)), min(JP_WAGE_CAPS_SEN))
    return JP_WAGE_CAPS_SEN[year]


def jp_shares(period: Period, wage_sen: int) -> tuple[int, int]:
    """The employer's (2%) and worker's (1%) JP shares of a wage-earner's monthly wage,
    capped at the JP wage cap; nothing before JP existed.

    >>> jp_shares(Period(2020, 1), 4_000_000_00)  # the RSJHT sample: 80,000 / 40,000
    (8000000, 4000000)
    >>> jp_shares(Period(2015, 6), 4_000_000_00)
    (0, 0)
    """
    if wage_sen < 0:
        raise ValueError(f"wage cannot be negative, got {wage_sen} sen")
    if period < JP_FIRST_PERIOD:
        return 0, 0
    base = min(wage_sen, jp_wage_cap_sen(period))
    return percent_of(base, JP_EMPLOYER_PERCENT), percent_of(base, JP_WORKER_PERCENT)


@dataclass(frozen=True)
class Contribution:
    """One month's contribution (iuran) as posted to a participant's account.

    ``employer_sen`` and ``worker_sen`` are the JHT shares; the JP shares ride along on the
    same row, as on a BPJS statement, and are never part of a JHT balance.
    """

    period: Period
    wage_sen: int
    employer_sen: int
    worker_sen: int
    paid_on: date  # tgl setor: when the employer paid
    posted_on: date  # tgl posting: when it reached the account; counts from here
    jp_employer_sen: int = 0
    jp_worker_sen: int = 0

    @classmethod
    def for_wage(cls, period: Period, wage_sen: int, *, paid_on: date,
                 posted_on: date) -> Contribution:
        """A wage-earner's (PU) month: JHT 3.7% + 2% and, from July 2015, JP 2% + 1%."""
        employer, worker = contribution_shares(wage_sen)
        jp_employer, jp_worker = jp_shares(period, wage_sen)
        return cls(period, wage_sen, employer, worker, paid_on, posted_on, jp_employer,
                   jp_worker)

    @property
    def total_sen(self) -> int:
        return self.employer_sen + self.worker_sen


# -- claims ---------------------------------------------------------------------------


class ClaimKind(StrEnum):
    """JHT withdrawals: 10% (retirement preparation) or 30% (housing) after 10 years of
    membership; 100% at 56, after leaving work, and in the other cases the BPJS rules name."""

    PARTIAL_10 = "JHT_10"
    PARTIAL_30 = "JHT_30"
    FULL = "JHT_100"

    @property
    def percent(self) -> Decimal:
        return {"JHT_10": Decimal(10), "JHT_30": Decimal(30), "JHT_100": Decimal(100)}[self.value]


@dataclass(frozen=True)
class Claim:
    """Money paid out of the JHT balance."""

    kind: ClaimKind
    amount_sen: int
    paid_on: date  # also the posting date: the balance drops on that day


def claim_amount(balance_sen: int, kind: ClaimKind) -> int:
    """What a claim of ``kind`` pays out of ``balance_sen``.

    >>> claim_amount(1_000_005, ClaimKind.PARTIAL_10)
    100001
    """
    return percent_of(balance_sen, kind.percent)


# -- returns --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnRate:
    """A year's JHT return rate (tingkat hasil pengembangan), in percent a year.

    ``source`` says where the figure comes from; ``None`` marks a placeholder that keeps
    the demo plausible until a published rate replaces it.
    """

    year: int
    percent: Decimal
    source: str | None = None

    @property
    def is_placeholder(self) -> bool:
        return self.source is None


_SOURCED = "published credited rate"


def _rate_table() -> dict[int, ReturnRate]:
    # Placeholders (source None) are round, banded figures on purpose, so nobody takes them
    # for published ones. Bands follow the deposit-rate history only loosely (high late 90s,
    # falling since); the law sets the floor at the state banks' 12-month deposit rate.
    placeholder_bands = [
        (1993, 1997, "11.00"), (1998, 1998, "14.00"), (1999, 1999, "12.00"),
        (2000, 2004, "10.00"), (2005, 2010, "9.00"), (2012, 2015, "8.00"),
        (2017, 2019, "6.50"), (2021, 2026, "5.50"),
    ]
    table: dict[int, ReturnRate] = {}
    for first, last, percent in placeholder_bands:
        for year in range(first, last + 1):
            table[year] = ReturnRate(year, Decimal(percent))
    # Published credited rates (pasardana 2017, semarak.co,
    # pikiran-rakyat 2021, solopos, beritakota.id 2022).
    table[2011] = ReturnRate(2011, Decimal("10.10"), _SOURCED + " (Jamsostek era)")
    table[2016] = ReturnRate(2016, Decimal("7.19"), _SOURCED)
    table[2020] = ReturnRate(2020, Decimal("5.63"), _SOURCED)
    return dict(sorted(table.items()))


RETURN_RATES: Mapping[int, ReturnRate] = _rate_table()


def return_rate(year: int, rates: Mapping[int, ReturnRate] = RETURN_RATES) -> ReturnRate:
    """The rate credited for ``year``.

    Years after the table reuse its last rate, as a placeholder, so that a ledger seeded in
    a later year still works; years before it are an error (JHT/Jamsostek starts in 1993).

    >>> return_rate(2016).percent, return_rate(2016).is_placeholder
    (Decimal('7.19'), False)
    >>> return_rate(2040).is_placeholder
    True
    """
    if year in rates:
        return rates[year]
    last = max(rates)
    if year > last:
        return ReturnRate(year, rates[last].percent)
    raise ValueError(f"no JHT return rate for {year} (the table starts in {min(rates)})")


def yearly_return_sen(opening_sen: int, movements: Iterable[tuple[date, int]],
                      rate: ReturnRate) -> int:
    """A year's return: the rate on the opening balance plus, on each movement
    ``(posted_on, amount_sen)``, the rate for the whole months left after its posting
    month (see the module docstring). One half-up rounding at the end.

    The worked example of docs/ledger.md: Rp8,747,720 on 1 January, Rp228,000 each month, 5.63%:

    >>> monthly = [(date(2020, m, 15), 228_000_00) for m in range(1, 13)]
    >>> yearly_return_sen(8_747_720_00, monthly, ReturnRate(2020, Decimal("5.63")))
    56309684

    That is Rp563,096.84: Rp492,496.64 on the opening balance + Rp70,600.20 on the months.
    """
    weighted_months = opening_sen * _MONTHS  # sen x months: integers, no rounding yet
    for posted_on, amount_sen in movements:
        if posted_on.year != rate.year:
            raise ValueError(f"a movement posted on {posted_on} is not in year {rate.year}")
        weighted_months += amount_sen * (_MONTHS - posted_on.month)
    return return_on_month_sen(weighted_months, rate)


def return_on_month_sen(weighted_months_sen: int, rate: ReturnRate) -> int:
    """The return on a year's sum of month-start balances (sen x months, as
    ``yearly_return_sen`` adds them up): rate x sum / 12, rounded half-up once. The bulk
    seeder adds the months up its own, faster way and calls this, so the rule is one.

    >>> return_on_month_sen(12 * 1_200_00, ReturnRate(2020, Decimal(10)))
    12000
    """
    numerator, denominator = _ratio(rate.percent)
    return _divide_half_up(weighted_months_sen * numerator, denominator * 100 * _MONTHS)


# -- years ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JhtYear:
    """One year of a JHT account: opening + contributions + returns - claims = closing.

    ``rate`` and ``credited_on`` are set for a closed year only (its return is credited
    on 31 December); for the current year ``closing_sen`` is the balance so far.
    """

    year: int
    opening_sen: int
    contributions_sen: int
    returns_sen: int
    claims_sen: int
    closing_sen: int
    rate: ReturnRate | None = None
    credited_on: date | None = None

    @property
    def closed(self) -> bool:
        return self.credited_on is not None


def roll_forward(contributions: Sequence[Contribution], claims: Sequence[Claim], *,
                 first_year: int, as_of: date, opening_sen: int = 0,
                 rates: Mapping[int, ReturnRate] = RETURN_RATES) -> tuple[JhtYear, ...]:
    """Year by year from ``first_year`` (opening balance ``opening_sen`` on its 1 January)
    to the year of ``as_of``, crediting every year closed by ``as_of``.

    Every movement must be posted between 1 January of ``first_year`` and ``as_of``.
    """
    movements: dict[int, list[tuple[date, int]]] = {}
    for c in contributions:
        movements.setdefault(c.posted_on.year, []).append((c.posted_on, c.total_sen))
    for k in claims:
        movements.setdefault(k.paid_on.year, []).append((k.paid_on, -k.amount_sen))
    for day, _ in (m for year_moves in movements.values() for m in year_moves):
        if not date(first_year, 1, 1) <= day <= as_of:
            raise ValueError(f"a movement posted on {day} is outside {first_year}-01-01..{as_of}")

    years: list[JhtYear] = []
    opening = opening_sen
    for year in range(first_year, as_of.year + 1):
        moves = movements.get(year, [])
        paid_in = sum(amount for _, amount in moves if amount > 0)
        paid_out = -sum(amount for _, amount in moves if amount < 0)
        year_end = date(year, 12, 31)
        if year_end <= as_of:
            rate = return_rate(year, rates)
            returns = yearly_return_sen(opening, moves, rate)
            closing = opening + paid_in + returns - paid_out
            years.append(JhtYear(year, opening, paid_in, returns, paid_out, closing, rate,
                                 year_end))
        else:
            closing = opening + paid_in - paid_out
            years.append(JhtYear(year, opening, paid_in, 0, paid_out, closing))
        opening = closing
    return tuple(years)


# -- statements from stored rows ------------------------------------------------------


def _by_year(movements: Iterable[tuple[date, int]], first_year: int,
             last_year: int) -> dict[int, list[tuple[date, int]]]:
    years: dict[int, list[tuple[date, int]]] = {}
    for day, amount in movements:
        if not first_year <= day.year <= last_year:
            raise ValueError(f"a movement posted on {day} is outside {first_year}-{last_year}")
        years.setdefault(day.year, []).append((day, amount))
    return years


def statement_years(*, first_year: int, last_year: int, opening_sen: int,
                    movements: Iterable[tuple[date, int]],
                    credited: Mapping[int, tuple[ReturnRate, int]]) -> tuple[JhtYear, ...]:
    """An account's years as the ledger stored them: ``opening_sen`` on 1 January of
    ``first_year``, every movement ``(posted_on, amount_sen)`` (contributions positive,
    claims negative) and the returns ``credited`` by year. Nothing is computed but sums,
    so the last closing equals what the rows add up to.

    >>> years = statement_years(first_year=2020, last_year=2021, opening_sen=100,
    ...     movements=[(date(2021, 3, 12), 50)],
    ...     credited={2020: (ReturnRate(2020, Decimal(10)), 10)})
    >>> [(y.year, y.opening_sen, y.returns_sen, y.closing_sen) for y in years]
    [(2020, 100, 10, 110), (2021, 110, 0, 160)]
    """
    for year in credited:
        if not first_year <= year <= last_year:
            raise ValueError(f"a return credited for {year} is outside {first_year}-{last_year}")
    by_year = _by_year(movements, first_year, last_year)
    years: list[JhtYear] = []
    opening = opening_sen
    for year in range(first_year, last_year + 1):
        moves = by_year.get(year, [])
        paid_in = sum(amount for _, amount in moves if amount > 0)
        paid_out = -sum(amount for _, amount in moves if amount < 0)
        rate, returns = credited.get(year, (None, 0))
        closing = opening + paid_in + returns - paid_out
        years.append(JhtYear(year, opening, paid_in, returns, paid_out, closing, rate,
                             None if rate is None else date(year, 12, 31)))
        opening = closing
    return tuple(years)


def returns_due(*, first_year: int, opening_sen: int, movements: Iterable[tuple[date, int]],
                credited: Mapping[int, int], through: date,
                rates: Mapping[int, ReturnRate] = RETURN_RATES) -> dict[int, tuple[ReturnRate,
                                                                                    int]]:
    """The returns still to credit: every year closed by ``through`` (31 December on or
    before it) that has no return in ``credited`` yet, each computed by the crediting rule
    on an opening that includes the returns due before it.

    >>> due = returns_due(first_year=2020, opening_sen=1_200_00, movements=[],
    ...                   credited={}, through=date(2021, 1, 12),
    ...                   rates={2020: ReturnRate(2020, Decimal(10))})
    >>> {year: amount for year, (_, amount) in due.items()}
    {2020: 12000}
    """
    by_year = _by_year(movements, first_year, through.year)
    due: dict[int, tuple[ReturnRate, int]] = {}
    opening = opening_sen
    for year in range(first_year, through.year + 1):
        moves = by_year.get(year, [])
        if year in credited:
            returns = credited[year]
        elif date(year, 12, 31) <= through:
            rate = return_rate(year, rates)
            returns = yearly_return_sen(opening, moves, rate)
            due[year] = (rate, returns)
        else:
            returns = 0
        opening += sum(amount for _, amount in moves) + returns
    return due
