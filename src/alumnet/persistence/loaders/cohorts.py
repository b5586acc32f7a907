"""Cohorts batch loaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.common import by_id
from alumnet.persistence.loaders.identity import USER_COLUMNS
from alumnet.persistence.models import Batch, Enrollment, MentorAssignment, Mission, User

BATCH_COLUMNS = (
    Batch.id,
    Batch.name,
    Batch.code,
    Batch.description,
    Batch.status,
    Batch.starts_on,
    Batch.ends_on,
    Batch.created_at,
    Batch.archived_at,
)
MISSION_COLUMNS = (
    Mission.id,
    Mission.batch_id,
    Mission.title,
    Mission.code,
    Mission.description,
    Mission.status,
    Mission.starts_on,
    Mission.ends_on,
    Mission.created_at,
)
ENROLLMENT_COLUMNS = (
    Enrollment.id,
    Enrollment.mission_id,
    Enrollment.student_id,
    Enrollment.status,
    Enrollment.points,
    Enrollment.created_at,
)
ASSIGNMENT_COLUMNS = (
    MentorAssignment.id,
    MentorAssignment.enrollment_id,
    MentorAssignment.mission_id,
    MentorAssignment.student_id,
    MentorAssignment.mentor_id,
    MentorAssignment.created_at,
)


async def batches_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, BATCH_COLUMNS, Batch.id, ids)


async def missions_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, MISSION_COLUMNS, Mission.id, ids)


async def enrollments_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, ENROLLMENT_COLUMNS, Enrollment.id, ids)


async def assignments_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, ASSIGNMENT_COLUMNS, MentorAssignment.id, ids)


async def mentors_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    """The mentors (user rows) of each enrolment, by name."""
    query = (
        select(MentorAssignment.enrollment_id, *USER_COLUMNS)
        .join(User, User.id == MentorAssignment.mentor_id)
        .where(MentorAssignment.enrollment_id.in_(ids))
        .order_by(MentorAssignment.enrollment_id, User.name, User.id)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        found[row.enrollment_id].append(row)
    return [found.get(i, []) for i in ids]


async def mentor_loads_by_mission_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    """Each mission's mentors with how many students each mentors there, by name."""
    query = (
        select(
            MentorAssignment.mission_id,
            *USER_COLUMNS,
            func.count(MentorAssignment.id).label("mentee_count"),
        )
        .join(User, User.id == MentorAssignment.mentor_id)
        .where(MentorAssignment.mission_id.in_(ids))
        .group_by(MentorAssignment.mission_id, *USER_COLUMNS)
        .order_by(MentorAssignment.mission_id, User.name, User.id)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        found[row.mission_id].append(row)
    return [found.get(i, []) for i in ids]
