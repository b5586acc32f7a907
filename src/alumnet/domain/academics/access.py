"""Who may see and record what in academics. Every check of "may this viewer record or
read this student's progress in this subject" goes through here.

- A subject is taught to a student when an offering of it covers a mission the student
  takes part in (the offering is to that mission, or to its batch).
- ``academics:manage`` sees and records everything; ``cohorts:read`` staff read everything.
- Faculty (``academics:teach``) record and read for the students their own offerings
  cover (``SubjectOffering.faculty_id``).
- Mentors record and read for the students they mentor in a mission the subject is
  offered to.
- Students read their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.mentoring import mentors_enrollment
from alumnet.persistence.models import Enrollment, Mission, SubjectOffering, Topic


def manages(viewer: Viewer) -> bool:
    return viewer.can(Permission.ACADEMICS_MANAGE)


def reads_everything(viewer: Viewer) -> bool:
    """Academics managers and cohort staff read every student's progress."""
    return manages(viewer) or viewer.can(Permission.COHORTS_READ)


def covers_mission() -> ColumnElement[bool]:
    """Joins ``SubjectOffering`` to the ``Mission`` rows it covers."""
    return or_(
        SubjectOffering.mission_id == Mission.id, SubjectOffering.batch_id == Mission.batch_id
    )


def taught_enrollments(subject_id: Any, faculty_id: Any = None) -> Any:
    """The enrolments (taking part) in missions this subject is offered to, by the
    offerings ``faculty_id`` leads if given: a SELECT of (enrollment id, student id,
    mission id, offering id)."""
    query = (
        select(
            Enrollment.id.label("enrollment_id"),
            Enrollment.student_id,
            Enrollment.mission_id,
            SubjectOffering.id.label("offering_id"),
        )
        .join(Mission, Mission.id == Enrollment.mission_id)
        .join(SubjectOffering, covers_mission())
        .where(SubjectOffering.subject_id == subject_id, taking_part())
    )
    if faculty_id is not None:
        query = query.where(SubjectOffering.faculty_id == faculty_id)
    return query


def students_taught(viewer: Viewer, subject_id: Any) -> Any:
    """A SELECT of the student ids of this subject whose progress the viewer may record
    (and read): all its students for managers, those of the offerings they lead for
    faculty, their mentees for mentors."""
    base = taught_enrollments(subject_id)
    if manages(viewer):
        return base.with_only_columns(Enrollment.student_id)
    me = viewer.user_id if viewer.user_id is not None else -1
    conditions: list[ColumnElement[bool]] = [mentors_enrollment(me)]
    if viewer.can(Permission.ACADEMICS_TEACH):
        conditions.append(SubjectOffering.faculty_id == me)
    return base.where(or_(*conditions)).with_only_columns(Enrollment.student_id)


def readable_students(viewer: Viewer, subject_id: Any) -> Any | None:
    """A SELECT of the student ids of this subject whose progress the viewer may read (None:
    all of them)."""
    if reads_everything(viewer):
        return None
    if viewer.user_id is None:
        return select(Enrollment.student_id).where(false())
    own = taught_enrollments(subject_id).where(Enrollment.student_id == viewer.user_id)
    return students_taught(viewer, subject_id).union(own.with_only_columns(Enrollment.student_id))


def readable_progress(viewer: Viewer, student_col: Any, subject_col: Any) -> Any | None:
    """A condition on rows with a student and a subject column (topic progress, marks,
    summaries): those the viewer may read (None: all). The viewer's own rows, the rows of
    the students they teach or mentor in that subject."""
    if reads_everything(viewer):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    teaching = (
        select(Enrollment.id)
        .join(Mission, Mission.id == Enrollment.mission_id)
        .join(SubjectOffering, covers_mission())
        .where(
            Enrollment.student_id == student_col,
            SubjectOffering.subject_id == subject_col,
            taking_part(),
            or_(
                mentors_enrollment(me),
                and_(
                    SubjectOffering.faculty_id == me,
                    # a faculty member who lost academics:teach reads no more
                    *([] if viewer.can(Permission.ACADEMICS_TEACH) else [false()]),
                ),
            ),
        )
    )
    return or_(student_col == me, exists(teaching))


async def subject_of_topic(session: AsyncSession, topic_id: int, field: str) -> int:
    """The subject of a topic; NOT_FOUND if there is no such topic."""
    subject = (
        await session.execute(select(Topic.subject_id).where(Topic.id == topic_id))
    ).scalar_one_or_none()
    if subject is None:
        raise DomainError.of("NOT_FOUND", "No such topic.", field)
    return int(subject)


async def require_may_record(
    session: AsyncSession,
    viewer: Viewer,
    subject_id: int,
    student_ids: list[int],
    field: str = "studentIds",
) -> None:
    """That the viewer may record these students' progress in the subject: managers, for
    students who take part in a mission it is offered to (OUTSIDE_MISSIONS otherwise);
    anyone else, for the students they teach or mentor in it (NOT_ALLOWED otherwise,
    whatever the reason, so that the answer says nothing of other students' missions).
    One statement for any number of students."""
    viewer.require_user()
    wanted = sorted(set(student_ids))
    if not wanted:
        return
    if not manages(viewer):
        mine = students_taught(viewer, subject_id).where(Enrollment.student_id.in_(wanted))
        allowed = {int(s) for s in (await session.execute(mine.distinct())).scalars()}
        if any(s not in allowed for s in wanted):
            raise DomainError.of(
                "NOT_ALLOWED",
                "You record progress only for the students of your own offerings of this "
                "subject, and for your mentees in the missions it is offered to.",
                field,
            )
        return
    taught = taught_enrollments(subject_id).where(Enrollment.student_id.in_(wanted))
    found = {int(s) for s in (await session.execute(
        taught.with_only_columns(Enrollment.student_id).distinct()
    )).scalars()}  # fmt: skip
    outside = [s for s in wanted if s not in found]
    if outside:
        raise DomainError.of(
            "OUTSIDE_MISSIONS",
            "The subject is not offered to any mission "
            + (
                "this student takes"
                if len(outside) == 1
                else f"{len(outside)} of these students take"
            )
            + " part in.",
            field,
        )
