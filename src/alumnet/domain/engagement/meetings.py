"""Meetings of a mission (date, mentor, topic) and who attended each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select

from alumnet.domain.cohorts import access
from alumnet.domain.engagement import points
from alumnet.domain.engagement.common import (
    mentors_mission,
    mentors_student,
    place_of_student,
    within_mission,
)
from alumnet.domain.engagement.rules import rules_of
from alumnet.domain.errors import DomainError, Problems, Sent, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import (
    Enrollment,
    Meeting,
    MeetingAttendance,
    Mission,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

TOPIC_MAX = 200
# Students may say they attended from the meeting's day until a week after it.
SELF_REPORT_DAYS = 7
RECORD_MAX = 500


async def _mission(uow: UnitOfWork, mission_id: int) -> Mission:
    mission = await uow.session.get(Mission, mission_id)
    if mission is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    return mission


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    mission_id: int,
    *,
    held_on: date,
    topic: str,
    mentor_id: int | None,
) -> Meeting:
    """Staff schedule meetings for any mentor; a mentor of the mission for themselves."""
    me = viewer.require_user()
    staff = await access.can_in_mission(
        uow.session, viewer, Permission.ENGAGEMENT_MANAGE, mission_id
    )
    if not staff and not await mentors_mission(uow, viewer, mission_id):
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    mission = await _mission(uow, mission_id)
    problems = Problems()
    text = check_text(
        problems, topic, field="topic", max_length=TOPIC_MAX, min_length=1, label="The topic"
    )
    if held_on < mission.starts_on or held_on > mission.ends_on:
        problems.add(
            "OUTSIDE_MISSION",
            f"The mission runs from {mission.starts_on} to {mission.ends_on}.",
            "heldOn",
        )
    if mentor_id is None:
        mentor_id = None if staff else me
    elif not staff and mentor_id != me:
        problems.add("NOT_YOURS", "Mentors schedule their own meetings.", "mentorId")
    elif mentor_id is not None:
        is_mentor = await uow.session.execute(
            select(UserRole.user_id).where(
                UserRole.user_id == mentor_id, UserRole.role == Role.MENTOR.value
            )
        )
        if is_mentor.first() is None:
            problems.add("NOT_A_MENTOR", "That user is not a mentor.", "mentorId")
    problems.raise_if_any()
    meeting = Meeting(
        mission_id=mission_id, mentor_id=mentor_id, held_on=held_on, topic=text or "",
        created_by_id=me, created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(meeting)
    await uow.session.flush()
    audit.record(
        uow, "meeting.create", object_type="Meeting", object_ids=[meeting.id],
        details={"mission": mission_id, "heldOn": held_on.isoformat()},
    )  # fmt: skip
    return meeting


async def _meeting(uow: UnitOfWork, meeting_id: int) -> Meeting:
    meeting = await uow.session.get(Meeting, meeting_id)
    if meeting is None:
        raise DomainError.of("NOT_FOUND", "No such meeting.", "meetingId")
    return meeting


async def attend(uow: UnitOfWork, viewer: Viewer, meeting_id: int) -> tuple[Meeting, bool]:
    """The student says they attended; idempotent."""
    student_id = viewer.require_user()
    meeting = await _meeting(uow, meeting_id)
    place = await place_of_student(uow, meeting.mission_id, student_id, "meetingId")
    today = place.rules.today()
    if meeting.held_on > today:
        raise DomainError.of("FUTURE_DAY", "The meeting has not happened yet.", "meetingId")
    if today - meeting.held_on > timedelta(days=SELF_REPORT_DAYS):
        raise DomainError.of(
            "WINDOW_CLOSED", "It is too late to report this meeting; ask your mentor.", "meetingId"
        )
    within_mission(place, meeting.held_on, "meetingId")
    added = await _record(uow, meeting, place.enrollment_id, student_id, student_id)
    if added is not None:
        await points.award(
            uow, mission_id=meeting.mission_id, enrollment_id=place.enrollment_id,
            student_id=student_id, points=place.rules.meeting_points, reason=points.MEETING,
            source_type=points.MEETING, source_id=added,
        )  # fmt: skip
    return meeting, added is not None


async def _record(
    uow: UnitOfWork, meeting: Meeting, enrollment_id: int, student_id: int, by: int | None
) -> int | None:
    """The new attendance row's id, or None if it was recorded already."""
    added = await insert_or_ignore(
        uow.session, MeetingAttendance,
        {"meeting_id": meeting.id, "enrollment_id": enrollment_id,
         "mission_id": meeting.mission_id, "student_id": student_id, "recorded_by_id": by,
         "created_at": datetime.now(UTC)},
        ["meeting_id", "enrollment_id"],
    )  # fmt: skip
    if not added:
        return None
    row = await uow.session.execute(
        select(MeetingAttendance.id).where(
            MeetingAttendance.meeting_id == meeting.id,
            MeetingAttendance.enrollment_id == enrollment_id,
        )
    )
    return int(row.scalar_one())


async def record(
    uow: UnitOfWork,
    viewer: Viewer,
    meeting_id: int,
    *,
    student_ids: Sequence[Sent],
    present: bool,
) -> int:
    """A mentor (for their mentees) or staff mark students present or absent; returns how
    many changed. Audited; points follow through the ledger. Each problem points at its
    entry of ``studentIds``: an id that names no user is NOT_FOUND (for a mentor, a user
    who is not their mentee is NOT_YOUR_MENTEE whether or not they exist)."""
    me = viewer.require_user()
    meeting = await _meeting(uow, meeting_id)
    staff = await access.can_in_mission(
        uow.session, viewer, Permission.ENGAGEMENT_MANAGE, meeting.mission_id
    )
    if not staff and not await mentors_mission(uow, viewer, meeting.mission_id):
        raise DomainError.of("NOT_FOUND", "No such meeting.", "meetingId")
    if len(student_ids) > RECORD_MAX:
        raise DomainError.of("TOO_MANY", f"At most {RECORD_MAX} students at once.", "studentIds")
    rules = await rules_of(uow, meeting.mission_id)
    if meeting.held_on > rules.today():
        raise DomainError.of("FUTURE_DAY", "The meeting has not happened yet.", "meetingId")
    problems = Problems()
    enrollments: dict[int, int] = {}
    for index, sent in enumerate(student_ids):
        sid, where = sent.pk, ("studentIds", str(index))
        row = None
        if sid is not None:
            row = (
                await uow.session.execute(
                    select(Enrollment.id, Enrollment.status).where(
                        Enrollment.mission_id == meeting.mission_id, Enrollment.student_id == sid
                    )
                )
            ).first()
        if sid is None:
            problems.add("NOT_FOUND", f"No user has the id {sent.said}.", where)
        elif not staff and not await mentors_student(uow, viewer, meeting.mission_id, sid):
            # Checked first: a mentor learns nothing about students who are not theirs.
            problems.add("NOT_YOUR_MENTEE", f"You do not mentor the user {sent.said}.", where)
        elif row is None and await uow.session.get(User, sid) is None:
            problems.add("NOT_FOUND", f"No user has the id {sent.said}.", where)
        elif row is None:
            problems.add(
                "NOT_ENROLLED", f"The user {sent.said} is not a student of this mission.", where
            )
        elif present and row[1] != "active":
            problems.add("NOT_ACTIVE", f"The enrolment of the user {sent.said} is {row[1]}.",
                         where)  # fmt: skip
        else:
            enrollments[sid] = int(row[0])
    problems.raise_if_any()
    changed = 0
    for sid, enrollment_id in enrollments.items():
        if present:
            added = await _record(uow, meeting, enrollment_id, sid, me)
            if added is not None:
                changed += 1
                await points.award(
                    uow, mission_id=meeting.mission_id, enrollment_id=enrollment_id,
                    student_id=sid, points=rules.meeting_points, reason=points.MEETING,
                    source_type=points.MEETING, source_id=added,
                )  # fmt: skip
        else:
            # DELETE … RETURNING: of two concurrent "absent" marks, one takes the points back.
            existing = (
                await uow.session.execute(
                    delete(MeetingAttendance)
                    .where(
                        MeetingAttendance.meeting_id == meeting.id,
                        MeetingAttendance.enrollment_id == enrollment_id,
                    )
                    .returning(MeetingAttendance.id)
                )
            ).scalar_one_or_none()
            if existing is None:
                continue
            changed += 1
            await points.award(
                uow, mission_id=meeting.mission_id, enrollment_id=enrollment_id,
                student_id=sid, points=-rules.meeting_points, reason="correction",
                source_type=points.MEETING, source_id=existing,
                note="Marked absent from the meeting.",
            )  # fmt: skip
    if changed:
        audit.record(
            uow, "meeting.attendance", object_type="Meeting", object_ids=[meeting.id],
            details={"present": present, "students": sorted(enrollments)},
        )  # fmt: skip
    return changed
