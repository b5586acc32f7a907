"""Statistics for reports: distributions computed in SQL on both databases, calendar
buckets (weeks, months) as SQL expressions, and the few figures worked out from a
handful of aggregated points (a least-squares slope, a median and its robust spread).

A distribution is one statement whatever the number of groups: on PostgreSQL
``percentile_cont`` and ``stddev_samp``; on SQLite, which has neither, window functions
(each value's place and its group's size and mean) and one aggregate over them. Both give
the same figures: percentiles interpolated linearly between the two nearest values (as
``percentile_cont``, and Python's ``statistics.quantiles(method="inclusive")``), the
sample standard deviation (n - 1).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Double, case, cast, func, literal_column, select

PERCENTILES = (10, 25, 50, 75, 90)


@dataclass
class Distribution:
    """Values of one group: how many, their mean, sample standard deviation (null under
    two values), median, percentiles (linear interpolation), lowest and highest."""

    count: int = 0
    mean: float | None = None
    standard_deviation: float | None = None
    median: float | None = None
    p10: float | None = None
    p25: float | None = None
    p75: float | None = None
    p90: float | None = None
    lowest: float | None = None
    highest: float | None = None


def _round(value: Any, places: int = 4) -> float | None:
    return None if value is None else round(float(value), places)


async def distributions(conn: Any, source: Any) -> dict[Hashable, Distribution]:
    """Per group: the distribution of values. ``source`` selects two columns labelled
    ``key`` and ``value``; rows whose value is null are left out. One statement."""
    rows = source.subquery("values_of")
    value = cast(rows.c.value, Double)
    if conn.dialect.name == "postgresql":
        query = (
            select(
                rows.c.key,
                func.count(value),
                func.avg(value),
                func.stddev_samp(value),
                func.min(value),
                func.max(value),
                *(func.percentile_cont(p / 100).within_group(value) for p in PERCENTILES),
            )
            .where(rows.c.value.is_not(None))
            .group_by(rows.c.key)
        )
        found = {}
        for key, n, mean, sd, low, high, *cuts in (await conn.execute(query)).all():
            found[key] = _distribution(int(n), mean, sd, low, high, cuts)
        return found
    ranked = (
        select(
            rows.c.key,
            value.label("value"),
            (func.row_number().over(partition_by=rows.c.key, order_by=value) - 1).label("i"),
            func.count().over(partition_by=rows.c.key).label("n"),
            func.avg(value).over(partition_by=rows.c.key).label("m"),
        )
        .where(rows.c.value.is_not(None))
        .subquery("ranked")
    )

    def cut(p: int) -> Any:
        # Place h = (n - 1) p / 100, between the values at lo = floor(h) and lo + 1; in
        # integers as far as it goes, so that a whole place is read exactly.
        scaled = (ranked.c.n - 1) * p
        lo = scaled // 100
        frac = cast(scaled - lo * 100, Double) / 100.0
        return func.sum(
            case(
                (ranked.c.i == lo, ranked.c.value * (1.0 - frac)),
                (ranked.c.i == lo + 1, ranked.c.value * frac),
                else_=0.0,
            )
        )

    deviation = ranked.c.value - ranked.c.m
    query = select(
        ranked.c.key,
        func.max(ranked.c.n),
        func.avg(ranked.c.value),
        func.sum(deviation * deviation),
        func.min(ranked.c.value),
        func.max(ranked.c.value),
        *(cut(p) for p in PERCENTILES),
    ).group_by(ranked.c.key)
    found = {}
    for key, n, mean, squares, low, high, *cuts in (await conn.execute(query)).all():
        sd = math.sqrt(max(0.0, float(squares)) / (int(n) - 1)) if int(n) > 1 else None
        found[key] = _distribution(int(n), mean, sd, low, high, cuts)
    return found


def _distribution(
    n: int, mean: Any, sd: Any, low: Any, high: Any, cuts: Sequence[Any]
) -> Distribution:
    picked = dict(zip(PERCENTILES, cuts, strict=True))
    return Distribution(
        count=n, mean=_round(mean), standard_deviation=_round(sd) if n > 1 else None,
        median=_round(picked[50]), p10=_round(picked[10]), p25=_round(picked[25]),
        p75=_round(picked[75]), p90=_round(picked[90]), lowest=_round(low),
        highest=_round(high),
    )  # fmt: skip


# -- calendar buckets -------------------------------------------------------------------------


# Bucket expressions are grouped by: their constant parts are written into the SQL, not
# bound (PostgreSQL sees two bound parameters as two expressions, and refuses the GROUP BY).


def week_of(column: Any, dialect: str) -> Any:
    """The Monday of the week of a date or UTC timestamp (ISO weeks), as a date."""
    if dialect == "postgresql":
        return cast(func.date_trunc(literal_column("'week'"), column), Date)
    # SQLite: back six days, then on to the next Monday (the day itself if a Monday).
    return func.date(column, literal_column("'-6 days'"), literal_column("'weekday 1'"))


def month_of(column: Any, dialect: str) -> Any:
    """The first day of the month of a date or UTC timestamp, as a date."""
    if dialect == "postgresql":
        return cast(func.date_trunc(literal_column("'month'"), column), Date)
    return func.date(column, literal_column("'start of month'"))


def hours_between(later: Any, earlier: Any, dialect: str) -> Any:
    """Hours from one timestamp to another, as a number."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def as_date(value: Any) -> date:
    """A bucket read back: a date (PostgreSQL) or its ISO text (SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# -- figures from a few points -----------------------------------------------------------------


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of y on x; None under two points or when x does not vary."""
    if len(points) < 2:
        return None
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / spread


# The median absolute deviation times this estimates a normal distribution's standard
# deviation: a spread that a few bad weeks do not inflate.
MAD_SCALE = 1.4826


def robust_norm(values: Sequence[float]) -> tuple[float, float] | None:
    """The median and the robust standard deviation (scaled median absolute deviation)."""
    if not values:
        return None
    middle = statistics.median(values)
    spread = statistics.median(abs(v - middle) for v in values) * MAD_SCALE
    return middle, spread


def ratio(part: float | int, whole: float | int | None) -> float | None:
    """part ÷ whole, to four places; None when the whole is nothing."""
    return round(part / whole, 4) if whole else None
