"""Cohorts batch loaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, literal, select, union_all

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.common import by_id
from alumnet.persistence.loaders.identity import USER_COLUMNS
from alumnet.persistence.mentoring import whole_mission_join
from alumnet.persistence.models import (
    Batch,
    Enrollment,
    MentorAssignment,
    Mission,
    MissionMentor,
    User,
)

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
    """The mentors (user rows) of each enrolment, by name: assigned to the student, or
    mentoring the whole mission."""
    each = (
        select(MentorAssignment.enrollment_id, *USER_COLUMNS)
        .join(User, User.id == MentorAssignment.mentor_id)
        .where(MentorAssignment.enrollment_id.in_(ids))
    )
    whole = (
        select(Enrollment.id.label("enrollment_id"), *USER_COLUMNS)
        .join(MissionMentor, whole_mission_join())
        .join(User, User.id == MissionMentor.mentor_id)
        .where(Enrollment.id.in_(ids))
    )
    both = union_all(each, whole).subquery()
    query = select(both).order_by(both.c.enrollment_id, both.c.name, both.c.id)
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        listed = found[row.enrollment_id]
        if not listed or listed[-1].id != row.id:  # a mentor both ways, once
            listed.append(row)
    return [found.get(i, []) for i in ids]


async def mentor_loads_by_mission_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    """Each mission's mentors with how many students each mentors there, by name; a
    mentor of the whole mission mentors every student enrolled (``whole_mission`` 1)."""
    enrolled = (
        select(func.count()).select_from(Enrollment).where(whole_mission_join())
    ).scalar_subquery()
    each = (
        select(MentorAssignment.mission_id, MentorAssignment.mentor_id,
               func.count(MentorAssignment.id).label("n"), literal(0).label("whole"))
        .where(MentorAssignment.mission_id.in_(ids))
        .group_by(MentorAssignment.mission_id, MentorAssignment.mentor_id)
    )  # fmt: skip
    whole = select(MissionMentor.mission_id, MissionMentor.mentor_id, enrolled, literal(1)).where(
        MissionMentor.mission_id.in_(ids)
    )
    both = union_all(each, whole).subquery()
    query = (
        select(
            both.c.mission_id,
            *USER_COLUMNS,
            func.max(both.c.n).label("mentee_count"),
            func.max(both.c.whole).label("whole_mission"),
        )
        .join(User, User.id == both.c.mentor_id)
        .group_by(both.c.mission_id, *USER_COLUMNS)
        .order_by(both.c.mission_id, User.name, User.id)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        found[row.mission_id].append(row)
    return [found.get(i, []) for i in ids]
