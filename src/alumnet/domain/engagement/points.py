"""The points ledger: awards as they happen, and set-based recalculation of a mission.

Every change of a student's points is a ledger row with its reason and what it is about
(``source_type``, and ``source_id`` for an award of one fact); ``enrollments.points`` is
their sum, updated in the same transaction. Recalculation computes, in SQL, what each
student's facts of each kind (attendance, meetings, submissions) are worth under the
mission's current rules, compares it with what the ledger holds for that kind, and adds
one ``recalculation`` entry per student and kind that does not add up (so history stays
explainable in a few rows, not one per fact); penalties are left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)

from alumnet.domain.engagement.rules import Rules, rules_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    Enrollment,
    MeetingAttendance,
    Mission,
    PointEntry,
    Submission,
)
from alumnet.persistence.uow import UnitOfWork

ATTENDANCE = "attendance"
MEETING = "meeting"
SUBMISSION = "submission"
RECALCULATED_SOURCES = (ATTENDANCE, MEETING, SUBMISSION)


async def award(
    uow: UnitOfWork,
    *,
    mission_id: int,
    enrollment_id: int,
    student_id: int,
    points: int,
    reason: str,
    source_type: str,
    source_id: int | None,
    note: str | None = None,
    category: str | None = None,
) -> None:
    """One ledger entry and the enrolment's total, in the caller's transaction."""
    if points == 0:
        return
    await uow.session.execute(
        _AWARD,
        {"mission_id": mission_id, "enrollment_id": enrollment_id, "student_id": student_id,
         "points": points, "reason": reason, "source_type": source_type,
         "source_id": source_id, "note": note, "category": category,
         "created_by_id": uow.actor_id, "created_at": datetime.now(UTC)},
    )  # fmt: skip
    await uow.session.execute(_ADD_TO_TOTAL, {"enrollment_id": enrollment_id, "points": points})


# Built once, with bound parameters (awards are on the hottest write path).
_AWARD = insert(PointEntry).values(
    {name: bindparam(name)
     for name in ("mission_id", "enrollment_id", "student_id", "points", "reason",
                  "source_type", "source_id", "note", "category", "created_by_id",
                  "created_at")}
)  # fmt: skip
_ADD_TO_TOTAL = (
    update(Enrollment)
    .where(Enrollment.id == bindparam("enrollment_id"))
    .values(points=Enrollment.points + bindparam("points"))
)


async def award_many(
    uow: UnitOfWork,
    *,
    mission_id: int,
    awards: Sequence[tuple[int, int, int]],
    points: int,
    reason: str,
    source_type: str,
) -> None:
    """The same award for many (enrollment id, student id, source id): two statements."""
    if points == 0 or not awards:
        return
    now = datetime.now(UTC)
    await uow.session.execute(
        insert(PointEntry),
        [
            {"mission_id": mission_id, "enrollment_id": e, "student_id": s, "points": points,
             "reason": reason, "source_type": source_type, "source_id": src,
             "created_by_id": uow.actor_id, "created_at": now}
            for e, s, src in awards
        ],
    )  # fmt: skip
    await uow.session.execute(
        update(Enrollment)
        .where(Enrollment.id.in_(sorted({e for e, _, _ in awards})))
        .values(points=Enrollment.points + points)
    )


def total_of(enrollment_id: int) -> Any:
    """An enrolment's points, as a SELECT."""
    return select(Enrollment.points).where(Enrollment.id == enrollment_id)


def expected_points(mission_id: int, rules: Rules) -> Any:
    """(enrollment_id, student_id, source_type, points) of every fact as the rules value
    it now, as one SELECT."""
    attendance = select(
        AttendanceDay.enrollment_id,
        AttendanceDay.student_id,
        literal(ATTENDANCE).label("source_type"),
        literal(rules.attendance_points, Integer).label("points"),
    ).where(AttendanceDay.mission_id == mission_id, AttendanceDay.status == "present")
    meetings = select(
        MeetingAttendance.enrollment_id,
        MeetingAttendance.student_id,
        literal(MEETING),
        literal(rules.meeting_points, Integer),
    ).where(MeetingAttendance.mission_id == mission_id)
    percent = case(
        (Submission.late, literal(rules.late_percent, Integer)),
        else_=literal(rules.on_time_percent, Integer),
    )
    submissions = (
        select(
            Submission.enrollment_id,
            Submission.student_id,
            literal(SUBMISSION),
            # Its mark once graded, else the maximum; integer division rounds half up as
            # Rules.submission_points does.
            (func.coalesce(Submission.mark, Assignment.max_points) * percent + 50) // 100,
        )
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Submission.mission_id == mission_id)
    )
    return union_all(attendance, meetings, submissions)


Progress = Callable[[float], Awaitable[None]]


async def recalculate(
    rt: Runtime, mission_id: int, progress: Progress | None = None
) -> dict[str, int]:
    """Recompute a mission's points from its facts and current rules, in a few
    set-based statements and one transaction; returns what changed."""
    if progress is not None:
        # Reported from another connection: before this one takes its locks (on SQLite,
        # the one write lock, from the FOR UPDATE below until the commit).
        await progress(0.1)
    async with rt.database.session() as session:
        uow = UnitOfWork(session=session)
        # Serialises recalculations of one mission (and, on SQLite, takes the write lock).
        await session.execute(select(Mission.id).where(Mission.id == mission_id).with_for_update())
        rules = await rules_of(uow, mission_id)
        facts = expected_points(mission_id, rules).subquery()
        ledger = select(
            PointEntry.enrollment_id,
            PointEntry.student_id,
            PointEntry.source_type,
            (-PointEntry.points).label("points"),
        ).where(
            PointEntry.mission_id == mission_id,
            PointEntry.source_type.in_(RECALCULATED_SOURCES),
        )
        both = union_all(select(facts), ledger).subquery()
        stamp = datetime.now(UTC)
        difference = (
            select(
                literal(mission_id).label("mission_id"),
                both.c.enrollment_id,
                both.c.student_id,
                func.sum(both.c.points).label("points"),
                literal("recalculation").label("reason"),
                both.c.source_type,
                literal("Recalculated under the mission's current rules.").label("note"),
                literal(stamp, PointEntry.created_at.type).label("created_at"),
            )
            .group_by(both.c.enrollment_id, both.c.student_id, both.c.source_type)
            .having(func.sum(both.c.points) != 0)
        )
        # Core, not the ORM session, so that the driver's row count comes back.
        conn = await session.connection()
        await conn.execute(
            insert(PointEntry).from_select(
                ["mission_id", "enrollment_id", "student_id", "points", "reason",
                 "source_type", "note", "created_at"],
                difference,
            )
        )  # fmt: skip
        # Add this run's adjustments to the totals (not re-sum the ledger): an award
        # committed meanwhile has already added itself, under its own row lock.
        this_run = (PointEntry.reason == "recalculation") & (PointEntry.created_at == stamp)
        deltas = (
            select(PointEntry.enrollment_id, func.sum(PointEntry.points).label("delta"))
            .where(PointEntry.mission_id == mission_id, this_run)
            .group_by(PointEntry.enrollment_id)
            .subquery()
        )
        # One UPDATE … FROM the aggregated adjustments (PostgreSQL and SQLite alike).
        updated = await conn.execute(
            update(Enrollment)
            .where(Enrollment.id == deltas.c.enrollment_id)
            .values(points=Enrollment.points + deltas.c.delta)
        )
        # The driver's row count of INSERT … SELECT is not reliable everywhere: count.
        adjustments = await conn.execute(
            select(func.count()).where(
                PointEntry.mission_id == mission_id,
                PointEntry.reason == "recalculation",
                PointEntry.created_at == stamp,
            )
        )
        added = int(adjustments.scalar_one())
        await session.commit()
        if progress is not None:
            await progress(0.95)
        return {
            "adjustments": added,
            "totalsChanged": int(updated.rowcount),
        }
