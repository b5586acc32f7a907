"""The alumni figures that exist in other contexts, for a range against the previous one:
events (events.figures, by kind), jobs (postings published and applications made; the
careers figures' open postings and hours to first response, as they stand today) and
mentorship (requests and sessions in the range; the mentorship figures as they stand).
Giving joins when it is built. Aggregates only: no person is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from alumnet.domain.analytics.common import Chart, Column, DateRange, Table
from alumnet.domain.analytics.reports.scope import Filters, Reach, moments
from alumnet.domain.careers import figures as careers
from alumnet.domain.events import figures as events
from alumnet.domain.mentorship import figures as mentorship
from alumnet.persistence.models import (
    JobApplication,
    JobPosting,
    MentorshipRequest,
    MentorshipSession,
)


@dataclass
class Figure:
    area: str  # events, jobs, mentorship
    name: str  # a stable key
    label: str
    kind: str  # integer, decimal or percent
    value: float | None
    previous_value: float | None  # None where the figure is as it stands today
    change: float | None


@dataclass
class AlumniReport:
    since: date
    until: date
    previous_since: date
    previous_until: date
    group_by: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _figure(area: str, name: str, label: str, kind: str, now: Any, before: Any) -> Figure:
    value = None if now is None else float(now)
    earlier = None if before is None else float(before)
    change = None if value is None or earlier is None else round(value - earlier, 4)
    return Figure(area, name, label, kind, value, earlier, change)


async def _period_counts(conn: Any, since: Any, until: Any) -> dict[str, int]:
    """Jobs and mentorship in [since, until): one statement."""
    P, A, R, S = JobPosting, JobApplication, MentorshipRequest, MentorshipSession
    row = (
        await conn.execute(
            select(
                select(func.count()).where(P.published_at >= since, P.published_at < until)
                .scalar_subquery(),
                select(func.count()).where(A.created_at >= since, A.created_at < until)
                .scalar_subquery(),
                select(func.count()).where(R.created_at >= since, R.created_at < until)
                .scalar_subquery(),
                select(func.count()).where(R.created_at >= since, R.created_at < until,
                                           R.status == "accepted").scalar_subquery(),
                select(func.count()).where(S.starts_at >= since, S.starts_at < until,
                                           S.status == "scheduled").scalar_subquery(),
            )
        )
    ).one()  # fmt: skip
    return dict(zip(("postings", "applications", "requests", "accepted", "sessions"),
                    (int(v) for v in row), strict=True))  # fmt: skip


async def alumni_report(
    conn: Any, reach: Reach, period: DateRange, filters: Filters, at: datetime
) -> AlumniReport:
    previous = period.previous()
    start, end = moments(period)
    earlier, _ = moments(previous)
    report = AlumniReport(since=period.since, until=period.until, previous_since=previous.since,
                          previous_until=previous.until, group_by=filters.group_by)  # fmt: skip
    now_kinds = {k.kind: k for k in await events.of_period(conn, start, end)}
    before_kinds = {k.kind: k for k in await events.of_period(conn, earlier, start)}
    for kind in sorted(set(now_kinds) | set(before_kinds)):
        a, b = now_kinds.get(kind), before_kinds.get(kind)
        for name, label, form in (
            ("events", "events", "integer"),
            ("confirmed", "people confirmed", "integer"),
            ("checked_in", "people checked in", "integer"),
            ("show_rate", "show rate", "percent"),
            ("average_rating", "average rating", "decimal"),
        ):
            none = 0 if form == "integer" else None
            report.figures.append(_figure(
                "events", f"{kind}.{name}", f"{kind.replace('_', ' ').capitalize()}: {label}",
                form, getattr(a, name) if a else none, getattr(b, name) if b else none,
            ))  # fmt: skip
    now, before = await _period_counts(conn, start, end), await _period_counts(conn, earlier, start)
    for area, name, label in (
        ("jobs", "postings", "Job postings published"),
        ("jobs", "applications", "Applications made"),
        ("mentorship", "requests", "Mentorship requests"),
        ("mentorship", "accepted", "Mentorship requests accepted"),
        ("mentorship", "sessions", "Mentorship sessions held or booked"),
    ):
        report.figures.append(_figure(area, name, label, "integer", now[name], before[name]))
    jobs = await careers.overall(conn)
    standing = await mentorship.overall(conn, conn.dialect.name)
    for area, name, label, form, value in (
        ("jobs", "open_postings", "Open job postings today", "integer",
         sum(c.count for c in jobs.open_by_audience_and_kind)),
        ("jobs", "median_hours_to_first_response", "Median hours to a first response (all "
         "time)", "decimal", jobs.median_hours_to_first_response),
        ("mentorship", "active", "Mentorships active today", "integer", standing.active),
        ("mentorship", "acceptance_rate", "Request success rate (all time)", "percent",
         standing.acceptance_rate),
        ("mentorship", "completion_rate", "Mentorships completed of those ended (all time)",
         "percent", standing.completion_rate),
    ):  # fmt: skip
        report.figures.append(_figure(area, name, label, form, value, None))
    report.notes.append("Giving is not built yet: its figures join this report when it is.")
    return report


def table(report: AlumniReport) -> Table:
    columns = [
        Column("area", "Area"),
        Column("figure", "Figure"),
        Column("value", "This period", "decimal"),
        Column("previous_value", "Previous period", "decimal"),
        Column("change", "Change", "decimal"),
    ]
    rows = [(f.area, f.label, f.value, f.previous_value, f.change) for f in report.figures]
    notes = [
        f"From {report.since} to {report.until}, compared with {report.previous_since} to "
        f"{report.previous_until}. Figures marked today or all time are as they stand.",
        *report.notes,
    ]
    return Table(
        title="Alumni", columns=columns, rows=rows, notes=notes,
        charts=[Chart("bar", "This period against the previous", "figure",
                      ("value", "previous_value"))],
    )  # fmt: skip
