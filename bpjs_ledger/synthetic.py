"""Reproducible synthetic participants for scale: ``atmsim ledger seed --participants N``.

The same ``(seed, as_of)`` gives the same participant number ``i`` and the same rows on
every machine, however many participants are asked for and however the work is split:
participant ``i`` is drawn from the random stream of its chunk of ``CHUNK_SIZE``
(``random.Random`` seeded with a string, which Python hashes the same everywhere).

What a participant looks like (plausible, not sourced; the BPJS rules in
docs/ledger.md are the ones used, the proportions are ours):

* **Identity.** KPJ ``20000000000 + 7919 i``: 11 digits, unique, and never a demo KPJ
  (those start with 0 or 1). NIK: a random province, then regency, district and serial
  taken from ``i`` (so no two synthetic NIKs are equal), and the birth date with 40 added
  to the day for women. Names are common Indonesian given and family names.
* **Segment.** 75% PU (participants ``40 e`` to ``40 e + 39`` work for employer ``e``,
  NPP ``20000000 + e``), 17% BPU, 8% PMI; contributions per ``records.contribution_for``.
* **Membership.** Joined between January 1993 and the balance month, recent years more
  often; aged 18-45 on joining. Wages start at a reference wage for the joining year
  (Rp200,000 in 1993, raised like the demo wages) times 1-3 (PU) or 0.7-1.5 (BPU/PMI
  income), then rise every January by ``demo.wage_growth_percent``.
* **Status.** NONAKTIF at 56 ("Usia pensiun", then a 100% claim a month later), or for
  one in five otherwise ("Berhenti bekerja" for PU, most of whom claim 100% after the
  one-month wait; "Menunggak iuran" for BPU/PMI). After 10 years of membership one in ten
  takes the 10% claim and one in 25 the 30% claim.
* **Rows kept.** Monthly rows, returns and claims from 1 January of the year before the
  balance date (the two years a JMO statement shows) on; what came before is one opening
  balance (*saldo awal*) on that 1 January, computed by the same rules year by year. A
  participant who joined later has every row from the start.

Money follows ``bpjs_ledger.jht`` exactly: ``evaluate`` adds each year's contributions up
in closed form (a wage is the same for every month of a year) instead of month by month,
and ``reference_history`` builds the same participant the slow, obvious way with
``jht.roll_forward``; the tests hold the two equal.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_PARTICIPANTS
from bpjs_ledger.demo import WAGE_STEP_SEN, round_to_step, wage_series_sen
from bpjs_ledger.identity import PROVINCE_CODES, Kpj, Nik
from bpjs_ledger.jht import (
    JHT_EMPLOYER_PERCENT,
    JHT_WORKER_PERCENT,
    Claim,
    ClaimKind,
    Period,
    ReturnRate,
    claim_amount,
    jp_shares,
    percent_of,
    return_on_month_sen,
    return_rate,
    roll_forward,
)
from bpjs_ledger.records import (
    Employer,
    Participant,
    ParticipantHistory,
    Segment,
    Status,
    contribution_for,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_PARTICIPANTS",
    "COLUMNS",
    "ChunkRows",
    "SyntheticPerson",
    "check_as_of",
    "detail_start_year",
    "draw_people",
    "employer_count",
    "employers",
    "evaluate",
    "generate_chunk",
    "reference_history",
    "synthetic_kpj",
]

CHUNK_SIZE = 10_000  # part of the reproducibility contract: do not change lightly
_KPJ_BASE = 20_000_000_000
_KPJ_STEP = 7_919  # a prime: consecutive KPJs do not look consecutive
MAX_PARTICIPANTS = (99_999_999_999 - _KPJ_BASE) // _KPJ_STEP  # ~10 million
_NPP_BASE = 20_000_000
_PARTICIPANTS_PER_EMPLOYER = 40
_FIRST_YEAR = 1993  # Jamsostek JHT; the rate table starts here
_PAID_ON_DAY = 10  # of the month after the period, as in the demo data
_POSTED_ON_DAY = 12
_PENSION_AGE = 56
_DETAIL_YEARS = 2  # the balance year and the one before it are kept row by row

_PROVINCES = tuple(PROVINCE_CODES)
_DEMO_NIKS = frozenset({p.nik for p in DEMO_PARTICIPANTS} | {c.nik for c in DEMO_CARDS})

_GIVEN_L = ("Agus", "Ahmad", "Andi", "Arif", "Bambang", "Bayu", "Budi", "Dedi", "Dimas", "Eko",
            "Fajar", "Gede", "Hadi", "Hendra", "Irfan", "Iwan", "Joko", "Made", "Muhammad",
            "Nyoman", "Putu", "Rahmat", "Rizky", "Slamet", "Teguh", "Ujang", "Wahyu", "Yusuf")
_GIVEN_P = ("Ani", "Ayu", "Dewi", "Dian", "Eka", "Endang", "Fitri", "Ika", "Indah", "Kartika",
            "Kurnia", "Lestari", "Lina", "Maya", "Novi", "Nur", "Putri", "Ratna", "Rina",
            "Sari", "Siti", "Sri", "Tri", "Wati", "Wulan", "Yuni")
_FAMILY = ("Firmansyah", "Gunawan", "Harahap", "Hartono", "Hasibuan", "Hidayat", "Kusuma",
           "Lubis", "Maulana", "Nasution", "Nugroho", "Permana", "Pratama", "Prasetyo",
           "Purnomo", "Rahman", "Ramadhan", "Santoso", "Saputra", "Setiawan", "Simanjuntak",
           "Siregar", "Sitompul", "Sulistyo", "Suryadi", "Susanto", "Syahputra", "Utomo",
           "Wibowo", "Wijaya")
_EMPLOYER_WORDS = ("ABADI", "AGUNG", "ANUGRAH", "BAHARI", "BERKAH", "CAHAYA", "DUTA", "GEMILANG",
                   "INDAH", "JAYA", "KARYA", "LESTARI", "MAJU", "MANDIRI", "MULIA", "NUSANTARA",
                   "PERKASA", "PRIMA", "SEJAHTERA", "SENTOSA", "SINAR", "SUMBER", "TEKNIK",
                   "UTAMA")
_EMPLOYER_TRADES = ("LOGISTIK", "TEKSTIL", "KONSTRUKSI", "PANGAN", "ELEKTRONIK", "FARMASI",
                    "PERKEBUNAN", "RETAIL", "OTOMOTIF", "PERCETAKAN", "KIMIA", "MEBEL")


def synthetic_kpj(index: int) -> str:
    """The KPJ of synthetic participant ``index``.

    >>> synthetic_kpj(0), synthetic_kpj(1)
    ('20000000000', '20000007919')
    """
    if not 0 <= index < MAX_PARTICIPANTS:
        raise ValueError(f"participant index must be 0-{MAX_PARTICIPANTS - 1}, got {index}")
    return str(_KPJ_BASE + _KPJ_STEP * index)


def employer_count(participants: int) -> int:
    return max(1, -(-participants // _PARTICIPANTS_PER_EMPLOYER))


def employers(seed: int, count: int) -> Iterator[Employer]:
    """The synthetic employers: NPP ``20000000 + e`` and a name drawn from ``seed``."""
    rng = random.Random(f"atmsim-ledger:{seed}:employers")
    for number in range(count):
        form = "PT" if rng.random() < 0.8 else "CV"
        words = rng.sample(_EMPLOYER_WORDS, 2)
        yield Employer(f"{_NPP_BASE + number:08d}",
                       f"{form} {words[0]} {words[1]} {rng.choice(_EMPLOYER_TRADES)}")


def check_as_of(as_of: date) -> None:
    """Refuse a balance date the synthetic data cannot have (before JHT existed)."""
    if as_of < date(_FIRST_YEAR, 2, 1):
        raise ValueError(f"synthetic participants join from {_FIRST_YEAR} on: --as-of must "
                         f"be {_FIRST_YEAR}-02-01 or later, got {as_of}")


def detail_start_year(as_of: date) -> int:
    """The first year kept row by row (earlier years are an opening balance)."""
    return as_of.year - (_DETAIL_YEARS - 1)


# -- drawing people -------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticPerson:
    """One synthetic participant as drawn: who they are, which months they paid for, on
    what wage, and which claims they made (their amounts follow from the balance)."""

    index: int
    participant: Participant
    first_month: int  # month index (12 * year + month - 1) of the first contribution
    last_month: int  # of the last one posted by the balance date; < first_month: none
    wages: dict[int, int]  # monthly wage (PU) or reported income (BPU, PMI) by year
    claims: tuple[tuple[ClaimKind, date], ...] = field(default=())


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _reference_wages(until: int) -> dict[int, int]:
    return wage_series_sen(200_000_00, _FIRST_YEAR, until)


def draw_people(seed: int, chunk: int, as_of: date, participants: int) -> list[SyntheticPerson]:
    """The synthetic participants of ``chunk`` (indices ``CHUNK_SIZE * chunk`` on, fewer
    in the last chunk) out of ``participants``, as of ``as_of``."""
    first = chunk * CHUNK_SIZE
    last = min(first + CHUNK_SIZE, participants)
    if not 0 <= first < last <= MAX_PARTICIPANTS:
        raise ValueError(f"chunk {chunk} is outside 0-{participants - 1} participants")
    check_as_of(as_of)
    rng = random.Random(f"atmsim-ledger:{seed}:{chunk}")
    reference = _reference_wages(as_of.year)
    return [_draw(rng, index, as_of, reference) for index in range(first, last)]


def _draw(rng: random.Random, index: int, as_of: date,
          reference: dict[int, int]) -> SyntheticPerson:
    r = rng.random()
    segment = Segment.PU if r < 0.75 else Segment.BPU if r < 0.92 else Segment.PMI
    woman = rng.random() < 0.5
    latest = _month_index(as_of)
    earliest = _FIRST_YEAR * 12
    joined = latest - int(rng.random() ** 1.6 * (latest - earliest + 1))
    member_since = _month_start(joined)
    age_at_joining = 18 + int(rng.random() ** 1.5 * 28)
    born = date(member_since.year - age_at_joining, rng.randint(1, 12), rng.randint(1, 28))
    nik = _nik(index, rng.choice(_PROVINCES), born, woman)
    given = rng.choice(_GIVEN_P if woman else _GIVEN_L)
    name = f"{given} {rng.choice(_FAMILY)}"
    factor = rng.random()
    employer = None
    if segment is Segment.PU:
        # Neighbours by number share an employer: it does not depend on how many
        # participants are drawn, so participant i is the same in every seed size.
        number = index // _PARTICIPANTS_PER_EMPLOYER
        employer = Employer(f"{_NPP_BASE + number:08d}", "")  # the name lives in employers
        start_wage = reference[member_since.year] * (100 + int(factor * 200)) // 100
    else:
        start_wage = reference[member_since.year] * (70 + int(factor * 80)) // 100
    start_wage = max(WAGE_STEP_SEN, round_to_step(start_wage, WAGE_STEP_SEN))

    status, inactive_since, reason = Status.AKTIF, None, None
    claims: list[tuple[ClaimKind, date]] = []
    pension_day = _add_years(born, _PENSION_AGE)
    r_status, r_when, r_partial = rng.random(), rng.random(), rng.random()
    if pension_day <= as_of:
        status, inactive_since, reason = Status.NONAKTIF, pension_day, "Usia pensiun"
        claims.append((ClaimKind.FULL, _claim_day(pension_day + timedelta(days=35))))
    elif r_status < 0.20 and (as_of - member_since).days > 120:
        span = (as_of - member_since).days - 91
        inactive_since = member_since + timedelta(days=91 + int(r_when * span))
        status = Status.NONAKTIF
        if segment is Segment.PU:
            reason = "Berhenti bekerja"
            if r_partial < 0.6:  # most claim everything once the one-month wait is over
                claims.append((ClaimKind.FULL, _claim_day(
                    inactive_since + timedelta(days=35 + int(r_partial * 100)))))
        else:
            reason = "Menunggak iuran"
    ten_years = _add_years(member_since, 10)
    open_until = inactive_since or as_of
    if ten_years < open_until and r_partial < 0.14 and not any(
            kind is ClaimKind.FULL for kind, _ in claims):
        kind = ClaimKind.PARTIAL_10 if r_partial < 0.10 else ClaimKind.PARTIAL_30
        day = ten_years + timedelta(days=int(rng.random() * (open_until - ten_years).days))
        claims.insert(0, (kind, _claim_day(day)))
    claims = [(kind, day) for kind, day in claims if day <= as_of]

    # The last month posted by as_of (posted on the 12th of the next month), and none
    # after the month in which the participant became inactive.
    last = latest - 1 if as_of.day >= _POSTED_ON_DAY else latest - 2
    if inactive_since is not None:
        last = min(last, _month_index(inactive_since))
    wages = _wages(start_wage, member_since.year, as_of.year)
    participant = Participant(
        kpj=Kpj(synthetic_kpj(index)), nik=nik, name=name, segment=segment, status=status,
        member_since=member_since, employer=employer, inactive_since=inactive_since,
        inactive_reason=reason)
    return SyntheticPerson(index, participant, joined, last, wages, tuple(claims))


@lru_cache(maxsize=1 << 16)
def _wages(start_wage: int, first_year: int, until: int) -> dict[int, int]:
    # Start wages fall on a grid (whole thousands, whole percent of a reference wage), so
    # many participants share a series; the dict is shared read-only.
    return wage_series_sen(start_wage, first_year, max(first_year, until))


@lru_cache(maxsize=1 << 16)
def _amounts(segment: Segment, start_wage: int, first_year: int,
             until: int) -> dict[int, int]:
    return {year: sum(_jht_per_month(segment, wage))
            for year, wage in _wages(start_wage, first_year, until).items()}


def _nik(index: int, province: str, born: date, woman: bool) -> Nik:
    serial = index % 9999 + 1
    rest = index // 9999
    district, regency = rest % 99 + 1, rest // 99 % 99 + 1
    day = born.day + 40 if woman else born.day
    for offset in range(len(_PROVINCES)):
        code = _PROVINCES[(_PROVINCES.index(province) + offset) % len(_PROVINCES)]
        text = (f"{code}{regency:02d}{district:02d}{day:02d}{born.month:02d}"
                f"{born.year % 100:02d}{serial:04d}")
        if text not in _DEMO_NIKS:  # a demo participant's NIK stays theirs alone
            return Nik(text, born, "P" if woman else "L")
    raise AssertionError("every province gave a demo NIK")  # cannot happen: 38 > 6


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _claim_day(day: date) -> date:
    # Claims are paid on working days 1-28: never 31 December, when a year closes.
    return day if day.day <= 28 else day.replace(day=28)


# -- money, fast ----------------------------------------------------------------------


def _jht_per_month(segment: Segment, wage: int) -> tuple[int, int]:
    if segment is Segment.PU:
        return percent_of(wage, JHT_EMPLOYER_PERCENT), percent_of(wage, JHT_WORKER_PERCENT)
    return 0, percent_of(wage, JHT_WORKER_PERCENT)


@dataclass
class _Account:
    """A person's money by year, from ``evaluate``."""

    opening: dict[int, int]  # 1 January balance by year
    returns: dict[int, int]  # credited on 31 December (closed years only)
    claims: list[tuple[ClaimKind, date, int]]
    closing: int


def _posted_in(year: int, upto_month: int, first: int, last: int,
               amount: dict[int, int]) -> tuple[int, int]:
    """The contributions posted in ``year`` in months 1..``upto_month``: their sum and
    their sum weighted by the whole months left in the year after each posting month.

    The posting of month M carries period M-1 (January carries the previous December),
    and one year's periods all have the same amount, so both sums have a closed form.
    """
    base = year * 12
    low = max(1, first - base + 2)
    high = min(upto_month, last - base + 2)
    if low > high:
        return 0, 0
    total = weighted = 0
    if low == 1:  # January: last year's December, 11 months left
        total, weighted = amount[year - 1], amount[year - 1] * 11
        low = 2
    if low <= high:
        count = high - low + 1
        total += amount[year] * count
        weighted += amount[year] * (12 * count - (low + high) * count // 2)
    return total, weighted


def evaluate(person: SyntheticPerson, as_of: date) -> _Account:
    """The person's opening balance, returns, claims and closing balance by year."""
    p = person.participant
    first_year = p.member_since.year
    amount = _amounts(p.segment, person.wages[first_year], first_year, as_of.year)
    opening: dict[int, int] = {}
    returns: dict[int, int] = {}
    claims: list[tuple[ClaimKind, date, int]] = []
    pending = list(person.claims)
    first, last = person.first_month, person.last_month
    last_closed = as_of.year if (as_of.month, as_of.day) == (12, 31) else as_of.year - 1
    balance = 0
    for year in range(first_year, as_of.year + 1):
        opening[year] = balance
        paid_out = weighted_out = 0
        while pending and pending[0][1].year == year:
            kind, day = pending.pop(0)
            upto = day.month if day.day >= _POSTED_ON_DAY else day.month - 1
            paid_in_so_far, _ = _posted_in(year, upto, first, last, amount)
            paid = claim_amount(balance + paid_in_so_far - paid_out, kind)
            if paid > 0:  # nothing left to claim: no claim row
                claims.append((kind, day, paid))
                paid_out += paid
                weighted_out += paid * (12 - day.month)
        paid_in, weighted_in = _posted_in(year, 12, first, last, amount)
        earned = 0
        if year <= last_closed:  # 31 December is on or before as_of
            earned = return_on_month_sen(balance * 12 + weighted_in - weighted_out,
                                         _rate(year))
            returns[year] = earned
        balance += paid_in + earned - paid_out
    return _Account(opening, returns, claims, balance)


@lru_cache(maxsize=256)
def _rate(year: int) -> ReturnRate:
    return return_rate(year)


# -- rows -----------------------------------------------------------------------------


@dataclass
class ChunkRows:
    """One chunk's rows per table, ready for ``Database.bulk_insert`` (dates as ISO text,
    money as integers), in the order the foreign keys need."""

    participants: list[tuple[Any, ...]] = field(default_factory=list)
    opening_balances: list[tuple[Any, ...]] = field(default_factory=list)
    contributions: list[tuple[Any, ...]] = field(default_factory=list)
    claims: list[tuple[Any, ...]] = field(default_factory=list)
    yearly_returns: list[tuple[Any, ...]] = field(default_factory=list)
    balances: list[tuple[Any, ...]] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        return [("participants", self.participants),
                ("opening_balances", self.opening_balances),
                ("contributions", self.contributions), ("claims", self.claims),
                ("yearly_returns", self.yearly_returns), ("balances", self.balances)]


COLUMNS: dict[str, tuple[str, ...]] = {
    "employers": ("npp", "name"),
    "participants": ("kpj", "nik", "name", "birth_date", "sex", "segment", "status",
                     "inactive_since", "inactive_reason", "employer_npp", "member_since"),
    "opening_balances": ("kpj", "year", "amount_sen"),
    "contributions": ("kpj", "period", "wage_sen", "employer_sen", "worker_sen",
                      "jp_employer_sen", "jp_worker_sen", "paid_on", "posted_on"),
    "claims": ("kpj", "kind", "amount_sen", "paid_on"),
    "yearly_returns": ("kpj", "year", "rate_percent", "rate_is_placeholder", "amount_sen",
                       "credited_on"),
    "balances": ("kpj", "balance_sen", "as_of", "last_contribution"),
}


def generate_chunk(seed: int, chunk: int, as_of: date, participants: int) -> ChunkRows:
    """Every row of one chunk of synthetic participants (see the module docstring)."""
    rows = ChunkRows()
    detail = detail_start_year(as_of)
    as_of_text = as_of.isoformat()
    rates = {year: return_rate(year) for year in range(_FIRST_YEAR, as_of.year + 1)}
    for person in draw_people(seed, chunk, as_of, participants):
        _person_rows(person, as_of, as_of_text, detail, rates, rows)
    return rows


def _person_rows(person: SyntheticPerson, as_of: date, as_of_text: str, detail: int,
                 rates: dict[int, Any], rows: ChunkRows) -> None:
    p = person.participant
    kpj = p.kpj.value
    account = evaluate(person, as_of)
    first_year = max(detail, p.member_since.year)
    rows.participants.append((
        kpj, p.nik.value, p.name, p.birth_date.isoformat(), p.sex, p.segment.value,
        p.status.value, None if p.inactive_since is None else p.inactive_since.isoformat(),
        p.inactive_reason, None if p.employer is None else p.employer.npp,
        p.member_since.isoformat()))
    if p.member_since.year < detail:
        rows.opening_balances.append((kpj, detail, account.opening[detail]))
    # Months posted from 1 January of the first detailed year: periods from December.
    first = max(person.first_month, first_year * 12 - 1)
    last_period = None
    shares: dict[tuple[int, bool], tuple[int, int, int, int]] = {}
    append = rows.contributions.append
    for month in range(first, person.last_month + 1):
        year, month0 = divmod(month, 12)
        wage = person.wages[year]
        key = (year, month0 >= 2)  # the JP cap changes in March
        if key not in shares:
            employer, worker = _jht_per_month(p.segment, wage)
            jp = jp_shares(Period(year, month0 + 1), wage) if p.segment is Segment.PU else (0, 0)
            shares[key] = (employer, worker, *jp)
        employer, worker, jp_employer, jp_worker = shares[key]
        last_period, paid_on, posted_on = _month_texts(month)
        append((kpj, last_period, wage, employer, worker, jp_employer, jp_worker, paid_on,
                posted_on))
    for kind, day, paid in account.claims:
        if day.year >= first_year:
            rows.claims.append((kpj, kind.value, paid, day.isoformat()))
    for year, earned in account.returns.items():
        if year >= first_year:
            rate = rates[year]
            rows.yearly_returns.append((kpj, year, str(rate.percent),
                                        int(rate.is_placeholder), earned, f"{year}-12-31"))
    rows.balances.append((kpj, account.closing, as_of_text, last_period))


@lru_cache(maxsize=4096)
def _month_texts(month: int) -> tuple[str, str, str]:
    """A period's text and its paid and posted dates, as stored."""
    year, month0 = divmod(month, 12)
    pay_year, pay_month0 = divmod(month + 1, 12)
    pay = f"{pay_year:04d}-{pay_month0 + 1:02d}"
    return (f"{year:04d}-{month0 + 1:02d}", f"{pay}-{_PAID_ON_DAY:02d}",
            f"{pay}-{_POSTED_ON_DAY:02d}")


# -- the slow, obvious way (for the tests) --------------------------------------------


def reference_history(person: SyntheticPerson, as_of: date) -> ParticipantHistory:
    """The person's whole history month by month with ``jht.roll_forward``: what
    ``evaluate`` must agree with. Slow; for tests and spot checks."""
    p = person.participant
    contributions = []
    for month in range(person.first_month, person.last_month + 1):
        period = Period(month // 12, month % 12 + 1)
        pay = _month_start(month + 1)
        contributions.append(contribution_for(
            p.segment, period, person.wages[period.year],
            paid_on=pay.replace(day=_PAID_ON_DAY), posted_on=pay.replace(day=_POSTED_ON_DAY)))
    claims: list[Claim] = []
    for kind, day in person.claims:
        posted = [c for c in contributions if c.posted_on <= day]
        balance = roll_forward(posted, claims, first_year=p.member_since.year,
                               as_of=day)[-1].closing_sen
        paid = claim_amount(balance, kind)
        if paid > 0:
            claims.append(Claim(kind, paid, day))
    years = roll_forward(contributions, claims, first_year=p.member_since.year, as_of=as_of)
    return ParticipantHistory(p, tuple(contributions), tuple(claims), years, as_of)
