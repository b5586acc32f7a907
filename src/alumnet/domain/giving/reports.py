"""The figures an advancement office reports, and each donor's giving summary, computed in SQL
from the running totals (``donor_years``: a donor's confirmed giving per calendar year and
currency, refunds counted in their gift's year) and from the gifts themselves.

- totals by campaign, fund, month or year in one currency, over a range of gift days;
- alumni participation by graduation year on record: alumni who gave (a positive total in
  any currency in the year) ÷ alumni of that year;
- LYBUNT (gave Last Year But Unfortunately Not This year) and SYBUNT (Some Year But …: an
  earlier year, not last year, not this year);
- retention: last year's donors who gave again this year, and the new and lapsed ones;
- top donors by their total in a currency.

"Gave in a year" always means a positive total that year in some currency, so that a gift
refunded in full does not count. Every report is for giving staff (``giving``); a donor reads
only their own summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    distinct,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from alumnet.domain import money
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.persistence.models import (
    Campaign,
    Donor,
    DonorYear,
    Fund,
    Gift,
    User,
    UserRole,
)

DY = DonorYear
GROUPS = ("campaign", "fund", "month", "year")
EARLIEST_YEAR = 1900
# The longest range a totals report covers by month (its rows stay a screenful or two).
MONTHS_MAX = 10 * 12
TOP_MAX = 100


def this_year() -> int:
    return datetime.now(UTC).year


def check_year(year: int, field: str = "year") -> int:
    if not EARLIEST_YEAR <= year <= this_year() + 1:
        raise DomainError.of("INVALID", f"A year from {EARLIEST_YEAR} to next year.", field)
    return year


def check_currency(currency: str, field: str = "currency") -> str:
    code = (currency or "").strip().upper()
    if not money.known(code):
        raise DomainError.of("UNKNOWN_CURRENCY", "Give an ISO 4217 currency code (USD, EUR).",
                             field)  # fmt: skip
    return code


def rate(part: int, whole: int) -> Decimal | None:
    """``part`` ÷ ``whole`` as a fraction with four decimal places (0.4567 is 45.67 %),
    exact to the half-even rounding of the last place; None when ``whole`` is 0."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def gave_in(year: Any, donor_id: Any = None) -> ColumnElement[bool]:
    """SQL: the donor (``donor_id``, the outer query's donor by default) gave in ``year``."""
    who = Donor.id if donor_id is None else donor_id
    return exists().where(DY.donor_id == who, DY.year == year, DY.total_minor > 0)


# -- a donor's summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class YearTotal:
    year: int
    currency: str
    total_minor: int
    gift_count: int


@dataclass
class Summary:
    """A donor's giving: their totals per year and currency (newest first), first and last
    gift days, how many gifts, and their largest gift (in the base currency if they gave in
    it, else in any)."""

    donor_id: int
    years: list[YearTotal] = field(default_factory=list)
    first_gift_on: date | None = None
    last_gift_on: date | None = None
    gift_count: int = 0
    largest_gift_id: int | None = None

    def lifetime(self, base: str) -> list[tuple[str, int]]:
        """Lifetime totals per currency: the base currency first, then by code."""
        sums: dict[str, int] = defaultdict(int)
        for y in self.years:
            sums[y.currency] += y.total_minor
        return sorted(sums.items(), key=lambda kv: (kv[0] != base, kv[0]))

    def totals_in(self, year: int) -> dict[str, int]:
        return {y.currency: y.total_minor for y in self.years if y.year == year}

    def consecutive_years(self, now: int) -> int:
        """Calendar years in a row with a positive total, ending this year or last year."""
        gave = {y.year for y in self.years if y.total_minor > 0}
        year = now if now in gave else now - 1
        count = 0
        while year in gave:
            count += 1
            year -= 1
        return count


async def summaries(conn: Any, donor_ids: Sequence[int], base: str) -> list[Summary]:
    """The summaries of these donors, in the order asked: two statements however many."""
    ids = list(dict.fromkeys(donor_ids))
    found = {i: Summary(i) for i in ids}
    rows = await conn.execute(
        select(DY.donor_id, DY.year, DY.currency, DY.total_minor, DY.gift_count)
        .where(DY.donor_id.in_(ids))
        .order_by(DY.donor_id, DY.year.desc(), DY.currency)
    )
    for r in rows:
        found[r.donor_id].years.append(YearTotal(r.year, r.currency, r.total_minor, r.gift_count))
    g = Gift
    counted = (g.donor_id.in_(ids), g.kind == "gift", g.status == "confirmed")
    ranked = (
        select(
            g.donor_id, g.id,
            func.min(g.gift_date).over(partition_by=g.donor_id).label("first_on"),
            func.max(g.gift_date).over(partition_by=g.donor_id).label("last_on"),
            func.count().over(partition_by=g.donor_id).label("gifts"),
            func.row_number().over(
                partition_by=g.donor_id,
                order_by=(case((g.currency == base, 0), else_=1), g.amount_minor.desc(),
                          g.gift_date.desc(), g.id.desc()),
            ).label("rank"),
        )
        .where(*counted)
        .subquery()
    )  # fmt: skip
    rows = await conn.execute(select(ranked).where(ranked.c.rank == 1))
    for r in rows:
        summary = found[r.donor_id]
        summary.first_gift_on, summary.last_gift_on = r.first_on, r.last_on
        summary.gift_count, summary.largest_gift_id = int(r.gifts), int(r.id)
    return [found[i] for i in donor_ids]


# -- totals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TotalRow:
    """One group of a totals report: its key (a campaign's or fund's id, None for gifts to
    no campaign; a year; a month as ``YYYY-MM``), its label, what it raised (minor units,
    refunds taken off), its gifts and its distinct donors."""

    key: int | str | None
    label: str
    raised_minor: int
    gifts: int
    donors: int


async def totals(
    conn: Any,
    viewer: Viewer,
    group: str,
    currency: str,
    since: date | None,
    until: date | None,
) -> tuple[list[TotalRow], TotalRow]:
    """Confirmed gifts in ``currency`` dated from ``since`` to ``until`` (both included;
    None: unbounded) less their refunds, grouped, and the whole: two statements. A refund
    counts where its gift does (its gift's day), as in ``donor_years``."""
    viewer.require(Permission.GIVING)
    if group not in GROUPS:
        raise DomainError.of("INVALID", "Unknown grouping.", "groupBy")
    currency = check_currency(currency)
    if since is not None and until is not None and until < since:
        raise DomainError.of("INVALID", "`to` is on or after `from`.", "to")
    if group == "month":
        first = since or date(EARLIEST_YEAR, 1, 1)
        last = until or datetime.now(UTC).date()
        if (last.year - first.year) * 12 + last.month - first.month >= MONTHS_MAX:
            raise DomainError.of(
                "INVALID", f"By month, give `from` and `to` at most {MONTHS_MAX // 12} years "
                "apart.", "from",
            )  # fmt: skip

    def within(day: Any) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if since is not None:
            found.append(day >= since)
        if until is not None:
            found.append(day <= until)
        return found

    g = Gift
    gifts = select(
        g.donor_id, g.fund_id, g.campaign_id, g.gift_date.label("day"), g.amount_minor,
        literal(1).label("counted"),
    ).where(g.kind == "gift", g.status == "confirmed", g.currency == currency,
            *within(g.gift_date))  # fmt: skip
    o = aliased(Gift)
    refunds = (
        select(
            g.donor_id, g.fund_id, g.campaign_id, o.gift_date.label("day"), g.amount_minor,
            literal(0).label("counted"),
        )
        .join(o, o.id == g.refund_of_id)
        .where(g.refund_of_id.is_not(None), g.status == "confirmed", g.currency == currency,
               *within(o.gift_date))
    )  # fmt: skip
    every = union_all(gifts, refunds).subquery()
    figures = (
        func.coalesce(func.sum(every.c.amount_minor), 0),
        func.coalesce(func.sum(every.c.counted), 0),
        func.count(distinct(case((every.c.counted == 1, every.c.donor_id)))),
    )
    key: Any
    label: Any
    query: Any
    if group == "campaign":
        key, label = every.c.campaign_id, func.max(Campaign.name)
        query = select(key, label, *figures).outerjoin(Campaign, Campaign.id == key)
    elif group == "fund":
        key, label = every.c.fund_id, func.max(Fund.name)
        query = select(key, label, *figures).join(Fund, Fund.id == key)
    elif group == "year":
        key = cast(extract("year", every.c.day), Integer)
        query = select(key, literal(""), *figures)
    else:
        year = cast(extract("year", every.c.day), Integer)
        key = year * 100 + cast(extract("month", every.c.day), Integer)
        query = select(key, literal(""), *figures)
    rows = (await conn.execute(query.group_by(key))).all()
    whole = (await conn.execute(select(*figures))).one()
    found = [_total_row(group, r) for r in rows]
    if group in ("campaign", "fund"):
        found.sort(key=lambda t: (-t.raised_minor, t.key is None, t.label))
    else:
        found.sort(key=lambda t: str(t.key))
    total = TotalRow(None, "Total", int(whole[0]), int(whole[1]), int(whole[2]))
    return found, total


def _total_row(group: str, row: Any) -> TotalRow:
    key, name, raised, gifts, donors = row
    label: str
    if group == "month":
        month = int(key)
        key = label = f"{month // 100:04d}-{month % 100:02d}"
    elif group == "year":
        key = int(key)
        label = str(key)
    elif key is None:
        label = "No campaign"
    else:
        key, label = int(key), str(name)
    return TotalRow(key, label, int(raised), int(gifts), int(donors))


# -- participation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipationRow:
    """Alumni of a graduation year on record (None: without one) and how many gave."""

    graduation_year: int | None
    alumni: int
    donors: int

    @property
    def rate(self) -> Decimal | None:
        return rate(self.donors, self.alumni)


def alumni() -> ColumnElement[bool]:
    """SQL: the user (``User``) is an alumnus who has not been deleted."""
    role = exists().where(UserRole.user_id == User.id, UserRole.role == Role.ALUMNUS.value)
    return and_(role, User.status != "deleted")


async def participation(
    conn: Any, viewer: Viewer, year: int
) -> tuple[list[ParticipationRow], ParticipationRow]:
    """Alumni by graduation year on record, and those of them who gave in ``year`` (as
    donors with their account): one statement; the overall row is their sum."""
    viewer.require(Permission.GIVING)
    check_year(year)
    gave = (
        select(Donor.user_id)
        .join(DY, DY.donor_id == Donor.id)
        .where(DY.year == year, DY.total_minor > 0, Donor.user_id.is_not(None))
        .distinct()
        .subquery()
    )
    key = User.record_graduation_year
    query = (
        select(key, func.count(User.id), func.count(gave.c.user_id))
        .outerjoin(gave, gave.c.user_id == User.id)
        .where(alumni())
        .group_by(key)
    )
    rows = [ParticipationRow(r[0], int(r[1]), int(r[2])) for r in await conn.execute(query)]
    rows.sort(key=lambda r: (r.graduation_year is None, r.graduation_year or 0))
    overall = ParticipationRow(None, sum(r.alumni for r in rows), sum(r.donors for r in rows))
    return rows, overall


# -- lapsed donors ----------------------------------------------------------------------------


def lapsed(viewer: Viewer, kind: str, year: int) -> Any:
    """SQL: the donors (``Donor``'s columns) of a LYBUNT (``kind`` "lybunt": gave the year
    before ``year``, not in it) or SYBUNT ("sybunt": gave some year before that, neither
    in the year before nor in ``year``) list."""
    viewer.require(Permission.GIVING)
    check_year(year)
    before = exists().where(DY.donor_id == Donor.id, DY.total_minor > 0)
    if kind == "lybunt":
        condition = and_(gave_in(year - 1), ~gave_in(year))
    else:
        earlier = before.where(DY.year < year - 1)
        condition = and_(earlier, ~gave_in(year - 1), ~gave_in(year))
    return select(Donor.__table__).where(condition)


@dataclass(frozen=True)
class LastYear:
    """A donor's last year of giving before a year, and its totals by currency."""

    year: int | None
    totals: list[tuple[str, int]]


async def last_years(conn: Any, before: int, donor_ids: Sequence[int], base: str) -> list[LastYear]:
    """Each donor's last year with a positive total before ``before``: one statement."""
    inner = (
        select(DY.donor_id, func.max(DY.year).label("year"))
        .where(DY.donor_id.in_(list(donor_ids)), DY.year < before, DY.total_minor > 0)
        .group_by(DY.donor_id)
        .subquery()
    )
    rows = await conn.execute(
        select(DY.donor_id, DY.year, DY.currency, DY.total_minor)
        .join(inner, and_(inner.c.donor_id == DY.donor_id, inner.c.year == DY.year))
        .order_by(DY.donor_id, DY.currency)
    )
    years: dict[int, int] = {}
    sums: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for r in rows:
        years[r.donor_id] = r.year
        sums[r.donor_id].append((r.currency, r.total_minor))
    return [
        LastYear(years.get(i), sorted(sums.get(i, []), key=lambda kv: (kv[0] != base, kv[0])))
        for i in donor_ids
    ]


# -- retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """Of last year's donors, how many gave again this year; this year's new donors (never
    before), recaptured ones (not last year, but some year before) and lapsed ones."""

    year: int
    previous_donors: int
    donors: int
    retained: int
    new: int
    recaptured: int

    @property
    def lapsed(self) -> int:
        return self.previous_donors - self.retained

    @property
    def rate(self) -> Decimal | None:
        return rate(self.retained, self.previous_donors)


async def retention(conn: Any, viewer: Viewer, year: int) -> Retention:
    """One statement over the two years' rows (``ix_donor_years_year``)."""
    viewer.require(Permission.GIVING)
    check_year(year)
    flags = (
        select(
            DY.donor_id,
            func.max(case((DY.year == year, 1), else_=0)).label("now"),
            func.max(case((DY.year == year - 1, 1), else_=0)).label("before"),
        )
        .where(DY.year.in_((year, year - 1)), DY.total_minor > 0)
        .group_by(DY.donor_id)
        .subquery()
    )
    earlier = exists().where(
        DY.donor_id == flags.c.donor_id, DY.year < year - 1, DY.total_minor > 0
    )
    now, before = flags.c.now == 1, flags.c.before == 1
    row = (
        await conn.execute(
            select(
                func.count().filter(before),
                func.count().filter(now),
                func.count().filter(and_(now, before)),
                func.count().filter(and_(now, ~before, ~earlier)),
            ).select_from(flags)
        )
    ).one()
    previous, donors, retained, new = (int(v or 0) for v in row)
    return Retention(year, previous, donors, retained, new, donors - retained - new)


# -- top donors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopDonor:
    donor_id: int
    total_minor: int
    gifts: int
    anonymous: bool


async def top_donors(
    conn: Any, viewer: Viewer, year: int | None, currency: str, first: int
) -> list[TopDonor]:
    """The donors who gave most in ``currency`` in ``year`` (None: in all years), largest
    first (ties by donor): one statement. ``anonymous``: some gift of theirs counted there
    was given anonymously (giving staff see them named all the same)."""
    viewer.require(Permission.GIVING)
    currency = check_currency(currency)
    if year is not None:
        check_year(year)
    if not 0 <= first <= TOP_MAX:
        raise DomainError.of("INVALID", f"`first` is from 0 to {TOP_MAX}.", "first")
    where = [DY.currency == currency]
    if year is not None:
        where.append(DY.year == year)
    total = func.sum(DY.total_minor)
    ranked = (
        select(DY.donor_id, total.label("total"), func.sum(DY.gift_count).label("gifts"))
        .where(*where)
        .group_by(DY.donor_id)
        .having(total > 0)
        .order_by(total.desc(), DY.donor_id)
        .limit(first)
        .subquery()
    )
    g = Gift
    hidden = [g.donor_id == ranked.c.donor_id, g.anonymous.is_(True), g.currency == currency,
              g.kind == "gift", g.status == "confirmed"]  # fmt: skip
    if year is not None:
        hidden += [g.gift_date >= date(year, 1, 1), g.gift_date < date(year + 1, 1, 1)]
    rows = await conn.execute(
        select(ranked.c.donor_id, ranked.c.total, ranked.c.gifts, exists().where(*hidden)).order_by(
            ranked.c.total.desc(), ranked.c.donor_id
        )
    )
    return [TopDonor(int(r[0]), int(r[1]), int(r[2]), bool(r[3])) for r in rows]


def donor_search(term: str) -> ColumnElement[bool]:
    """SQL: a donor whose name or e-mail contains ``term`` (any case)."""
    folded = term.strip().lower()
    return or_(
        func.lower(Donor.name).contains(folded, autoescape=True),
        func.lower(func.coalesce(Donor.email, "")).contains(folded, autoescape=True),
    )


def at_level(level: Any, year: int) -> ColumnElement[bool]:
    """SQL: the donor reached ``level``'s minimum in its currency in ``year``."""
    return exists().where(
        DY.donor_id == Donor.id, DY.year == year, DY.currency == level.currency,
        DY.total_minor >= level.min_yearly_minor, DY.total_minor > 0,
    )  # fmt: skip
