"""Converting an applied inquiry into a student: a STUDENT account made through identity's
own path for it (``users.create_student``: the checks, the invitation e-mail with a link
to choose a password, the audit row, as ``userCreate`` makes one) and its profile (with
the programme of interest), optionally enrolled in a mission (cohorts' roster), the
inquiry enrolled (furthest 5) with a timeline entry.

``admissions`` is what converting needs, and it makes only STUDENT accounts: it grants no
``users:manage``, and a token keeps its scope (a WRITE token converts, a READ token does
not). An account that has the inquiry's e-mail already is linked only by a viewer who
holds ``users:manage`` (who reads and manages users anyway) and only if it is a student's;
for anyone else, and for any other account, ACCOUNT_EXISTS, the same answer for a student
or a staff account, and nothing is written. The profile of an account the call did not
create is never changed. Converting again returns the same student and writes nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from alumnet.domain.admissions import inquiries
from alumnet.domain.admissions.timeline import add_activity
from alumnet.domain.cohorts import roster
from alumnet.domain.errors import DomainError, PermissionDenied
from alumnet.domain.identity import audit, users
from alumnet.domain.identity.permissions import Permission, Reach, Role, Viewer
from alumnet.domain.ops import webhooks
from alumnet.domain.people.profiles import profile_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Inquiry, Mission, User, UserRole
from alumnet.persistence.uow import UnitOfWork

VIA = "inquiryConvert"


def _account_exists() -> DomainError:
    return DomainError.of("ACCOUNT_EXISTS", "An account with this e-mail exists; a user "
                          "manager can link it.", "id")  # fmt: skip


async def _is_student(uow: UnitOfWork, user_id: int) -> bool:
    found = await uow.session.execute(
        select(UserRole.user_id).where(
            UserRole.user_id == user_id, UserRole.role == Role.STUDENT.value
        )
    )
    return found.first() is not None


async def _may_link(uow: UnitOfWork, viewer: Viewer, existing: User) -> bool:
    """Whether the viewer may link this existing account: a user manager, a student's."""
    return (
        viewer.can(Permission.USERS_MANAGE)
        and existing.status != users.DELETED
        and await _is_student(uow, existing.id)
    )


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
    """Make (or, for a user manager, link) the inquiry's student and enrol the inquiry;
    see the module."""
    if not viewer.may_write:
        raise PermissionDenied("write")
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
        if not await _may_link(uow, viewer, existing):
            raise _account_exists()
        student, made = existing, False
    else:
        try:
            student = await users.create_student(rt, uow, viewer, inquiry.email, inquiry.name,
                                                 via=VIA)  # fmt: skip
        except DomainError as error:
            # Made meanwhile by another request: the same neutral answer.
            if any(p.code == "EMAIL_TAKEN" for p in error.problems):
                raise _account_exists() from error
            raise
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
    await webhooks.emit(uow, webhooks.EventType.INQUIRY_CONVERTED, {
        "id": webhooks.gid("Inquiry", inquiry.id), "userId": webhooks.gid("User", student.id),
        "created": made,
        "missionId": webhooks.gid("Mission", mission.id) if mission is not None else None,
    })  # fmt: skip
    return inquiry, student
