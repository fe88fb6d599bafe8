"""JHT arithmetic: contributions, returns, claims and rounding, in integer sen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest

from bpjs_ledger.jht import (
    RETURN_RATES,
    Claim,
    ClaimKind,
    Contribution,
    Period,
    ReturnRate,
    claim_amount,
    contribution_shares,
    jp_shares,
    percent_of,
    return_rate,
    returns_due,
    roll_forward,
    round_half_up_sen,
    statement_years,
    yearly_return_sen,
)
from bpjs_ledger.records import Segment, contribution_for

RATE_10 = ReturnRate(2020, Decimal(10))


def test_statement_sample_contribution() -> None:
    # A published RSJHT statement: wage Rp4,000,000 -> Rp148,000 + Rp80,000.
    employer, worker = contribution_shares(4_000_000_00)

    assert (employer, worker) == (148_000_00, 80_000_00)
    assert employer + worker == 228_000_00  # 5.7%


@pytest.mark.parametrize(("amount", "percent", "expected"), [
    (25, "2", 1),  # 0.50 sen: a tie rounds up
    (75, "2", 2),  # 1.50 sen
    (74, "2", 1),  # 1.48 sen
    (1350, "3.7", 50),  # 49.95 sen
    (1_234_567_89, "3.7", 4_567_901),  # 4,567,900.93 sen
])
def test_percentages_round_half_up_to_the_sen(amount: int, percent: str, expected: int) -> None:
    assert percent_of(amount, Decimal(percent)) == expected


def test_rounding_is_symmetric_for_negative_amounts() -> None:
    assert round_half_up_sen(Fraction(-5, 2)) == -3
    assert round_half_up_sen(Fraction(-7, 3)) == -2
    assert round_half_up_sen(Decimal("2.5")) == 3


def test_contribution_shares_are_rounded_separately() -> None:
    # 3.7% of 1,350 sen = 49.95 -> 50; 2% = 27.00: one rounding per share.
    contribution = Contribution.for_wage(Period(2020, 1), 1350, paid_on=date(2020, 2, 10),
                                         posted_on=date(2020, 2, 12))

    assert (contribution.employer_sen, contribution.worker_sen, contribution.total_sen) == (
        50, 27, 77)


def test_worked_example_of_the_domain_notes() -> None:
    # Rp8,747,720 on 1 January 2020, Rp228,000 posted every month, 5.63%.
    monthly = [(date(2020, m, 15), 228_000_00) for m in range(1, 13)]

    returns = yearly_return_sen(8_747_720_00, monthly, return_rate(2020))

    assert returns == 563_096_84  # 492,496.64 + 70,600.20 rupiah


def test_a_movement_earns_for_the_whole_months_after_its_posting_month() -> None:
    opening_only = yearly_return_sen(1_200_00, [], RATE_10)
    january = yearly_return_sen(0, [(date(2020, 1, 31), 1_200_00)], RATE_10)
    june = yearly_return_sen(0, [(date(2020, 6, 1), 1_200_00)], RATE_10)
    december = yearly_return_sen(0, [(date(2020, 12, 1), 1_200_00)], RATE_10)

    assert (opening_only, january, june, december) == (120_00, 110_00, 60_00, 0)


def test_a_claim_stops_earning_after_its_month() -> None:
    # 12,000 rupiah on 1 January, 6,000 paid out in April: the balance at the start of
    # January-April is 12,000, of May-December 6,000 -> 10% of (12,000 x 4 + 6,000 x 8) / 12.
    returns = yearly_return_sen(12_000_00, [(date(2020, 4, 20), -6_000_00)], RATE_10)

    assert returns == 800_00


def test_year_return_is_rounded_once() -> None:
    # 1 sen at 10% = 0.1 sen per movement; rounding each would give 0, once gives 1.
    moves = [(date(2020, 1, 5), 1)] * 6  # each earns 1 x 10% x 11/12 = 0.0917 sen

    assert yearly_return_sen(0, moves, RATE_10) == 1  # 0.55 sen, half-up


def test_movement_outside_the_rate_year_is_refused() -> None:
    with pytest.raises(ValueError, match="not in year 2020"):
        yearly_return_sen(0, [(date(2021, 1, 5), 100)], RATE_10)


def test_claims_pay_their_percentage() -> None:
    assert claim_amount(1_000_005, ClaimKind.PARTIAL_10) == 100_001  # 100,000.5 -> up
    assert claim_amount(1_000_000, ClaimKind.PARTIAL_30) == 300_000
    assert claim_amount(1_000_000, ClaimKind.FULL) == 1_000_000


def test_sourced_rates_are_the_published_ones_and_the_rest_are_marked() -> None:
    sourced = {year: rate.percent for year, rate in RETURN_RATES.items()
               if not rate.is_placeholder}

    assert sourced == {2011: Decimal("10.10"), 2016: Decimal("7.19"), 2020: Decimal("5.63")}
    assert all(isinstance(r.percent, Decimal) for r in RETURN_RATES.values())
    assert return_rate(2019).is_placeholder


def test_rates_beyond_the_table_are_placeholders_and_before_it_an_error() -> None:
    last = max(RETURN_RATES)

    assert return_rate(last + 5).percent == RETURN_RATES[last].percent
    assert return_rate(last + 5).is_placeholder
    with pytest.raises(ValueError, match="1993"):
        return_rate(1990)


def _monthly(year: int, amount_sen: int, months: range) -> list[Contribution]:
    return [Contribution(Period(year, m), 0, amount_sen, 0, date(year, m, 10), date(year, m, 12))
            for m in months]


def test_roll_forward_balances_every_year() -> None:
    contributions = _monthly(2019, 100_000_00, range(3, 13)) + _monthly(2020, 100_000_00,
                                                                       range(1, 13))
    contributions += _monthly(2021, 100_000_00, range(1, 7))
    claims = [Claim(ClaimKind.PARTIAL_10, 50_000_00, date(2021, 3, 1))]

    years = roll_forward(contributions, claims, first_year=2019, as_of=date(2021, 6, 30))

    assert [y.year for y in years] == [2019, 2020, 2021]
    assert years[0].opening_sen == 0
    for before, after in pairwise(years):
        assert after.opening_sen == before.closing_sen
    y2020 = years[1]
    assert y2020.contributions_sen == 1_200_000_00
    assert y2020.rate == return_rate(2020) and y2020.credited_on == date(2020, 12, 31)
    assert y2020.returns_sen == yearly_return_sen(
        y2020.opening_sen, [(c.posted_on, c.total_sen) for c in contributions[10:22]],
        return_rate(2020))
    y2021 = years[2]
    assert not y2021.closed and y2021.returns_sen == 0  # credited on 31 December only
    assert (y2021.contributions_sen, y2021.claims_sen) == (600_000_00, 50_000_00)
    assert y2021.closing_sen == y2021.opening_sen + 600_000_00 - 50_000_00


def test_roll_forward_refuses_movements_after_the_balance_date() -> None:
    with pytest.raises(ValueError, match="outside"):
        roll_forward(_monthly(2020, 100, range(1, 13)), [], first_year=2020,
                     as_of=date(2020, 6, 30))


def test_period_text() -> None:
    assert str(Period(2020, 1)) == "2020-01"
    assert Period.parse("2019-12").next() == Period(2020, 1)
    with pytest.raises(ValueError, match="1-12"):
        Period(2020, 13)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period.parse("2020/01")


def test_return_is_credited_on_the_last_day_of_the_year() -> None:
    contributions = _monthly(2020, 100_000_00, range(1, 13))

    on_30_december = roll_forward(contributions, [], first_year=2020, as_of=date(2020, 12, 30))
    on_31_december = roll_forward(contributions, [], first_year=2020, as_of=date(2020, 12, 31))

    assert not on_30_december[-1].closed and on_30_december[-1].returns_sen == 0
    assert on_31_december[-1].closed and on_31_december[-1].returns_sen > 0
    assert on_31_december[-1].closing_sen == 1_200_000_00 + on_31_december[-1].returns_sen


# -- JP, segments, opening balances, statements and crediting -------------------------


def test_jp_shares_follow_the_statement_sample_and_the_cap() -> None:
    # RSJHT sample: wage Rp4,000,000 -> JP 80,000 (employer) + 40,000 (worker).
    assert jp_shares(Period(2020, 1), 4_000_000_00) == (80_000_00, 40_000_00)
    # Above the cap only the cap counts; a new cap applies from the March period.
    assert jp_shares(Period(2024, 2), 20_000_000_00) == (191_192_00, 95_596_00)
    assert jp_shares(Period(2024, 3), 20_000_000_00) == (200_846_00, 100_423_00)
    assert jp_shares(Period(2015, 6), 4_000_000_00) == (0, 0)  # before JP existed
    assert jp_shares(Period(2015, 7), 4_000_000_00) == (80_000_00, 40_000_00)


def test_a_wage_earners_month_carries_jp_but_jp_is_not_jht() -> None:
    month = Contribution.for_wage(Period(2020, 1), 4_000_000_00, paid_on=date(2020, 2, 10),
                                  posted_on=date(2020, 2, 12))

    assert (month.jp_employer_sen, month.jp_worker_sen) == (80_000_00, 40_000_00)
    assert month.total_sen == 228_000_00  # JHT only


def test_segments_pay_their_own_contributions() -> None:
    days = {"paid_on": date(2024, 2, 10), "posted_on": date(2024, 2, 12)}
    pu = contribution_for(Segment.PU, Period(2024, 1), 3_000_000_00, **days)
    bpu = contribution_for(Segment.BPU, Period(2024, 1), 3_000_000_00, **days)
    pmi = contribution_for(Segment.PMI, Period(2024, 1), 3_000_000_00, **days)

    assert (pu.employer_sen, pu.worker_sen, pu.jp_employer_sen) == (111_000_00, 60_000_00,
                                                                    60_000_00)
    assert (bpu.employer_sen, bpu.worker_sen, bpu.jp_employer_sen) == (0, 60_000_00, 0)
    assert pmi == bpu
    with pytest.raises(ValueError, match="JAKON has no JHT"):
        contribution_for(Segment.JAKON, Period(2024, 1), 3_000_000_00, **days)


def test_an_opening_balance_earns_from_its_first_january() -> None:
    years = roll_forward(_monthly(2020, 100_000_00, range(1, 13)), [], first_year=2020,
                         as_of=date(2020, 12, 31), opening_sen=1_200_000_00,
                         rates={2020: RATE_10})

    assert years[0].opening_sen == 1_200_000_00
    assert years[0].returns_sen == 120_000_00 + yearly_return_sen(
        0, [(date(2020, m, 12), 100_000_00) for m in range(1, 13)], RATE_10)


def test_statement_years_only_add_up_what_is_stored() -> None:
    moves = [(date(2020, 3, 12), 100_00), (date(2020, 5, 2), -30_00), (date(2022, 1, 12), 50_00)]

    years = statement_years(first_year=2020, last_year=2022, opening_sen=1_000_00,
                            movements=moves, credited={2020: (RATE_10, 7_00)})

    assert [(y.year, y.opening_sen, y.contributions_sen, y.returns_sen, y.claims_sen,
             y.closing_sen) for y in years] == [
        (2020, 1_000_00, 100_00, 7_00, 30_00, 1_077_00),
        (2021, 1_077_00, 0, 0, 0, 1_077_00),  # no return stored for 2021: none shown
        (2022, 1_077_00, 50_00, 0, 0, 1_127_00)]
    assert years[0].closed and not years[1].closed
    with pytest.raises(ValueError, match="outside"):
        statement_years(first_year=2021, last_year=2022, opening_sen=0, movements=moves,
                        credited={})


def test_returns_due_compound_year_after_year() -> None:
    rates = {2020: RATE_10, 2021: ReturnRate(2021, Decimal(10))}

    due = returns_due(first_year=2020, opening_sen=1_000_00, movements=[],
                      credited={}, through=date(2022, 1, 12), rates=rates)
    some_credited = returns_due(first_year=2020, opening_sen=1_000_00, movements=[],
                                credited={2020: 100_00}, through=date(2022, 1, 12), rates=rates)
    mid_year = returns_due(first_year=2020, opening_sen=1_000_00, movements=[],
                           credited={2020: 100_00}, through=date(2021, 12, 30), rates=rates)

    assert {y: amount for y, (_, amount) in due.items()} == {2020: 100_00, 2021: 110_00}
    assert {y: amount for y, (_, amount) in some_credited.items()} == {2021: 110_00}
    assert mid_year == {}  # 2021 closes on 31 December, not before
