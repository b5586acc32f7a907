"""Daily attendance: submitted by the student for today (in the mission's time zone),
recorded once however often it is sent; corrected by mentors and staff, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from alumnet.domain.engagement import points
from alumnet.domain.engagement.common import (
    Place,
    place_by_enrollment,
    place_of_student,
    require_staff_or_mentor,
    within_mission,
)
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.ops import webhooks
from alumnet.persistence.models import AttendanceDay
from alumnet.persistence.uow import UnitOfWork

REPORT_MAX = 2000
REASON_MAX = 500


def attendance_conditions(
    day: date | None, since: date | None, until: date | None, student_id: int | None
) -> list[Any]:
    """What an attendance filter asks (the `attendance` lists and exports alike)."""
    found: list[Any] = []
    if day is not None:
        found.append(AttendanceDay.day == day)
    if since is not None:
        found.append(AttendanceDay.day >= since)
    if until is not None:
        found.append(AttendanceDay.day <= until)
    if student_id is not None:
        found.append(AttendanceDay.student_id == student_id)
    return found


@dataclass(frozen=True)
class Recorded:
    id: int
    enrollment_id: int
    student_id: int
    mission_id: int
    day: date
    kind: str
    report: str | None
    status: str
    created: bool
    recorded_at: datetime


async def _recorded(
    uow: UnitOfWork, record_id: int, enrollment_id: int, mission_id: int, student_id: int,
    day: date, status: str,
) -> None:  # fmt: skip
    await webhooks.emit(uow, webhooks.EventType.ATTENDANCE_RECORDED, {
        "id": webhooks.gid("AttendanceRecord", record_id),
        "enrollmentId": webhooks.gid("Enrollment", enrollment_id),
        "missionId": webhooks.gid("Mission", mission_id),
        "studentId": webhooks.gid("User", student_id), "day": day.isoformat(), "status": status,
    })  # fmt: skip


_COLUMNS = (
    AttendanceDay.id,
    AttendanceDay.kind,
    AttendanceDay.report,
    AttendanceDay.status,
    AttendanceDay.created_at,
)
_VALUES: dict[str, Any] = {
    name: bindparam(name)
    for name in ("enrollment_id", "mission_id", "student_id", "day", "kind", "report",
                 "status", "recorded_by_id", "created_at", "updated_at")
}  # fmt: skip
_INSERTS = {
    dialect: insert_fn(AttendanceDay)
    .values(_VALUES)
    .on_conflict_do_nothing(index_elements=["enrollment_id", "day"])
    .returning(*_COLUMNS)
    for dialect, insert_fn in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
_EXISTING = select(*_COLUMNS).where(
    AttendanceDay.enrollment_id == bindparam("enrollment_id"),
    AttendanceDay.day == bindparam("day"),
)


def _insert(session: Any) -> Any:
    return _INSERTS[session.get_bind().dialect.name]


def _check_day(place: Place, day: date | None, now: datetime) -> date:
    today = place.rules.today(now)
    if day is None:
        day = today
    if day > today:
        raise DomainError.of("FUTURE_DAY", "Attendance cannot be given for a future day.", "day")
    if day < today and not (day == today - timedelta(days=1) and place.rules.grace_open(day, now)):
        raise DomainError.of(
            "WINDOW_CLOSED",
            f"Attendance for {day} can no longer be submitted; ask your mentor to correct it.",
            "day",
        )
    within_mission(place, day, "day")
    return day


async def submit(
    uow: UnitOfWork,
    viewer: Viewer,
    mission_id: int,
    *,
    day: date | None = None,
    report: str | None = None,
) -> Recorded:
    """The student's own attendance; sending it again changes nothing (created=False)."""
    student_id = viewer.require_user()
    place = await place_of_student(uow, mission_id, student_id)
    kind = place.rules.attendance_kind(place.mission_status)
    if kind == "none":
        raise DomainError.of(
            "NOT_TAKING_ATTENDANCE",
            f"This mission does not take attendance while it is {place.mission_status}.",
            "missionId",
        )
    now = datetime.now(UTC)
    day = _check_day(place, day, now)
    problems = Problems()
    text = check_text(problems, report, field="report", max_length=REPORT_MAX, label="The report")
    if kind == "report" and not text:
        problems.add("REPORT_REQUIRED", "This mission asks for a short report each day.", "report")
    problems.raise_if_any()
    values = {
        "enrollment_id": place.enrollment_id, "mission_id": mission_id,
        "student_id": student_id, "day": day, "kind": kind, "report": text or None,
        "status": "present", "recorded_by_id": student_id, "created_at": now, "updated_at": now,
    }  # fmt: skip
    session = uow.session
    # One row per student and day, whoever gets there first: a concurrent duplicate
    # inserts nothing and reads the row that won.
    row = (await session.execute(_insert(session), values)).first()
    added = row is not None
    if row is None:
        row = (await session.execute(_EXISTING, values)).one()
    if added:
        await points.award(
            uow, mission_id=mission_id, enrollment_id=place.enrollment_id,
            student_id=student_id, points=place.rules.attendance_points,
            reason=points.ATTENDANCE, source_type=points.ATTENDANCE, source_id=row.id,
        )  # fmt: skip
        await _recorded(uow, row.id, place.enrollment_id, mission_id, student_id, day, "present")
    return Recorded(
        id=row.id, enrollment_id=place.enrollment_id, student_id=student_id,
        mission_id=mission_id, day=day, kind=row.kind, report=row.report, status=row.status,
        created=added, recorded_at=row.created_at,
    )  # fmt: skip


async def correct(
    uow: UnitOfWork,
    viewer: Viewer,
    enrollment_id: int,
    *,
    day: date,
    present: bool,
    reason: str,
) -> Recorded:
    """Mark a day present or absent for a student (their mentor, or staff); audited, and
    the points follow through the ledger."""
    place = await place_by_enrollment(uow, enrollment_id, "enrollmentId")
    await require_staff_or_mentor(uow, viewer, place, "enrollmentId")
    problems = Problems()
    why = check_text(
        problems, reason, field="reason", max_length=REASON_MAX, min_length=1, label="The reason"
    )
    problems.raise_if_any()
    if day > place.rules.today():
        raise DomainError.of("FUTURE_DAY", "Attendance cannot be given for a future day.", "day")
    if present and place.restricted():
        raise DomainError.of(
            "ACCESS_RESTRICTED",
            f"The student is {place.enrollment_status}: they earn nothing in this mission.",
            "enrollmentId",
        )
    within_mission(place, day, "day")
    now = datetime.now(UTC)
    wanted = "present" if present else "absent"
    before = "missing"
    if present:
        # The same insert as a student's: a concurrent submission or correction of the
        # same day cannot make a second row; whoever inserts it awards the day.
        kind = place.rules.attendance_kind(place.mission_status)
        values = {
            "enrollment_id": enrollment_id, "mission_id": place.mission_id,
            "student_id": place.student_id, "day": day,
            "kind": kind if kind != "none" else "check_in", "report": None,
            "status": "present", "recorded_by_id": viewer.user_id, "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        inserted = (await uow.session.execute(_insert(uow.session), values)).first()
        if inserted is not None:
            before = "inserted"
    existing = (
        await uow.session.execute(
            select(AttendanceDay)
            .where(AttendanceDay.enrollment_id == enrollment_id, AttendanceDay.day == day)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if existing is None:
        raise DomainError.of("NOTHING_TO_CORRECT", "No attendance was recorded that day.", "day")
    if before == "inserted":
        before = "missing"
        change = place.rules.attendance_points
    elif existing.status == wanted:
        before = wanted
        change = 0
    else:
        before = existing.status
        existing.status = wanted
        existing.updated_at = now
        existing.recorded_by_id = viewer.user_id
        await uow.session.flush()
        # What the current rules give a day; a pending recalculation settles any change
        # of rules since the day was awarded.
        change = place.rules.attendance_points if present else -place.rules.attendance_points
    if before != wanted:
        await points.award(
            uow, mission_id=place.mission_id, enrollment_id=enrollment_id,
            student_id=place.student_id, points=change, reason="correction",
            source_type=points.ATTENDANCE, source_id=existing.id, note=why,
        )  # fmt: skip
        audit.record(
            uow, "attendance.correct", object_type="Enrollment", object_ids=[enrollment_id],
            details={"day": day.isoformat(), "from": before, "to": wanted, "reason": why},
        )  # fmt: skip
        await _recorded(uow, existing.id, enrollment_id, place.mission_id, place.student_id, day,
                        wanted)  # fmt: skip
    return Recorded(
        id=existing.id, enrollment_id=enrollment_id, student_id=place.student_id,
        mission_id=place.mission_id, day=day, kind=existing.kind, report=existing.report,
        status=existing.status, created=before == "missing", recorded_at=existing.created_at,
    )  # fmt: skip
