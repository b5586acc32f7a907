"""Batch loaders and read models for engagement: one statement per batch of keys.

The progress read models are aggregates computed in SQL (counts and ranks), never by
loading rows into Python."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.common import by_id, grouped, rows_by_id
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    EngagementRules,
    Enrollment,
    Meeting,
    MeetingAttendance,
    Mission,
    PointEntry,
    Submission,
)

ASSIGNMENT_COLUMNS = (
    Assignment.id,
    Assignment.mission_id,
    Assignment.title,
    Assignment.description,
    Assignment.opens_at,
    Assignment.due_at,
    Assignment.max_points,
    Assignment.late_policy,
    Assignment.late_cutoff_at,
)
MEETING_COLUMNS = (
    Meeting.id,
    Meeting.mission_id,
    Meeting.mentor_id,
    Meeting.held_on,
    Meeting.topic,
    Meeting.created_at,
)


async def rules_by_mission_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        rows = (
            await conn.execute(select(EngagementRules).where(EngagementRules.mission_id.in_(ids)))
        ).all()
    found = {row.EngagementRules.mission_id: row.EngagementRules for row in rows}
    return [found.get(i) for i in ids]


async def assignments_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, ASSIGNMENT_COLUMNS, Assignment.id, ids)


async def meetings_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, MEETING_COLUMNS, Meeting.id, ids)


async def assignments_by_mission_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(*ASSIGNMENT_COLUMNS)
        .where(Assignment.mission_id.in_(ids))
        .order_by(Assignment.due_at, Assignment.id)
    )
    return await grouped(db, query, "mission_id", ids)


async def meetings_by_mission_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(*MEETING_COLUMNS)
        .where(Meeting.mission_id.in_(ids))
        .order_by(Meeting.held_on, Meeting.id)
    )
    return await grouped(db, query, "mission_id", ids)


async def meeting_attendance_by_meeting_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(
            MeetingAttendance.meeting_id,
            MeetingAttendance.enrollment_id,
            MeetingAttendance.student_id,
            MeetingAttendance.created_at,
        )
        .where(MeetingAttendance.meeting_id.in_(ids))
        .order_by(MeetingAttendance.meeting_id, MeetingAttendance.id)
    )
    return await grouped(db, query, "meeting_id", ids)


async def points_by_student_mission(db: Reader, keys: Sequence[tuple[int, int]]) -> list[Any]:
    """(student id, mission id) -> the enrolment's id and points, or None."""
    students = sorted({s for s, _ in keys})
    missions = sorted({m for _, m in keys})
    query = select(
        Enrollment.id, Enrollment.student_id, Enrollment.mission_id, Enrollment.points
    ).where(Enrollment.student_id.in_(students), Enrollment.mission_id.in_(missions))
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found = {(r.student_id, r.mission_id): r for r in rows}
    return [found.get(k) for k in keys]


async def progress_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    """Per enrolment: days present, submissions on time / late, assignments due so far,
    points and rank in the mission (among its active students), in one statement."""
    now = datetime.now(UTC)
    ranked = (
        select(
            Enrollment.id,
            func.rank()
            .over(partition_by=Enrollment.mission_id, order_by=Enrollment.points.desc())
            .label("rank"),
        )
        .where(
            Enrollment.mission_id.in_(select(Enrollment.mission_id).where(Enrollment.id.in_(ids))),
            Enrollment.status == "active",
        )
        .subquery()
    )
    present = (
        select(func.count())
        .where(AttendanceDay.enrollment_id == Enrollment.id, AttendanceDay.status == "present")
        .scalar_subquery()
    )
    on_time = (
        select(func.count())
        .where(Submission.enrollment_id == Enrollment.id, Submission.late.is_(False))
        .scalar_subquery()
    )
    late = (
        select(func.count())
        .where(Submission.enrollment_id == Enrollment.id, Submission.late.is_(True))
        .scalar_subquery()
    )
    due = (
        select(func.count())
        .where(Assignment.mission_id == Enrollment.mission_id, Assignment.due_at <= now)
        .scalar_subquery()
    )
    submitted_due = (
        select(func.count())
        .select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Submission.enrollment_id == Enrollment.id, Assignment.due_at <= now)
        .scalar_subquery()
    )
    query = (
        select(
            Enrollment.id,
            Enrollment.mission_id,
            Enrollment.points,
            present.label("days_present"),
            on_time.label("on_time"),
            late.label("late"),
            (due - submitted_due).label("missing"),
            ranked.c.rank,
            Mission.starts_on,
            Mission.ends_on,
            EngagementRules.time_zone,
        )
        .join(Mission, Mission.id == Enrollment.mission_id)
        .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
        .outerjoin(ranked, ranked.c.id == Enrollment.id)
        .where(Enrollment.id.in_(ids))
    )
    return await rows_by_id(db, query, ids)


async def day_counts(db: Reader, keys: Sequence[tuple[int, date, date]]) -> list[dict[date, int]]:
    """For each (mission id, first day, last day): students present per day; one
    statement per distinct range, whatever the number of missions."""
    ranges: dict[tuple[date, date], list[int]] = defaultdict(list)
    for mission_id, first, last in keys:
        ranges[(first, last)].append(mission_id)
    found: dict[tuple[int, date, date], dict[date, int]] = defaultdict(dict)
    async with db.connect() as conn:
        for (first, last), missions in ranges.items():
            query = (
                select(AttendanceDay.mission_id, AttendanceDay.day, func.count())
                .where(
                    AttendanceDay.mission_id.in_(missions),
                    AttendanceDay.status == "present",
                    AttendanceDay.day >= first,
                    AttendanceDay.day <= last,
                )
                .group_by(AttendanceDay.mission_id, AttendanceDay.day)
            )
            for mission_id, day, n in (await conn.execute(query)).all():
                found[(mission_id, first, last)][day] = int(n)
    return [found.get(key, {}) for key in keys]


async def active_counts(db: Reader, mission_ids: Sequence[int]) -> list[int]:
    """Each mission's actively enrolled students."""
    query = (
        select(Enrollment.mission_id, func.count())
        .where(Enrollment.mission_id.in_(mission_ids), Enrollment.status == "active")
        .group_by(Enrollment.mission_id)
    )
    async with db.connect() as conn:
        counts = {m: int(n) for m, n in (await conn.execute(query)).all()}
    return [counts.get(m, 0) for m in mission_ids]


async def leaderboard(db: Reader, mission_id: int, visible: Any, first: int) -> list[Any]:
    """The mission's active students by points with their rank (ties share a rank);
    ``visible`` filters what the viewer may see after ranking over everyone."""
    ranked = (
        select(
            Enrollment.id,
            Enrollment.points,
            func.rank().over(order_by=Enrollment.points.desc()).label("rank"),
        )
        .where(Enrollment.mission_id == mission_id, Enrollment.status == "active")
        .subquery()
    )
    query = select(ranked.c.id, ranked.c.points, ranked.c.rank)
    if visible is not None:
        query = query.where(ranked.c.id.in_(select(Enrollment.id).where(visible)))
    query = query.order_by(ranked.c.rank, ranked.c.id).limit(first)
    async with db.connect() as conn:
        return list((await conn.execute(query)).all())


ATTENDANCE_COLUMNS = (
    AttendanceDay.id,
    AttendanceDay.enrollment_id,
    AttendanceDay.mission_id,
    AttendanceDay.student_id,
    AttendanceDay.day,
    AttendanceDay.kind,
    AttendanceDay.report,
    AttendanceDay.status,
    AttendanceDay.created_at,
    AttendanceDay.updated_at,
)
SUBMISSION_COLUMNS = (
    Submission.id,
    Submission.assignment_id,
    Submission.enrollment_id,
    Submission.mission_id,
    Submission.student_id,
    Submission.submitted_at,
    Submission.late,
    Submission.source,
)


async def attendance_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, ATTENDANCE_COLUMNS, AttendanceDay.id, ids)


async def submissions_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, SUBMISSION_COLUMNS, Submission.id, ids)


async def submissions_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(*SUBMISSION_COLUMNS)
        .where(Submission.enrollment_id.in_(list(ids)))
        .order_by(Submission.submitted_at, Submission.id)
    )
    return await grouped(db, query, "enrollment_id", ids)


async def point_entries_by_enrollment_id(
    db: Reader, ids: Sequence[int], *, first: int
) -> list[list[Any]]:
    """The latest ``first`` ledger entries of each enrolment, in one statement (a window
    per enrolment)."""
    ranked = (
        select(
            PointEntry.enrollment_id,
            PointEntry.points,
            PointEntry.reason,
            PointEntry.note,
            PointEntry.created_at,
            func.row_number()
            .over(partition_by=PointEntry.enrollment_id, order_by=PointEntry.id.desc())
            .label("place"),
        )
        .where(PointEntry.enrollment_id.in_(list(ids)))
        .subquery()
    )
    query = select(ranked).where(ranked.c.place <= first).order_by(ranked.c.place)
    return await grouped(db, query, "enrollment_id", ids)
