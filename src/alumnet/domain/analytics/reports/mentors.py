"""Mentor effectiveness: per mentor and mission, their mentees' attendance over the range,
points (the enrolments' totals) and completion (the range's assignments due so far handed
in), each against the whole mission's average and the difference.

Per enrolment the figures are one grouped statement; they are averaged per (mentor,
mission) over the distinct mentoring pairs (assigned, or mentor of the whole mission) and
per mission in two more: a mission's days and assignments are the same for every student,
so an average of rates is an average of counts over the mission's possible days or due
assignments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Double, cast, func, null, select, union_all

from alumnet.domain.analytics.common import Chart, Column, DateRange, Table
from alumnet.domain.analytics.reports.scope import Filters, Reach, missions_of, moments, whole
from alumnet.persistence.mentoring import mentorships
from alumnet.persistence.models import Assignment, AttendanceDay, Enrollment, Submission


@dataclass
class MentorRow:
    mentor_id: int
    mentor: str
    mission_id: int
    mission: str
    mentees: int
    attendance: float | None
    mission_attendance: float | None
    attendance_difference: float | None
    points: float | None
    mission_points: float | None
    points_difference: float | None
    completion: float | None
    mission_completion: float | None
    completion_difference: float | None
    withheld: bool = False


@dataclass
class MentorsReport:
    since: date
    until: date
    group_by: str
    rows: list[MentorRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


async def mentors_report(
    conn: Any, reach: Reach, period: DateRange, filters: Filters, now: datetime
) -> MentorsReport:
    report = MentorsReport(since=period.since, until=period.until, group_by=filters.group_by)
    missions = await missions_of(conn, reach, filters)
    if not missions:
        report.notes.append("No mission within your reach matches the filter.")
        return report
    ids = [m.id for m in missions]
    by_id = {m.id: m for m in missions}
    start, end = moments(period)
    due = {
        int(m): int(n)
        for m, n in (
            await conn.execute(
                select(Assignment.mission_id, func.count())
                .where(Assignment.mission_id.in_(ids), Assignment.due_at >= start,
                       Assignment.due_at < min(end, now))
                .group_by(Assignment.mission_id)
            )
        ).all()
    }  # fmt: skip
    days = {m.id: (span[1] - span[0]).days + 1 if (span := m.days(period, now)) else 0
            for m in missions}  # fmt: skip
    present = (
        select(AttendanceDay.enrollment_id, func.count().label("n"))
        .where(AttendanceDay.mission_id.in_(ids), AttendanceDay.status == "present",
               AttendanceDay.day >= period.since, AttendanceDay.day <= period.until)
        .group_by(AttendanceDay.enrollment_id)
        .subquery("present")
    )  # fmt: skip
    handed = (
        select(Submission.enrollment_id, func.count().label("n"))
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Submission.mission_id.in_(ids), Assignment.due_at >= start,
               Assignment.due_at < min(end, now))
        .group_by(Submission.enrollment_id)
        .subquery("handed")
    )  # fmt: skip
    each = (
        select(
            Enrollment.id.label("enrollment_id"), Enrollment.mission_id,
            cast(Enrollment.points, Double).label("points"),
            cast(func.coalesce(present.c.n, 0), Double).label("present"),
            cast(func.coalesce(handed.c.n, 0), Double).label("handed"),
        )
        .outerjoin(present, present.c.enrollment_id == Enrollment.id)
        .outerjoin(handed, handed.c.enrollment_id == Enrollment.id)
        .where(whole(ids))
        .cte("each")
    )  # fmt: skip
    both = mentorships()
    pairs = (
        select(both.c.enrollment_id, both.c.mentor_id)
        .where(both.c.mission_id.in_(ids))
        .distinct()
        .subquery("pairs")
    )
    # One statement: per (mentor, mission) and per whole mission (mentor null), over one
    # ``each``.
    found = (
        await conn.execute(
            union_all(
                select(
                    pairs.c.mentor_id, each.c.mission_id, func.count().label("n"),
                    func.avg(each.c.points), func.avg(each.c.present), func.avg(each.c.handed),
                )
                .select_from(pairs)
                .join(each, each.c.enrollment_id == pairs.c.enrollment_id)
                .group_by(pairs.c.mentor_id, each.c.mission_id),
                select(
                    null().label("mentor_id"), each.c.mission_id, func.count(),
                    func.avg(each.c.points), func.avg(each.c.present), func.avg(each.c.handed),
                ).group_by(each.c.mission_id),
            )
        )
    ).all()  # fmt: skip
    averages = {int(m): (int(n), p, a, h) for t, m, n, p, a, h in found if t is None}
    per_mentor = [row for row in found if row[0] is not None]
    # A mentor row withheld, the whole mission's columns are too (for a viewer who may not
    # see the students): the mission's figure less the other rows would give it away.
    suppressed = {int(r[1]) for r in per_mentor if reach.withholds(int(r[2]), [int(r[1])])}
    for mentor_id, mission_id, n, points, attended, handed_n in per_mentor:
        m = by_id[int(mission_id)]
        total, m_points, m_attended, m_handed = averages.get(m.id, (0, None, None, None))
        withheld = reach.withholds(int(n), [m.id])
        mission_hidden = m.id in suppressed or reach.withholds(total, [m.id])
        attendance = _per(attended, days[m.id])
        completion = _per(handed_n, due.get(m.id, 0))
        whole_attendance = None if mission_hidden else _per(m_attended, days[m.id])
        whole_completion = None if mission_hidden else _per(m_handed, due.get(m.id, 0))
        whole_points = None if mission_hidden or m_points is None else round(float(m_points), 2)
        mine = None if points is None else round(float(points), 2)
        if withheld:
            attendance = completion = mine = None
        report.rows.append(MentorRow(
            mentor_id=int(mentor_id), mentor="", mission_id=m.id, mission=m.title,
            mentees=int(n), attendance=attendance, mission_attendance=whole_attendance,
            attendance_difference=_difference(attendance, whole_attendance), points=mine,
            mission_points=whole_points, points_difference=_difference(mine, whole_points),
            completion=completion, mission_completion=whole_completion,
            completion_difference=_difference(completion, whole_completion), withheld=withheld,
        ))  # fmt: skip
    sort_rows(report.rows)
    if any(r.withheld for r in report.rows):
        report.notes.append(
            "Mentors with fewer than five mentees are not broken down for you (their "
            "averages would identify the students), nor are their missions' whole figures "
            "(the others' rows would give theirs away)."
        )
    return report


def sort_rows(rows: list[MentorRow]) -> None:
    """By mission, then mentor's name (names are read after the cache)."""
    rows.sort(key=lambda r: (r.mission, r.mission_id, r.mentor, r.mentor_id))


def _per(average: Any, whole: int) -> float | None:
    """An average count over what each student could have (days, assignments due)."""
    if average is None or not whole:
        return None
    return round(float(average) / whole, 4)


def table(report: MentorsReport) -> Table:
    columns = [
        Column("mentor", "Mentor"),
        Column("mission", "Mission"),
        Column("mentees", "Mentees", "integer"),
        Column("attendance", "Mentees' attendance", "percent"),
        Column("mission_attendance", "Mission's attendance", "percent"),
        Column("attendance_difference", "Difference", "percent"),
        Column("points", "Mentees' points (average)", "decimal"),
        Column("mission_points", "Mission's points (average)", "decimal"),
        Column("points_difference", "Difference", "decimal"),
        Column("completion", "Mentees' completion", "percent"),
        Column("mission_completion", "Mission's completion", "percent"),
        Column("completion_difference", "Difference", "percent"),
    ]
    rows = [
        (r.mentor, r.mission, r.mentees, r.attendance, r.mission_attendance,
         r.attendance_difference, r.points, r.mission_points, r.points_difference,
         r.completion, r.mission_completion, r.completion_difference)
        for r in report.rows
    ]  # fmt: skip
    notes = [
        f"Mentees' attendance ({report.since} to {report.until}), points (totals) and "
        "completion (assignments due in the range, handed in), against their mission's.",
        *report.notes,
    ]
    return Table(
        title="Mentor effectiveness", columns=columns, rows=rows,
        charts=[Chart("bar", "Mentees' attendance against the mission's", "mentor",
                      ("attendance", "mission_attendance"))],
        notes=notes,
    )  # fmt: skip
