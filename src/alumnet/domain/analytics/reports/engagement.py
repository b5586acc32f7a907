"""Platform engagement: registrations, active users and messages per week or month, against
the previous period; and retention by month of joining (of those who joined in month M,
the share active in month M + k, k = 0 to 12, up to the range's last month). Retention's
cohorts are whole calendar months: the range is rounded out to month boundaries for it.

*Active* in a period: the person did something alumnet records with a time, in it: signed
in (a session begun), kept a session going (a refresh token issued: clients refresh while
in use), sent a message, submitted their own attendance or work, or acknowledged a
notice. Reading alone leaves no dated trace (a session's last use is kept, not its
history) and is not counted. Weeks run Monday to Sunday and months from the first, in UTC.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, cast, func, literal, null, select, union_all

from alumnet.domain.analytics import stats
from alumnet.domain.analytics.common import Chart, Column, DateRange, Table, small
from alumnet.domain.analytics.reports.scope import Filters, Reach, moments
from alumnet.persistence.models import (
    AttendanceDay,
    Message,
    NoticeAck,
    RefreshToken,
    Session,
    Submission,
    User,
)

RETENTION_MONTHS = 12


@dataclass
class EngagementPoint:
    start: date  # the week's Monday or the month's first day
    registrations: int
    active_users: int
    messages: int


@dataclass
class RetentionCohort:
    month: date
    joined: int
    # Share of the cohort active in its month of joining and each month after (k = 0 …),
    # up to the range's last month; None when withheld.
    active: list[float | None] = field(default_factory=list)
    withheld: bool = False


@dataclass
class EngagementReport:
    since: date
    until: date
    previous_since: date
    previous_until: date
    group_by: str
    registrations: int
    active_users: int
    messages: int
    previous_registrations: int
    previous_active_users: int
    previous_messages: int
    series: list[EngagementPoint] = field(default_factory=list)
    retention: list[RetentionCohort] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def activity(since: Any, until: Any) -> Any:
    """(user_id, at) of everything that makes a person active, in [since, until), as a
    CTE (read once however many times a statement uses it)."""

    def within(column: Any) -> Any:
        return and_(column >= since, column < until)

    return union_all(
        select(Session.user_id.label("user_id"), Session.created_at.label("at")).where(
            within(Session.created_at)
        ),
        select(Session.user_id, RefreshToken.created_at)
        .join(Session, Session.id == RefreshToken.session_id)
        .where(within(RefreshToken.created_at)),
        select(Message.sender_id, Message.created_at).where(within(Message.created_at)),
        select(AttendanceDay.student_id, AttendanceDay.created_at).where(
            within(AttendanceDay.created_at),
            AttendanceDay.recorded_by_id == AttendanceDay.student_id,
        ),
        select(Submission.student_id, Submission.submitted_at).where(
            within(Submission.submitted_at), Submission.source == "student"
        ),
        select(NoticeAck.user_id, NoticeAck.acknowledged_at).where(
            within(NoticeAck.acknowledged_at)
        ),
    ).cte("activity")


def _starts(period: DateRange, group: str) -> list[date]:
    """The buckets of a period: each week's Monday, or each month's first day."""
    found: list[date] = []
    day = period.since
    while day <= period.until:
        start = day - timedelta(days=day.weekday()) if group == "week" else day.replace(day=1)
        if not found or found[-1] != start:
            found.append(start)
        day += timedelta(days=1)
    return found


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def months_around(period: DateRange) -> DateRange:
    """The period rounded out to whole calendar months: retention's cohorts are months of
    joining, never part of one (moving ``from`` by a day must not make a new cohort)."""
    last = (period.until.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return DateRange(period.since.replace(day=1), last)


async def engagement_report(
    conn: Any, reach: Reach, period: DateRange, filters: Filters, now: datetime
) -> EngagementReport:
    group = filters.group_by
    dialect = conn.dialect.name
    previous = period.previous()
    start, end = moments(period)
    earlier, _ = moments(previous)
    whole_months = months_around(period)
    r_start, r_end = moments(whole_months)

    def bucket(column: Any) -> Any:
        return (stats.week_of if group == "week" else stats.month_of)(column, dialect)

    registrations, previous_registrations = await _counted(
        conn, bucket(User.created_at), User.created_at, start, earlier, end
    )
    messages, previous_messages = await _counted(
        conn, bucket(Message.created_at), Message.created_at, start, earlier, end
    )
    joined_month = stats.month_of(User.created_at, dialect)
    cohorts = {
        stats.as_date(m): int(n)
        for m, n in (
            await conn.execute(
                select(joined_month, func.count())
                .where(User.created_at >= r_start, User.created_at < r_end)
                .group_by(joined_month)
            )
        ).all()
    }
    # Everything that makes people active, read once (a CTE) for the buckets, the totals
    # and retention: one statement.
    acts = activity(min(earlier, r_start), max(end, r_end))
    months = (
        select(acts.c.user_id, stats.month_of(acts.c.at, dialect).label("month"))
        .where(acts.c.at >= r_start, acts.c.at < r_end)
        .distinct()
        .subquery("months")
    )
    people = (
        select(User.id, joined_month.label("cohort"))
        .where(User.created_at >= r_start, User.created_at < r_end)
        .subquery("people")
    )
    no_date = cast(null(), Date)
    in_period = and_(acts.c.at >= start, acts.c.at < end)
    users = func.count(func.distinct(acts.c.user_id))
    found = (
        await conn.execute(
            union_all(
                select(literal(0).label("kind"), bucket(acts.c.at).label("a"),
                       no_date.label("b"), users.label("n"))
                .where(in_period).group_by(bucket(acts.c.at)),
                select(literal(1), no_date, no_date, users).where(in_period),
                select(literal(2), no_date, no_date, users)
                .where(acts.c.at >= earlier, acts.c.at < start),
                select(literal(3), people.c.cohort, months.c.month, func.count())
                .select_from(people)
                .join(months, months.c.user_id == people.c.id)
                .group_by(people.c.cohort, months.c.month),
            )
        )
    ).all()  # fmt: skip
    active: dict[date, int] = {}
    now_n = before_n = 0
    counts: dict[date, dict[int, int]] = defaultdict(dict)
    for kind, a, b, n in found:
        if kind == 0:
            active[stats.as_date(a)] = int(n)
        elif kind == 1:
            now_n = int(n)
        elif kind == 2:
            before_n = int(n)
        else:
            c, m = stats.as_date(a), stats.as_date(b)
            k = _months_between(c, m)
            if 0 <= k <= RETENTION_MONTHS:
                counts[c][k] = int(n)
    report = EngagementReport(
        since=period.since, until=period.until, previous_since=previous.since,
        previous_until=previous.until, group_by=group,
        registrations=sum(registrations.values()), active_users=now_n,
        messages=sum(messages.values()), previous_registrations=previous_registrations,
        previous_active_users=before_n, previous_messages=previous_messages,
    )  # fmt: skip
    report.series = [
        EngagementPoint(s, registrations.get(s, 0), active.get(s, 0), messages.get(s, 0))
        for s in _starts(period, group)
    ]
    report.retention = _retention(reach, whole_months, cohorts, counts)
    report.notes.append(
        f"Retention: people who joined from {whole_months.since} to {whole_months.until} "
        "(whole calendar months), by month of joining."
    )
    if any(c.withheld for c in report.retention):
        report.notes.append(
            "Months when fewer than five people joined are not broken down for you (their "
            "activity would identify them)."
        )
    return report


async def _counted(
    conn: Any, bucket: Any, at: Any, start: Any, earlier: Any, end: Any
) -> tuple[dict[date, int], int]:
    """Rows per bucket of the period, and how many in the previous one (one statement)."""
    found: dict[date, int] = {}
    before = 0
    for when, now, then in (
        await conn.execute(
            select(bucket, func.count().filter(at >= start), func.count().filter(at < start))
            .where(at >= earlier, at < end)
            .group_by(bucket)
        )
    ).all():
        if now:
            found[stats.as_date(when)] = int(now)
        before += int(then)
    return found, before


def _retention(
    reach: Reach,
    whole_months: DateRange,
    cohorts: dict[date, int],
    counts: dict[date, dict[int, int]],
) -> list[RetentionCohort]:
    """Cohorts by month of joining (whole months around the range), and the share of
    each active in each later month up to the range's last."""
    last = whole_months.until.replace(day=1)
    found = []
    for month in sorted(cohorts):
        joined = cohorts[month]
        span = min(RETENTION_MONTHS, _months_between(month, last))
        withheld = small(joined) and reach.people is not None
        found.append(RetentionCohort(
            month=month, joined=joined,
            active=[None if withheld else stats.ratio(counts[month].get(k, 0), joined)
                    for k in range(span + 1)],
            withheld=withheld,
        ))  # fmt: skip
    return found


def table(report: EngagementReport) -> Table:
    group = report.group_by
    columns = [
        Column("start", "Week of" if group == "week" else "Month", "date"),
        Column("registrations", "Registrations", "integer"),
        Column("active_users", "Active users", "integer"),
        Column("messages", "Messages", "integer"),
    ]
    retention = {c.month: c for c in report.retention}
    if group == "month":
        columns += [Column(f"retained_{k}", f"Active after {k} months", "percent")
                    for k in range(RETENTION_MONTHS + 1)]  # fmt: skip
    rows = []
    for p in report.series:
        row: list[Any] = [p.start, p.registrations, p.active_users, p.messages]
        if group == "month":
            cohort = retention.get(p.start)
            shares = cohort.active if cohort else []
            row += [shares[k] if k < len(shares) else None for k in range(RETENTION_MONTHS + 1)]
        rows.append(tuple(row))
    notes = [
        f"From {report.since} to {report.until} (UTC), compared with {report.previous_since} to "
        f"{report.previous_until}: registrations {report.registrations} "
        f"({report.previous_registrations}), active users {report.active_users} "
        f"({report.previous_active_users}), messages {report.messages} "
        f"({report.previous_messages}).",
        "Active: signed in, kept a session going, sent a message, submitted attendance or "
        "work, or acknowledged a notice.",
        *report.notes,
    ]
    return Table(
        title="Platform engagement", columns=columns, rows=rows,
        charts=[Chart("line", "Active users and registrations", "start",
                      ("active_users", "registrations"))],
        notes=notes,
    )  # fmt: skip
