"""What every engagement action starts from: the enrolment, its mission and rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, literal, select

from alumnet.domain.engagement.rules import RULE_COLUMNS, Rules
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission, Reach, Viewer
from alumnet.persistence import mentoring
from alumnet.persistence.models import (
    EngagementRules,
    Enrollment,
    Mission,
)
from alumnet.persistence.uow import UnitOfWork


@dataclass(frozen=True)
class Place:
    """A student's enrolment in a mission, with what the rules need to know."""

    enrollment_id: int
    student_id: int
    enrollment_status: str
    mission_id: int
    mission_status: str
    starts_on: date
    ends_on: date
    rules: Rules
    banned_until: date | None = None
    batch_id: int | None = None

    @property
    def reach(self) -> Reach:
        return Reach(batch_id=self.batch_id, mission_id=self.mission_id)

    def restricted(self) -> bool:
        """Banned (and the ban not over, in the mission's time zone) or delisted."""
        if self.enrollment_status == "delisted":
            return True
        if self.enrollment_status == "banned":
            return self.banned_until is None or self.banned_until >= self.rules.today()
        return False

    def active(self) -> bool:
        """Taking part: active, or banned for a time that is over."""
        return self.enrollment_status == "active" or (
            self.enrollment_status == "banned" and not self.restricted()
        )


_PLACE = (
    select(
        Enrollment.id,
        Enrollment.student_id,
        Enrollment.status,
        Enrollment.banned_until,
        Mission.id.label("mission_id"),
        Mission.batch_id.label("batch_id"),
        Mission.status.label("mission_status"),
        Mission.starts_on,
        Mission.ends_on,
        *RULE_COLUMNS,
        EngagementRules.mission_id.label("has_rules"),
    )
    .join(Mission, Mission.id == Enrollment.mission_id)
    .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
)


# Built once (bound parameters): building a statement costs more than running it here.
_PLACE_OF_STUDENT = _PLACE.where(
    Enrollment.mission_id == bindparam("mission_id"),
    Enrollment.student_id == bindparam("student_id"),
)
_PLACE_BY_ENROLLMENT = _PLACE.where(Enrollment.id == bindparam("enrollment_id"))


def _place(row: object) -> Place:
    return Place(
        enrollment_id=row.id,  # type: ignore[attr-defined]
        student_id=row.student_id,  # type: ignore[attr-defined]
        enrollment_status=row.status,  # type: ignore[attr-defined]
        mission_id=row.mission_id,  # type: ignore[attr-defined]
        mission_status=row.mission_status,  # type: ignore[attr-defined]
        starts_on=row.starts_on,  # type: ignore[attr-defined]
        ends_on=row.ends_on,  # type: ignore[attr-defined]
        rules=Rules.from_row(row if row.has_rules is not None else None),  # type: ignore[attr-defined]
        banned_until=row.banned_until,  # type: ignore[attr-defined]
        batch_id=row.batch_id,  # type: ignore[attr-defined]
    )


async def place_of_student(
    uow: UnitOfWork, mission_id: int, student_id: int, field: str = "missionId"
) -> Place:
    """The student's own enrolment; NOT_ENROLLED unless they are enrolled and active."""
    row = (
        await uow.session.execute(
            _PLACE_OF_STUDENT, {"mission_id": mission_id, "student_id": student_id}
        )
    ).first()
    if row is None:
        raise DomainError.of("NOT_ENROLLED", "You are not enrolled in this mission.", field)
    place = _place(row)
    if place.restricted():
        # Enforced here, for every action a student takes in a mission.
        raise DomainError.of(
            "ACCESS_RESTRICTED",
            f"Your access to this mission is restricted ({place.enrollment_status} by an "
            "integrity decision).",
            field,
        )
    if not place.active():
        raise DomainError.of(
            "NOT_ACTIVE", f"Your enrolment in this mission is {place.enrollment_status}.", field
        )
    return place


async def place_by_enrollment(uow: UnitOfWork, enrollment_id: int, field: str) -> Place:
    row = (
        await uow.session.execute(_PLACE_BY_ENROLLMENT, {"enrollment_id": enrollment_id})
    ).first()
    if row is None:
        raise DomainError.of("NOT_FOUND", "No such enrolment.", field)
    return _place(row)


async def mentors_student(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, student_id: int
) -> bool:
    if viewer.user_id is None:
        return False
    found = await uow.session.execute(
        select(literal(1)).where(mentoring.mentors_student(viewer.user_id, student_id, mission_id))
    )
    return found.first() is not None


async def require_staff_or_mentor(
    uow: UnitOfWork, viewer: Viewer, place: Place, field: str
) -> None:
    """Staff with ``engagement:manage``, or one of this student's mentors in this mission.
    Anyone else is told the enrolment does not exist (as reads would show it)."""
    viewer.require_user()
    if viewer.can(Permission.ENGAGEMENT_MANAGE, within=place.reach):
        return
    if await mentors_student(uow, viewer, place.mission_id, place.student_id):
        return
    raise DomainError.of("NOT_FOUND", "No such enrolment.", field)


async def mentors_mission(uow: UnitOfWork, viewer: Viewer, mission_id: int) -> bool:
    if viewer.user_id is None:
        return False
    found = await uow.session.execute(
        select(literal(1)).where(mentoring.mentors_in_mission(viewer.user_id, mission_id))
    )
    return found.first() is not None


def within_mission(place: Place, day: date, field: str) -> None:
    if day < place.starts_on or day > place.ends_on:
        raise DomainError.of(
            "OUTSIDE_MISSION",
            f"The mission runs from {place.starts_on} to {place.ends_on}.",
            field,
        )
