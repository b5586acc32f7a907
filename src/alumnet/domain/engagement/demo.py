"""Demo engagement: the weeks a running programme has behind it, in every active mission.

Daily attendance (most students regular, some irregular, some slipping in the last weeks
and a few gone quiet), each mentor's weekly meeting and who came, a weekly assignment
handed in on time, late or not at all and mostly graded, and the ledger entries those
facts earn, one per fact as the app writes them (so that a recalculation changes nothing).
Deterministic; bulk inserts; every date relative to ``today``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, func, insert, literal, select, update

from alumnet.domain.engagement import points
from alumnet.domain.engagement.rules import Rules, rules_of
from alumnet.persistence.db import copy_rows
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    Enrollment,
    Meeting,
    MeetingAttendance,
    MentorAssignment,
    Mission,
    PointEntry,
    Submission,
)
from alumnet.persistence.uow import UnitOfWork

CHUNK = 10_000
TOPICS = ["Getting started", "Setting goals", "Code review", "Study habits",
          "Pair programming", "Project check-in", "Mock interview", "Reading group",
          "Show and tell", "Retrospective"]  # fmt: skip
FEEDBACK = ["Clear and well organised.", "Good work: check the edge cases.",
            "Solid. Explain your reasoning a little more.", "Neat solution.",
            "Mostly right; see the comments on question 3.", "Well done."]  # fmt: skip
WORK = {"FND": ("Problem set", "Exercises on this week's material; show your working."),
        "WEB": ("Web lab", "Build this week's page and link to the repository."),
        "CAP": ("Milestone", "The milestone's deliverable, with a short write-up.")}  # fmt: skip


@dataclass(frozen=True)
class Habit:
    """How a student takes part: how likely they are to turn up each day before ``turn``
    and after it (the day a slipping student starts to slip, or one gone quiet stops)."""

    kind: str  # regular, irregular, slipping, gone
    before: float
    after: float
    turn: date | None = None

    def presence(self, day: date) -> float:
        late = self.turn is not None and day >= self.turn
        chance = self.after if late else self.before
        return chance * (0.85 if day.weekday() >= 5 else 1.0)

    def hands_in(self, day: date) -> tuple[float, float]:
        """The chances of work due on ``day`` being on time, and late."""
        if self.turn is not None and day >= self.turn:
            return (0.3, 0.2) if self.kind == "slipping" else (0.0, 0.0)
        return (0.72, 0.24) if self.kind == "irregular" else (0.95, 0.045)


def habits(students: Sequence[int], today: date, regular: Collection[int]) -> dict[int, Habit]:
    """Each student's habit, spread evenly over the students in id order (so that any
    slice of them, such as one mentor's mentees, has a mix); ``regular`` stay regular."""
    found: dict[int, Habit] = {}
    for i, sid in enumerate(sorted(students)):
        bucket = (i * 37 + 13) % 100
        if sid in regular or bucket < 80:
            found[sid] = Habit("regular", 0.95, 0.95)
        elif bucket < 92:
            found[sid] = Habit("irregular", 0.8, 0.8)
        elif bucket < 97:
            found[sid] = Habit("slipping", 0.93, 0.25, today - timedelta(days=10 + i % 9))
        else:
            found[sid] = Habit("gone", 0.88, 0.0, today - timedelta(days=8 + i % 7))
    return found


@dataclass
class Seeded:
    habits: dict[int, Habit]
    missions: list[int]
    counts: Counter[str]


async def seed_engagement(
    uow: UnitOfWork, *, today: date, now: datetime, regular: Collection[int] = ()
) -> Seeded | None:
    """The active missions' history up to ``now``; skipped (None) when any active mission
    has attendance. ``regular`` students (student@) are regular and have not yet given
    today's attendance."""
    session = uow.session
    active = select(Mission.id).where(Mission.status == "active")
    if (
        await session.execute(
            select(AttendanceDay.id).where(AttendanceDay.mission_id.in_(active)).limit(1)
        )
    ).first():
        return None
    found = await session.execute(
        select(Mission).where(Mission.status == "active").order_by(Mission.id)
    )
    missions = found.scalars().all()
    students = (
        await session.execute(
            select(Enrollment.student_id).where(Enrollment.mission_id.in_(active)).distinct()
        )
    ).scalars()
    habit = habits([int(s) for s in students], today, set(regular))
    rng = random.Random(2026)  # noqa: S311  (demo data, not secrets)
    counts: Counter[str] = Counter()
    for mission in missions:
        rules = await rules_of(uow, mission.id)
        enrolled = (
            await session.execute(
                select(Enrollment.id, Enrollment.student_id)
                .where(Enrollment.mission_id == mission.id, Enrollment.status == "active")
                .order_by(Enrollment.id)
            )
        ).all()
        # Each enrolment's first mentor: who holds their meetings and grades their work.
        mentor_of: dict[int, int] = {}
        for eid, mid in (
            await session.execute(
                select(MentorAssignment.enrollment_id, MentorAssignment.mentor_id)
                .where(MentorAssignment.mission_id == mission.id)
                .order_by(MentorAssignment.id)
            )
        ).all():
            mentor_of.setdefault(int(eid), int(mid))
        counts["attendance"] += await _attendance(
            uow, rng, mission, enrolled, habit, today, now, set(regular)
        )
        counts["meetings"] += await _meetings(uow, rng, mission, enrolled, habit, mentor_of, today)
        made = await _work(uow, rng, mission, enrolled, habit, mentor_of, now, rules)
        counts.update(made)
        await _ledger(uow, mission.id, rules)
    await session.execute(
        update(Enrollment)
        .where(Enrollment.mission_id.in_([m.id for m in missions]))
        .values(
            points=select(func.coalesce(func.sum(PointEntry.points), 0))
            .where(PointEntry.enrollment_id == Enrollment.id)
            .scalar_subquery()
        )
    )
    return Seeded(habits=habit, missions=[m.id for m in missions], counts=counts)


def _at(day: date, hour: int, minutes: int = 0) -> datetime:
    return datetime.combine(day, time(hour), UTC) + timedelta(minutes=minutes)


async def _insert(uow: UnitOfWork, model: Any, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL, a Core executemany elsewhere (the ORM's bulk insert would split
    rows whose NULLs differ into separate statements, often of one row each)."""
    for start in range(0, len(rows), CHUNK):
        await copy_rows(uow.session, model.__table__, rows[start : start + CHUNK])


async def _attendance(
    uow: UnitOfWork,
    rng: random.Random,
    mission: Mission,
    enrolled: Sequence[Any],
    habit: dict[int, Habit],
    today: date,
    now: datetime,
    regular: set[int],
) -> int:
    """Every past day of the mission, and today for those who have checked in already."""
    days = [
        mission.starts_on + timedelta(days=n)
        for n in range((min(today, mission.ends_on + timedelta(days=1)) - mission.starts_on).days)
    ]
    # Today so far: more of the day gone, more students checked in (at most six in ten).
    elapsed = (now - datetime.combine(today, time(), UTC)).total_seconds() / 3600
    so_far = min(0.6, max(0.0, (elapsed - 7) / 12))
    rows = []
    for eid, sid in enrolled:
        mine = habit[sid]
        for day in days:
            if rng.random() < mine.presence(day):
                at = _at(day, 7, rng.randrange(12 * 60))
                rows.append(_day(eid, mission.id, sid, day, at))
        if (
            mission.starts_on <= today <= mission.ends_on
            and sid not in regular
            and mine.kind in ("regular", "irregular")
            and rng.random() < so_far
        ):
            at = now - timedelta(minutes=rng.randrange(max(1, int((elapsed - 7) * 60))))
            rows.append(_day(eid, mission.id, sid, today, at))
    await _insert(uow, AttendanceDay, rows)
    return len(rows)


def _day(eid: int, mission_id: int, sid: int, day: date, at: datetime) -> dict[str, Any]:
    return {"enrollment_id": eid, "mission_id": mission_id, "student_id": sid, "day": day,
            "kind": "check_in", "report": None, "status": "present", "recorded_by_id": sid,
            "created_at": at, "updated_at": at}  # fmt: skip


async def _meetings(
    uow: UnitOfWork,
    rng: random.Random,
    mission: Mission,
    enrolled: Sequence[Any],
    habit: dict[int, Habit],
    mentor_of: dict[int, int],
    today: date,
) -> int:
    """Each mentor meets their mentees on Wednesdays, this week's meeting included (still
    to come early in the week); who came is recorded for the meetings held."""
    first = mission.starts_on + timedelta(days=(2 - mission.starts_on.weekday()) % 7)
    last = min(mission.ends_on, today + timedelta(days=6 - today.weekday()))
    mentees: dict[int, list[tuple[int, int]]] = {}
    for eid, sid in enrolled:
        if eid in mentor_of:
            mentees.setdefault(mentor_of[eid], []).append((eid, sid))
    wanted = []
    week, held_on = 0, first
    while held_on <= last:
        for mentor in sorted(mentees):
            topic = f"Week {week + 1}: {TOPICS[(week + mentor) % len(TOPICS)]}"
            wanted.append({"mission_id": mission.id, "mentor_id": mentor, "held_on": held_on,
                           "topic": topic, "created_by_id": mentor,
                           "created_at": _at(held_on - timedelta(days=7), 9)})  # fmt: skip
        week, held_on = week + 1, held_on + timedelta(days=7)
    if not wanted:
        return 0
    made = await uow.session.execute(
        insert(Meeting).returning(
            Meeting.id, Meeting.mentor_id, Meeting.held_on, sort_by_parameter_order=True
        ),
        wanted,
    )
    rows = []
    for meeting_id, held_by, held in made.all():
        if held >= today:
            continue
        for eid, sid in mentees.get(held_by or 0, []):
            if rng.random() < habit[sid].presence(held) * 0.9:
                rows.append({"meeting_id": meeting_id, "enrollment_id": eid,
                             "mission_id": mission.id, "student_id": sid,
                             "recorded_by_id": held_by, "created_at": _at(held, 18)})  # fmt: skip
    await _insert(uow, MeetingAttendance, rows)
    return len(wanted)


async def _work(
    uow: UnitOfWork,
    rng: random.Random,
    mission: Mission,
    enrolled: Sequence[Any],
    habit: dict[int, Habit],
    mentor_of: dict[int, int],
    now: datetime,
    rules: Rules,
) -> Counter[str]:
    """A weekly assignment (opens Monday, due Friday 17:00 UTC) for every week begun, and
    students' work on it and on the mission's other assignments already open."""
    session = uow.session
    kind = mission.code.rsplit("-", 1)[-1]
    name, description = WORK.get(kind, ("Exercise", "This week's work."))
    monday = mission.starts_on - timedelta(days=mission.starts_on.weekday())
    weekly = []
    week, start = 0, monday
    while _at(start, 9) <= now and start <= mission.ends_on:
        weekly.append({"mission_id": mission.id, "title": f"{name} {week + 1}",
                       "description": description, "opens_at": _at(start, 9),
                       "due_at": _at(start + timedelta(days=4), 17), "max_points": 10,
                       "late_policy": "accept_late", "created_at": _at(start, 8),
                       "updated_at": _at(start, 8)})  # fmt: skip
        week, start = week + 1, start + timedelta(weeks=1)
    if weekly:
        await session.execute(insert(Assignment), weekly)
    assignments = (
        await session.execute(
            select(Assignment.id, Assignment.opens_at, Assignment.due_at, Assignment.max_points)
            .where(Assignment.mission_id == mission.id, Assignment.opens_at <= now)
            .order_by(Assignment.due_at)
        )
    ).all()
    handed = set(
        (
            await session.execute(
                select(Submission.assignment_id, Submission.enrollment_id).where(
                    Submission.mission_id == mission.id
                )
            )
        ).all()
    )
    counts: Counter[str] = Counter(assignments=len(weekly))
    rows = []
    for aid, opens, due, most in assignments:
        opens, due = _utc(opens), _utc(due)
        for eid, sid in enrolled:
            if (aid, eid) in handed:
                continue
            mine = habit[sid]
            late = False
            if due > now:  # still open: the keen have handed it in already
                if mine.kind != "regular" or rng.random() > 0.35:
                    continue
                at = opens + (now - opens) * rng.random()
            else:
                on_time, late_chance = mine.hands_in(due.date())
                draw = rng.random()
                if draw < on_time:
                    at = max(opens, due - timedelta(hours=rng.uniform(0.5, 80)))
                elif draw < on_time + late_chance:
                    late, at = True, due + timedelta(hours=rng.uniform(2, 70))
                    if at > now:
                        counts["missing"] += 1
                        continue
                else:
                    counts["missing"] += 1
                    continue
            counts["late" if late else "on_time"] += 1
            row = {"assignment_id": aid, "enrollment_id": eid, "mission_id": mission.id,
                   "student_id": sid, "submitted_at": at, "late": late,
                   "content": f"https://work.demo.alumnet.dev/{sid}/{aid}", "source": "student",
                   "recorded_by_id": sid, "status": "submitted", "version": 1,
                   "created_at": at, "mark": None, "feedback": None, "graded_by_id": None,
                   "graded_at": None}  # fmt: skip
            graded_at = max(at, due) + timedelta(hours=rng.uniform(6, 96))
            grader = mentor_of.get(eid)
            marked = rng.random() < (0.93 if now - due > timedelta(days=7) else 0.4)
            if due <= now and grader is not None and graded_at <= now and marked:
                high = most if mine.kind == "regular" else most * 8 // 10
                row.update(status="graded", mark=rng.randint(most // 2, high),
                           feedback=rng.choice(FEEDBACK), graded_by_id=grader,
                           graded_at=graded_at)  # fmt: skip
                counts["graded"] += 1
            rows.append(row)
    before = (await session.execute(select(func.max(Submission.id)))).scalar() or 0
    await _insert(uow, Submission, rows)
    # The ledger, as handing in and grading write it: what the work is worth when it is
    # handed in (its maximum), then the difference its mark makes.
    made = await session.execute(
        select(
            Submission.id, Submission.enrollment_id, Submission.student_id, Submission.late,
            Submission.mark, Submission.submitted_at, Submission.graded_by_id,
            Submission.graded_at, Assignment.max_points, Assignment.title,
        )
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Submission.mission_id == mission.id, Submission.id > before)
    )  # fmt: skip
    entries = []
    for s in made.all():
        handed_in = rules.submission_points(s.max_points, s.late)
        entries.append(_entry(mission.id, s.enrollment_id, s.student_id, handed_in,
                              "submission_late" if s.late else "submission_on_time",
                              s.id, s.student_id, s.submitted_at))  # fmt: skip
        if s.mark is not None:
            change = rules.submission_points(s.mark, s.late) - handed_in
            entries.append(_entry(mission.id, s.enrollment_id, s.student_id, change, "grade",
                                  s.id, s.graded_by_id, s.graded_at,
                                  note=f"{s.title}: {s.mark} of {s.max_points}"))  # fmt: skip
    await _insert(uow, PointEntry, [e for e in entries if e["points"]])
    return counts


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _entry(
    mission_id: int,
    enrollment_id: int,
    student_id: int,
    value: int,
    reason: str,
    source_id: int,
    by: int | None,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    return {"mission_id": mission_id, "enrollment_id": enrollment_id, "student_id": student_id,
            "points": value, "reason": reason, "source_type": points.SUBMISSION,
            "source_id": source_id, "note": note, "category": None, "created_by_id": by,
            "created_at": at}  # fmt: skip


async def _ledger(uow: UnitOfWork, mission_id: int, rules: Rules) -> None:
    """One entry per day present and per meeting attended, as ``attendance.submit`` and
    ``meetings.record`` write them: two INSERT … SELECT statements."""
    columns = ["mission_id", "enrollment_id", "student_id", "points", "reason", "source_type",
               "source_id", "created_by_id", "created_at"]  # fmt: skip
    if rules.attendance_points:
        days = select(
            AttendanceDay.mission_id, AttendanceDay.enrollment_id, AttendanceDay.student_id,
            literal(rules.attendance_points, Integer), literal(points.ATTENDANCE),
            literal(points.ATTENDANCE), AttendanceDay.id, AttendanceDay.recorded_by_id,
            AttendanceDay.created_at,
        ).where(AttendanceDay.mission_id == mission_id,
                AttendanceDay.status == "present")  # fmt: skip
        await uow.session.execute(insert(PointEntry).from_select(columns, days))
    if rules.meeting_points:
        came = select(
            MeetingAttendance.mission_id, MeetingAttendance.enrollment_id,
            MeetingAttendance.student_id, literal(rules.meeting_points, Integer),
            literal(points.MEETING), literal(points.MEETING), MeetingAttendance.id,
            MeetingAttendance.recorded_by_id, MeetingAttendance.created_at,
        ).where(MeetingAttendance.mission_id == mission_id)  # fmt: skip
        await uow.session.execute(insert(PointEntry).from_select(columns, came))
