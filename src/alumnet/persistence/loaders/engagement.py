"""Batch loaders and read models for engagement: one statement per batch of keys.

The progress read models are aggregates computed in SQL (counts and ranks), never by
loading rows into Python."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import case, func, select

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.common import by_id, grouped, rows_by_id
from alumnet.persistence.mentoring import mentorships
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    Certificate,
    EngagementRules,
    Enrollment,
    Meeting,
    Mission,
    Resource,
    StoredFile,
    Submission,
    SubmissionVersion,
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
    Assignment.rubric,
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
    Submission.content,
    Submission.file_id,
    Submission.status,
    Submission.mark,
    Submission.rubric_scores,
    Submission.feedback,
    Submission.graded_by_id,
    Submission.graded_at,
    Submission.revision_due_at,
    Submission.version,
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


FILE_COLUMNS = (StoredFile.id, StoredFile.name, StoredFile.content_type, StoredFile.size)


async def files_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    """Handed-in files: name, type and size (never their bytes)."""
    return await by_id(db, FILE_COLUMNS, StoredFile.id, ids)


async def versions_by_submission_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    """Each submission's earlier versions, oldest first."""
    query = (
        select(*SubmissionVersion.__table__.columns)
        .where(SubmissionVersion.submission_id.in_(ids))
        .order_by(SubmissionVersion.submission_id, SubmissionVersion.version)
    )
    return await grouped(db, query, "submission_id", ids)


# Grading read models: aggregates in SQL, a few rows out whatever the numbers.
PERCENTILES = (25, 50, 75, 90)


async def grade_stats(
    db: Reader, assignment_ids: Sequence[int], visible: Any
) -> list[dict[str, Any]]:
    """Per assignment: submissions, graded ones, and their marks' mean, population standard
    deviation, lowest, highest and nearest-rank percentiles (25, 50, 75, 90), over the
    submissions ``visible`` lets the viewer see. Two statements for any number of
    assignments."""
    where = [Submission.assignment_id.in_(list(assignment_ids))]
    if visible is not None:
        where.append(Submission.enrollment_id.in_(select(Enrollment.id).where(visible)))
    totals = (
        select(
            Submission.assignment_id,
            func.count().label("submitted"),
            func.count(Submission.mark).label("graded"),
            func.avg(Submission.mark).label("mean"),
            func.avg(Submission.mark * Submission.mark).label("mean_square"),
            func.min(Submission.mark).label("lowest"),
            func.max(Submission.mark).label("highest"),
        )
        .where(*where)
        .group_by(Submission.assignment_id)
    )
    ranked = (
        select(
            Submission.assignment_id,
            Submission.mark,
            func.row_number()
            .over(partition_by=Submission.assignment_id, order_by=Submission.mark)
            .label("place"),
            func.count().over(partition_by=Submission.assignment_id).label("n"),
        )
        .where(*where, Submission.mark.is_not(None))
        .subquery()
    )
    # Nearest rank: the p-th percentile is the value at place ceil(p * n / 100), written in
    # integers as (p * n + 99) // 100 so that both backends agree.
    wanted = [(p * ranked.c.n + 99) // 100 for p in PERCENTILES]
    picks = select(ranked.c.assignment_id, ranked.c.mark, ranked.c.place, ranked.c.n).where(
        ranked.c.place.in_(wanted)
    )
    async with db.connect() as conn:
        rows = {r.assignment_id: r for r in (await conn.execute(totals)).all()}
        picked = (await conn.execute(picks)).all()
    at: dict[int, dict[int, int]] = defaultdict(dict)
    for r in picked:
        at[r.assignment_id][r.place] = r.mark
    out = []
    for assignment_id in assignment_ids:
        row = rows.get(assignment_id)
        stats: dict[str, Any] = {"submitted": 0, "graded": 0}
        if row is not None:
            stats = {"submitted": row.submitted, "graded": row.graded}
            if row.graded:
                mean = float(row.mean)
                spread = max(0.0, float(row.mean_square) - mean * mean) ** 0.5
                places = at[assignment_id]
                n = row.graded
                stats |= {
                    "mean": round(mean, 3),
                    "standard_deviation": round(spread, 3),
                    "lowest": row.lowest,
                    "highest": row.highest,
                    **{f"p{p}": places.get((p * n + 99) // 100) for p in PERCENTILES},
                }
        out.append(stats)
    return out


async def work_by_student(
    db: Reader, mission_ids: Sequence[int], visible: Any, now: datetime, first: int
) -> list[list[Any]]:
    """Per mission, per active enrolment: assignments due so far, handed in, late,
    missing, graded and waiting to be graded; most missing first, the first ``first`` of
    each mission. One statement for any number of missions."""
    ids = list(mission_ids)
    due = select(Assignment.id).where(Assignment.mission_id.in_(ids), Assignment.due_at <= now)
    n_due = (
        select(Assignment.mission_id, func.count().label("due"))
        .where(Assignment.mission_id.in_(ids), Assignment.due_at <= now)
        .group_by(Assignment.mission_id)
        .subquery()
    )
    counts = (
        select(
            Submission.enrollment_id,
            func.count().label("submitted"),
            func.sum(case((Submission.late, 1), else_=0)).label("late"),
            func.sum(case((Submission.status == "graded", 1), else_=0)).label("graded"),
            func.sum(case((Submission.status == "submitted", 1), else_=0)).label("waiting"),
            func.sum(case((Submission.status == "returned", 1), else_=0)).label("returned"),
        )
        .where(Submission.mission_id.in_(ids), Submission.assignment_id.in_(due))
        .group_by(Submission.enrollment_id)
        .subquery()
    )
    submitted = func.coalesce(counts.c.submitted, 0)
    n = func.coalesce(n_due.c.due, 0)
    late = func.coalesce(counts.c.late, 0)
    ranked = (
        select(
            Enrollment.mission_id,
            Enrollment.id.label("enrollment_id"),
            n.label("due"),
            submitted.label("submitted"),
            (n - submitted).label("missing"),
            late.label("late"),
            func.coalesce(counts.c.graded, 0).label("graded"),
            func.coalesce(counts.c.waiting, 0).label("waiting"),
            func.coalesce(counts.c.returned, 0).label("returned"),
            func.row_number()
            .over(
                partition_by=Enrollment.mission_id,
                order_by=((n - submitted).desc(), late.desc(), Enrollment.id),
            )
            .label("rank"),
        )
        .outerjoin(n_due, n_due.c.mission_id == Enrollment.mission_id)
        .outerjoin(counts, counts.c.enrollment_id == Enrollment.id)
        .where(Enrollment.mission_id.in_(ids), Enrollment.status == "active")
    )
    if visible is not None:
        ranked = ranked.where(visible)
    page = ranked.subquery()
    query = select(page).where(page.c.rank <= first).order_by(page.c.mission_id, page.c.rank)
    return await grouped(db, query, "mission_id", ids)


async def grading_backlog(
    db: Reader, mission_ids: Sequence[int], mentor_id: int | None
) -> list[list[Any]]:
    """Per mission, per mentor (or one), the submissions of their mentees waiting to be
    graded and since when the oldest waits; most waiting first. One statement."""
    ids = list(mission_ids)
    # Distinct pairs: a student mentored both ways counts once for the mentor.
    pairs = select(mentorships()).distinct().subquery()
    query = (
        select(
            Submission.mission_id,
            pairs.c.mentor_id,
            func.count(Submission.id).label("waiting"),
            func.min(Submission.submitted_at).label("oldest"),
        )
        .join(Submission, Submission.enrollment_id == pairs.c.enrollment_id)
        .where(Submission.mission_id.in_(ids), Submission.status == "submitted")
        .group_by(Submission.mission_id, pairs.c.mentor_id)
        .order_by(Submission.mission_id, func.count(Submission.id).desc(), pairs.c.mentor_id)
    )
    if mentor_id is not None:
        query = query.where(pairs.c.mentor_id == mentor_id)
    return await grouped(db, query, "mission_id", ids)


RESOURCE_COLUMNS = (
    Resource.id,
    Resource.mission_id,
    Resource.title,
    Resource.folder,
    Resource.url,
    Resource.file_id,
    Resource.created_by_id,
    Resource.created_at,
    Resource.updated_at,
)


async def resources_by_mission_id(
    db: Reader, ids: Sequence[int], condition: Any = None
) -> list[list[Any]]:
    """Each mission's resources that meet ``condition`` (the viewer's; None: all), by
    folder and title. One statement for any number of missions."""
    query = select(*RESOURCE_COLUMNS).where(Resource.mission_id.in_(ids))
    if condition is not None:
        query = query.where(condition)
    query = query.order_by(Resource.mission_id, Resource.folder, Resource.title, Resource.id)
    return await grouped(db, query, "mission_id", ids)


async def resources_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, RESOURCE_COLUMNS, Resource.id, ids)


CERTIFICATE_COLUMNS = (
    Certificate.id,
    Certificate.enrollment_id,
    Certificate.code,
    Certificate.student_name,
    Certificate.mission_title,
    Certificate.completed_on,
    Certificate.points,
    Certificate.attendance_percent,
    Certificate.file_id,
    Certificate.issued_at,
    Certificate.revoked_at,
    Certificate.revoked_reason,
)


async def certificates_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    """Each enrolment's certificate (None where there is none), in one statement."""
    query = select(*CERTIFICATE_COLUMNS).where(Certificate.enrollment_id.in_(list(ids)))
    async with db.connect() as conn:
        found = {row.enrollment_id: row for row in (await conn.execute(query)).all()}
    return [found.get(i) for i in ids]


async def certificates_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, CERTIFICATE_COLUMNS, Certificate.id, ids)
