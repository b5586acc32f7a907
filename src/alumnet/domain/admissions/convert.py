"""Converting an applied inquiry into a student: the STUDENT account made through the path
staff use to add people (``users.create_user``: the invitation e-mail with a link to choose
a password) and its profile (with the programme of interest), optionally enrolled in a
mission (cohorts' roster), the inquiry enrolled (furthest 5) with a timeline entry.

An account that has the inquiry's e-mail already is linked if it is a student's, else
EMAIL_TAKEN. Converting again returns the same student and writes nothing.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from alumnet.domain.admissions import inquiries
from alumnet.domain.admissions.timeline import add_activity
from alumnet.domain.cohorts import roster
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit, users
from alumnet.domain.identity.permissions import Grant, Permission, Reach, Role, Viewer
from alumnet.domain.people.profiles import profile_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Inquiry, Mission, User, UserRole
from alumnet.persistence.uow import UnitOfWork


def _adding_people(viewer: Viewer) -> Viewer:
    """The counsellor, allowed for this one step to add a person the way ``userCreate``
    does: admissions staff make students of applicants without managing users at large."""
    grant = Grant(
        assignment_id=0,
        role_id=0,
        role_name="admissions conversion",
        permissions=frozenset({Permission.USERS_MANAGE}),
    )
    return replace(viewer, scope=None, grants=(*viewer.grants, grant))


async def _is_student(uow: UnitOfWork, user_id: int) -> bool:
    found = await uow.session.execute(
        select(UserRole.user_id).where(
            UserRole.user_id == user_id, UserRole.role == Role.STUDENT.value
        )
    )
    return found.first() is not None


async def _mission(uow: UnitOfWork, viewer: Viewer, mission_id: int) -> Mission:
    mission = await uow.session.get(Mission, mission_id)
    if mission is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    reach = Reach(batch_id=mission.batch_id, mission_id=mission.id)
    if not viewer.can(Permission.ENROLLMENTS_MANAGE, within=reach):
        raise DomainError.of("NOT_ALLOWED", "Enrolling in a mission needs "
                             "`enrollments:manage` there.", "missionId")  # fmt: skip
    return mission


async def convert(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    inquiry_id: int,
    mission_id: int | None = None,
) -> tuple[Inquiry, User]:
    """Make (or link) the inquiry's student and enrol the inquiry; see the module."""
    inquiry = await inquiries.locked(uow, viewer, inquiry_id)
    if inquiry.user_id is not None:
        student = await uow.session.get(User, inquiry.user_id)
        if student is not None:
            return inquiry, student
    if inquiry.stage != "applied":
        raise DomainError.of("STAGE_NOT_ALLOWED", "Only an applied inquiry is converted; this "
                             f"one is {inquiry.stage}.", "id")  # fmt: skip
    if not inquiry.email:
        raise DomainError.of("EMAIL_REQUIRED", "Add the applicant's e-mail address first: "
                             "their invitation goes there.", "id")  # fmt: skip
    mission = await _mission(uow, viewer, mission_id) if mission_id is not None else None
    existing = await users.user_by_email(uow, inquiry.email)
    if existing is not None:
        if existing.status == users.DELETED or not await _is_student(uow, existing.id):
            raise DomainError.of("EMAIL_TAKEN", "This e-mail address belongs to an account "
                                 "that is not a student's.", "id")  # fmt: skip
        student, made = existing, False
    else:
        new = users.NewUser(email=inquiry.email, name=inquiry.name, roles=[Role.STUDENT])
        student = await users.create_user(rt, uow, _adding_people(viewer), new)
        made = True
        if inquiry.phone and not student.phone:
            student.phone = inquiry.phone
    profile = await profile_of(uow, student.id)
    if inquiry.programme_id is not None and profile.programme_id is None:
        profile.programme_id = inquiry.programme_id
    if mission is not None:
        await roster.enroll(uow, viewer, mission.id, student.id)
    inquiry.user_id = student.id
    await inquiries.move(rt, uow, inquiry, "enrolled", actor_id=viewer.user_id)
    said = "a new student account" if made else "the existing student account"
    await add_activity(uow, inquiry, "converted", f"Converted into {said} of {student.name}.",
                       actor_id=viewer.user_id)  # fmt: skip
    audit.record(uow, "inquiry.convert", object_type="Inquiry", object_ids=[inquiry.id],
                 details={"user": student.id, "created": made,
                          "mission": mission.id if mission is not None else None})  # fmt: skip
    return inquiry, student
