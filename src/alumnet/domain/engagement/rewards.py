"""Rewards and penalties by hand: staff, and a student's mentors in the mission, award or
deduct points in one of the mission's categories, with a reason, through the ledger."""

from __future__ import annotations

from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.engagement import points
from alumnet.domain.engagement.common import place_by_enrollment, require_staff_or_mentor
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.uow import UnitOfWork

MANUAL = "manual"  # the ledger's source of points given by hand (never recalculated)
POINTS_MAX = 1000
REASON_MAX = 500


async def award(
    uow: UnitOfWork, viewer: Viewer, enrollment_id: int, *, points_given: int, category: str,
    reason: str,
) -> int:  # fmt: skip
    """Add (or, negative, deduct) points; returns the enrolment's new total. A student
    whose access is restricted gains nothing (as with every award) but may lose points."""
    place = await place_by_enrollment(uow, enrollment_id, "enrollmentId")
    await require_staff_or_mentor(uow, viewer, place, "enrollmentId")
    problems = Problems()
    if points_given == 0 or abs(points_given) > POINTS_MAX:
        problems.add("OUT_OF_RANGE", f"Award or deduct 1 to {POINTS_MAX} points.", "points")
    named = place.rules.category(category)
    if named is None:
        problems.add(
            "UNKNOWN_CATEGORY",
            f"The mission's categories are: {', '.join(place.rules.reward_categories)}.",
            "category",
        )
    why = check_text(problems, reason, field="reason", max_length=REASON_MAX, min_length=1,
                     label="The reason")  # fmt: skip
    problems.raise_if_any()
    if points_given > 0 and place.restricted():
        raise DomainError.of(
            "ACCESS_RESTRICTED",
            f"This student's access is restricted ({place.enrollment_status}): no awards.",
            "enrollmentId",
        )
    await points.award(
        uow, mission_id=place.mission_id, enrollment_id=place.enrollment_id,
        student_id=place.student_id, points=points_given,
        reason="award" if points_given > 0 else "deduction", source_type=MANUAL,
        source_id=None, note=why, category=named,
    )  # fmt: skip
    audit.record(
        uow, "points.award", object_type="Enrollment", object_ids=[enrollment_id],
        details={"points": points_given, "category": named, "reason": why},
    )  # fmt: skip
    gained = points_given > 0
    await notify(uow, [place.student_id], Event(
        kind="points",
        title=f"{'+' if gained else ''}{points_given} points: {named}",
        body=why or "", subject_type="Enrollment", subject_id=enrollment_id,
    ))  # fmt: skip
    total = await uow.session.execute(points.total_of(place.enrollment_id))
    return int(total.scalar_one())
