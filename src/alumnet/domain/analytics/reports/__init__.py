"""Reports with date ranges and comparisons: attendance, submissions, mentor
effectiveness, notice acknowledgements, platform engagement and the alumni figures of
other contexts. Each is computed in SQL over what the viewer may see, answered by a
GraphQL query, and turned into a ``Table`` (with charts) for exports and scheduled
e-mails by ``build_table``: the registry below is what those call.

    REPORTS                       name -> title
    check_filters(report, filters)  the filters' JSON checked (DomainError otherwise)
    build_table(rt, viewer, report, period, filters)  the report as a Table

``filters`` is JSON: ``{"mission_id": 3, "batch_id": null, "group_by": "week"}`` (primary
keys; ``group_by`` one of ``GROUPS[report]``, the first by default). Platform engagement
and the alumni figures take ``group_by`` only. A mission or batch outside the viewer's
reach is NOT_FOUND; a report the viewer may not read raises PermissionDenied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from alumnet.domain.analytics.common import DateRange, Table
from alumnet.domain.analytics.reports import (
    alumni,
    attendance,
    engagement,
    mentors,
    notices,
    submissions,
)
from alumnet.domain.analytics.reports.scope import (
    GROUPS,
    Filters,
    Reach,
    cached_report,
    check,
    reach_of,
)
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import Reader
from alumnet.persistence.models import User

REPORTS: dict[str, str] = {
    "attendance": "Attendance",
    "submissions": "Submissions and grades",
    "mentors": "Mentor effectiveness",
    "notices": "Notice acknowledgements",
    "engagement": "Platform engagement",
    "alumni": "Alumni: events, jobs and mentorship",
}

# The tables each report reads: a change to any of them makes its cached figures stale.
# People's names and e-mails are not cached (``_name``): ``users`` changes at every sign-in,
# so only platform engagement, which counts registrations, depends on it (it depends on
# ``sessions`` and ``refresh_tokens``, written at every sign-in, anyway).
_COHORTS = ("enrollments", "missions", "batches", "mentor_assignments", "mission_mentors",
            "engagement_rules")  # fmt: skip
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "attendance": ("attendance_days", *_COHORTS),
    "submissions": ("assignments", "submissions", *_COHORTS),
    "mentors": ("attendance_days", "assignments", "submissions", *_COHORTS),
    "notices": ("notices", "notice_acks", *_COHORTS),
    "engagement": ("users", "sessions", "refresh_tokens", "messages", "attendance_days",
                   "submissions", "notice_acks"),
    "alumni": ("events", "event_registrations", "companies", "event_feedback", "job_postings",
               "job_applications", "mentorship_requests", "mentorships",
               "mentorship_sessions", "mentorship_feedback"),
}  # fmt: skip

__all__ = ["GROUPS", "REPORTS", "build_table", "check_filters", "read"]


def check_filters(report: str, filters: dict[str, Any]) -> None:
    """Refuses (DomainError, naming the field) an unknown report, or filters it does not
    take: unknown keys, ids that are not positive integers, an unknown grouping."""
    check(report, filters)


def today() -> date:
    return datetime.now(UTC).date()


# Figures are cached per quarter hour: every time zone's midnight falls on one, so a
# mission's "yesterday" is the same throughout one.
QUARTER = 15 * 60


def moment() -> datetime:
    """Now, floored to the quarter hour (UTC)."""
    now = datetime.now(UTC)
    return datetime.fromtimestamp(int(now.timestamp()) // QUARTER * QUARTER, UTC)


async def read(
    rt: Runtime,
    db: Reader,
    viewer: Viewer,
    report: str,
    period: DateRange,
    filters: Filters,
    *,
    now: datetime | None = None,
) -> Any:
    """The report's figures for the viewer (a dataclass of the report's module), cached
    per reach, range, filters and quarter hour; the people's names and e-mails read after
    the cache (one statement), never stored in it."""
    at = now or moment()
    async with db.connect() as conn:
        reach = await reach_of(conn, viewer, report)
    builder, kind = _BUILDERS[report]

    async def compute() -> Any:
        async with db.connect() as conn:
            return await builder(conn, reach, period, filters, at)

    key = (reach.signature(), period.since, period.until, tuple(sorted(filters.as_json().items(),
           key=lambda kv: kv[0])), at.isoformat())  # fmt: skip
    found = await cached_report(rt, f"report:{report}", key, DEPENDS_ON[report], compute, kind)
    await _name(db, report, found)
    return found


async def _name(db: Reader, report: str, found: Any) -> None:
    """Fills in the names (and e-mails) of student rows and mentors, then sorts those rows
    again (their order breaks ties by name)."""
    student_rows = report in ("attendance", "submissions") and found.group_by == "student"
    if not (student_rows or report == "mentors"):
        return
    rows = found.rows
    ids = sorted({r.mentor_id if report == "mentors" else r.object_id for r in rows})
    if not ids:
        return
    async with db.connect() as conn:
        people = {
            int(i): (str(name), email)
            for i, name, email in (
                await conn.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
            ).all()
        }
    for r in rows:
        if report == "mentors":
            r.mentor = people.get(r.mentor_id, ("", None))[0]
        else:
            r.label, r.email = people.get(r.object_id, ("", None))
    if report == "attendance":
        attendance.sort_students(rows)
    elif report == "submissions":
        submissions.sort_students(rows)
    else:
        mentors.sort_rows(rows)


async def build_table(
    rt: Runtime, viewer: Viewer, report: str, period: DateRange, filters: dict[str, Any]
) -> Table:
    """The report as a table (columns, rows, charts, notes), as the viewer may see it."""
    checked = check(report, filters)
    found = await read(rt, rt.database, viewer, report, period, checked)
    made = _TABLES[report](found)
    made.title = f"{REPORTS[report]}, {period.since} to {period.until}"
    return made


Builder = Callable[[Any, Reach, DateRange, Filters, datetime], Awaitable[Any]]
_BUILDERS: dict[str, tuple[Builder, type]] = {
    "attendance": (attendance.attendance_report, attendance.AttendanceReport),
    "submissions": (submissions.submissions_report, submissions.SubmissionsReport),
    "mentors": (mentors.mentors_report, mentors.MentorsReport),
    "notices": (notices.notices_report, notices.NoticesReport),
    "engagement": (engagement.engagement_report, engagement.EngagementReport),
    "alumni": (alumni.alumni_report, alumni.AlumniReport),
}
_TABLES: dict[str, Callable[[Any], Table]] = {
    "attendance": attendance.table,
    "submissions": submissions.table,
    "mentors": mentors.table,
    "notices": notices.table,
    "engagement": engagement.table,
    "alumni": alumni.table,
}
