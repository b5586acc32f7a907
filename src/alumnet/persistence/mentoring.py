"""Who mentors whom, as SQL: a mentor assigned to one student in one mission
(``mentor_assignments``), or a mentor of a whole mission (``mission_mentors``), who
mentors every student enrolled in it but themselves. Every check of "is X the mentor of
Y" goes through these, so the two kinds never disagree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, union_all

from alumnet.persistence.models import Enrollment, MentorAssignment, MissionMentor


def mentorships() -> Any:
    """(enrollment_id, mission_id, student_id, mentor_id) of both kinds, as a subquery; a
    student mentored both ways appears twice."""
    each = select(
        MentorAssignment.enrollment_id,
        MentorAssignment.mission_id,
        MentorAssignment.student_id,
        MentorAssignment.mentor_id,
    )
    whole = select(
        Enrollment.id.label("enrollment_id"),
        Enrollment.mission_id,
        Enrollment.student_id,
        MissionMentor.mentor_id,
    ).join(MissionMentor, whole_mission_join())
    return union_all(each, whole).subquery("mentorships")


def whole_mission_join() -> ColumnElement[bool]:
    """Joins ``Enrollment`` to the ``MissionMentor`` rows of its mission; nobody mentors
    themselves."""
    return and_(
        MissionMentor.mission_id == Enrollment.mission_id,
        MissionMentor.mentor_id != Enrollment.student_id,
    )


def whole_missions_of(mentor_id: Any) -> Any:
    """The missions this user mentors as a whole (a SELECT of mission ids)."""
    return select(MissionMentor.mission_id).where(MissionMentor.mentor_id == mentor_id)


def mentored_missions(mentor_id: Any) -> Any:
    """The missions this user mentors in, either way (a SELECT of mission ids)."""
    return union_all(
        select(MentorAssignment.mission_id).where(MentorAssignment.mentor_id == mentor_id),
        whole_missions_of(mentor_id),
    )


def mentors_enrollment(mentor_id: Any) -> ColumnElement[bool]:
    """A condition on ``Enrollment``: this user mentors the enrolment."""
    return or_(
        Enrollment.id.in_(
            select(MentorAssignment.enrollment_id).where(MentorAssignment.mentor_id == mentor_id)
        ),
        and_(
            Enrollment.mission_id.in_(whole_missions_of(mentor_id)),
            Enrollment.student_id != mentor_id,
        ),
    )


def mentors_student(mentor_id: Any, student_id: Any, mission_id: Any = None) -> Any:
    """An EXISTS: this user mentors this student (in this mission, if given)."""
    each = [MentorAssignment.mentor_id == mentor_id, MentorAssignment.student_id == student_id]
    whole = [
        MissionMentor.mentor_id == mentor_id,
        Enrollment.student_id == student_id,
        whole_mission_join(),
    ]
    if mission_id is not None:
        each.append(MentorAssignment.mission_id == mission_id)
        whole.append(MissionMentor.mission_id == mission_id)
    return or_(exists().where(and_(*each)), exists().where(and_(*whole)))


def mentors_in_mission(mentor_id: Any, mission_id: Any) -> Any:
    """An EXISTS: this user mentors someone in this mission, or the whole mission."""
    return or_(
        exists().where(
            MentorAssignment.mission_id == mission_id, MentorAssignment.mentor_id == mentor_id
        ),
        exists().where(
            MissionMentor.mission_id == mission_id, MissionMentor.mentor_id == mentor_id
        ),
    )
