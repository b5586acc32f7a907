"""Who sees what in cohorts.

Admins, managers and SREs (``cohorts:read``) see everything. A mentor sees the students
assigned to them, only within the missions of those assignments, and every student of a
mission they mentor as a whole (and those missions and their batches). A student sees
their own enrolments, their missions and batches, and their own mentors. Everything else
does not exist for them. A coordinator (a custom role with ``cohorts:read`` within some
batches or missions, see identity/roles.py) sees those batches and missions whole, as
staff do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, null, or_, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from alumnet.domain.identity.permissions import Permission, Reach, Viewer
from alumnet.persistence.db import Reader
from alumnet.persistence.mentoring import (
    mentored_missions,
    mentors_enrollment,
    whole_mission_join,
)
from alumnet.persistence.models import (
    Enrollment,
    MentorAssignment,
    Mission,
    MissionMentor,
    User,
)


def sees_everything(viewer: Viewer) -> bool:
    return viewer.can(Permission.COHORTS_READ)


def coordinated(viewer: Viewer) -> tuple[frozenset[int], frozenset[int]]:
    """The batches and the missions this viewer sees whole through a scoped custom role."""
    return (
        viewer.scoped_batches(Permission.COHORTS_READ),
        viewer.scoped_missions(Permission.COHORTS_READ),
    )


def _coordinated_missions(viewer: Viewer) -> ColumnElement[bool] | None:
    """A condition on ``Mission``: those this viewer sees whole (None: none)."""
    batches, missions = coordinated(viewer)
    if not batches and not missions:
        return None
    return or_(Mission.batch_id.in_(sorted(batches)), Mission.id.in_(sorted(missions)))


def coordinated_mission_ids(viewer: Viewer) -> Any:
    """A subquery of the missions this viewer sees whole as a coordinator (None: none)."""
    coordinating = _coordinated_missions(viewer)
    return None if coordinating is None else select(Mission.id).where(coordinating)


def missions_where(viewer: Viewer, permission: Permission) -> Any:
    """A subquery of the missions the viewer holds ``permission`` within (None: everywhere),
    for lists that staff see whole and a scoped holder sees in part."""
    if viewer.can(permission):
        return None
    batches = viewer.scoped_batches(permission)
    missions = viewer.scoped_missions(permission)
    return select(Mission.id).where(
        or_(Mission.batch_id.in_(sorted(batches)), Mission.id.in_(sorted(missions)))
    )


async def missions_within(
    db: Reader, viewer: Viewer, permission: Permission
) -> frozenset[int] | None:
    """The missions the viewer holds ``permission`` within (None: everywhere); no SQL
    unless the viewer holds it only within some batches or missions."""
    if viewer.can(permission):
        return None
    if not viewer.holds_somewhere(permission):
        return frozenset()
    async with db.connect() as conn:
        found = (await conn.execute(missions_where(viewer, permission))).scalars()
        return frozenset(int(m) for m in found)


async def reach_of_mission(session: AsyncSession, mission_id: int | None) -> Reach:
    """Where a mission sits (its batch); nowhere for a mission that does not exist."""
    if mission_id is None:
        return Reach()
    batch = (
        await session.execute(select(Mission.batch_id).where(Mission.id == mission_id))
    ).scalar_one_or_none()
    return Reach() if batch is None else Reach(batch_id=batch, mission_id=mission_id)


async def require_in_mission(
    session: AsyncSession, viewer: Viewer, permission: Permission, mission_id: int | None
) -> None:
    """``permission`` for something of this mission: held everywhere (no SQL), or within
    the mission or its batch (one statement, for scoped holders only)."""
    if viewer.can(permission):
        return
    viewer.require_somewhere(permission)
    viewer.require(permission, within=await reach_of_mission(session, mission_id))


async def can_in_mission(
    session: AsyncSession, viewer: Viewer, permission: Permission, mission_id: int | None
) -> bool:
    """Whether the viewer holds ``permission`` for something of this mission."""
    if viewer.can(permission):
        return True
    if not viewer.holds_somewhere(permission):
        return False
    return viewer.can(permission, within=await reach_of_mission(session, mission_id))


@dataclass
class CohortScope:
    """What one non-staff viewer is related to; loaded once per request."""

    everything: bool = False
    # (mission id, student id) pairs this viewer mentors.
    mentees: set[tuple[int, int]] = field(default_factory=set)
    # Enrolment ids this viewer mentors, or holds as a student.
    enrollments: set[int] = field(default_factory=set)
    missions: set[int] = field(default_factory=set)
    batches: set[int] = field(default_factory=set)
    # Users this viewer may see through cohorts: mentees, and a student's mentors.
    users: set[int] = field(default_factory=set)
    # (mission id, mentor id) pairs of a student's own mentors.
    my_mentors: set[tuple[int, int]] = field(default_factory=set)
    # Missions this viewer sees whole, as a coordinator of them or of their batch.
    whole_missions: set[int] = field(default_factory=set)

    def sees_whole_mission(self, mission_id: int) -> bool:
        return self.everything or mission_id in self.whole_missions

    def sees_batch(self, batch_id: int) -> bool:
        return self.everything or batch_id in self.batches

    def sees_mission(self, mission_id: int) -> bool:
        return self.everything or mission_id in self.missions

    def sees_enrollment(self, enrollment_id: int) -> bool:
        return self.everything or enrollment_id in self.enrollments

    def sees_user(self, user_id: int) -> bool:
        """Users related through cohorts; for staff, see ``cohort_members``."""
        return user_id in self.users


async def load_scope(db: Reader, viewer: Viewer) -> CohortScope:
    if sees_everything(viewer):
        return CohortScope(everything=True)
    scope = CohortScope()
    if viewer.user_id is None:
        return scope
    me = viewer.user_id
    mentored = (
        select(
            MentorAssignment.enrollment_id,
            MentorAssignment.mission_id,
            MentorAssignment.student_id,
            MentorAssignment.mentor_id,
            Mission.batch_id,
        )
        .join(Mission, Mission.id == MentorAssignment.mission_id)
        .where(MentorAssignment.mentor_id == me)
    )
    own = (
        select(
            Enrollment.id,
            Enrollment.mission_id,
            Enrollment.student_id,
            MentorAssignment.mentor_id,
            Mission.batch_id,
        )
        .join(Mission, Mission.id == Enrollment.mission_id)
        .outerjoin(MentorAssignment, MentorAssignment.enrollment_id == Enrollment.id)
        .where(Enrollment.student_id == me)
    )
    # Whole missions: every enrolment of a mission this viewer mentors (and the mission,
    # even while nobody is enrolled), and the whole-mission mentors of a student's own.
    whole = (
        select(
            Enrollment.id,
            Enrollment.mission_id,
            Enrollment.student_id,
            MissionMentor.mentor_id,
            Mission.batch_id,
        )
        .join(MissionMentor, whole_mission_join())
        .join(Mission, Mission.id == Enrollment.mission_id)
    )
    missions_only = (
        select(null(), MissionMentor.mission_id, null(), MissionMentor.mentor_id, Mission.batch_id)
        .join(Mission, Mission.id == MissionMentor.mission_id)
        .where(MissionMentor.mentor_id == me)
    )
    everything: Any = union_all(
        mentored,
        own,
        whole.where(MissionMentor.mentor_id == me),
        whole.where(Enrollment.student_id == me),
        missions_only,
    )
    async with db.connect() as conn:
        rows = (await conn.execute(everything)).all()
        coordinating = _coordinated_missions(viewer)
        if coordinating is not None:
            # One more statement, for coordinators only.
            whole_rows = (
                await conn.execute(
                    select(Mission.id, Mission.batch_id, Enrollment.id, Enrollment.student_id)
                    .outerjoin(Enrollment, Enrollment.mission_id == Mission.id)
                    .where(coordinating)
                )
            ).all()
            scope.batches |= coordinated(viewer)[0]
            for mission_id, batch_id, enrollment_id, student_id in whole_rows:
                scope.whole_missions.add(mission_id)
                scope.missions.add(mission_id)
                scope.batches.add(batch_id)
                if enrollment_id is not None:
                    scope.enrollments.add(enrollment_id)
                    scope.users.add(student_id)
    for enrollment_id, mission_id, student_id, mentor_id, batch_id in rows:
        scope.missions.add(mission_id)
        scope.batches.add(batch_id)
        if enrollment_id is None:
            continue
        scope.enrollments.add(enrollment_id)
        if mentor_id == me:
            scope.mentees.add((mission_id, student_id))
            scope.users.add(student_id)
        if student_id == me and mentor_id is not None:
            scope.users.add(mentor_id)
            scope.my_mentors.add((mission_id, mentor_id))
    return scope


# --- SQL filters for lists: what a viewer may see, as WHERE clauses ------------------------


def visible_missions(viewer: Viewer) -> ColumnElement[bool] | None:
    """None means no restriction."""
    if sees_everything(viewer):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    coordinating = _coordinated_missions(viewer)
    return or_(
        Mission.id.in_(mentored_missions(me)),
        Mission.id.in_(select(Enrollment.mission_id).where(Enrollment.student_id == me)),
        *([coordinating] if coordinating is not None else []),
    )


def taking_part() -> ColumnElement[bool]:
    """A condition on ``Enrollment``: the student takes part (``Place.active()``): active,
    or banned for a time that is over. A ban is known to be over here once its last day is
    before yesterday in UTC (over in every time zone); the nightly refresh lifts it anyway."""
    over_before = datetime.now(UTC).date() - timedelta(days=1)
    return or_(
        Enrollment.status == "active",
        and_(
            Enrollment.status == "banned",
            Enrollment.banned_until.is_not(None),
            Enrollment.banned_until < over_before,
        ),
    )


def visible_mission_ids(viewer: Viewer) -> Any:
    """A subquery of mission ids the viewer may see (None: all)."""
    condition = visible_missions(viewer)
    if condition is None:
        return None
    return select(Mission.id).where(condition)


def visible_enrollments(viewer: Viewer) -> ColumnElement[bool] | None:
    if sees_everything(viewer):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    coordinating = _coordinated_missions(viewer)
    return or_(
        mentors_enrollment(me),
        Enrollment.student_id == me,
        *(
            [Enrollment.mission_id.in_(select(Mission.id).where(coordinating))]
            if coordinating is not None
            else []
        ),
    )


def visible_students(viewer: Viewer) -> ColumnElement[bool] | None:
    """A condition on ``User`` for students (users enrolled somewhere): those this viewer
    may see (None: all). Users readers and cohort readers see every one; anyone else
    themselves, the students they mentor and their own mentors, as ``CohortScope.users``."""
    if viewer.can(Permission.USERS_READ) or sees_everything(viewer):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    own = select(Enrollment.id).where(Enrollment.student_id == me)
    whole = (
        select(MissionMentor.mentor_id)
        .join(Enrollment, whole_mission_join())
        .where(Enrollment.student_id == me)
    )
    coordinating = _coordinated_missions(viewer)
    return or_(
        User.id == me,
        User.id.in_(select(Enrollment.student_id).where(mentors_enrollment(me))),
        *(
            [
                User.id.in_(
                    select(Enrollment.student_id)
                    .join(Mission, Mission.id == Enrollment.mission_id)
                    .where(coordinating)
                )
            ]
            if coordinating is not None
            else []
        ),
        User.id.in_(
            select(MentorAssignment.mentor_id).where(MentorAssignment.enrollment_id.in_(own))
        ),
        User.id.in_(whole),
    )


async def cohort_members(db: Reader, user_ids: list[int]) -> set[int]:
    """Which of these users are students or mentors in some mission (staff may see them)."""
    if not user_ids:
        return set()
    query = union(
        select(Enrollment.student_id).where(Enrollment.student_id.in_(user_ids)),
        select(MentorAssignment.mentor_id).where(MentorAssignment.mentor_id.in_(user_ids)),
        select(MissionMentor.mentor_id).where(MissionMentor.mentor_id.in_(user_ids)),
    )
    async with db.connect() as conn:
        return {int(u) for u in (await conn.execute(query)).scalars()}
