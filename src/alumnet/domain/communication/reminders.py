"""Reminders and alerts, sent by the scheduler (`communication.reminders`, every quarter
of an hour): an assignment opened, work due within 24 hours and not handed in (or a
revision due), attendance missing several days in a row, and an SRE's follow-ups due
today. (A student entering the at-risk list is told to their mentors and SREs by the
at-risk refresh, ``outreach.risk``; graded work by ``engagement.grading``.)

Each kind is set-based and sent once: one ``INSERT … SELECT … ON CONFLICT DO NOTHING
RETURNING`` marks who is due it in ``reminders_sent`` (the unique key makes a second run,
or a second scheduler at the same moment, mark nobody twice), and one ``notify_each``
tells those it marked. The cost grows with the number of missions and assignments
concerned, not with the number of students.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, and_, case, cast, exists, func, literal, select

from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.engagement.rules import RULE_COLUMNS, Rules
from alumnet.domain.identity.permissions import Permission
from alumnet.domain.identity.users import holders_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import upsert
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    EngagementRules,
    Enrollment,
    FollowUp,
    Mission,
    ReminderSent,
    RiskRules,
    Submission,
)
from alumnet.persistence.models.base import UTCDateTime
from alumnet.persistence.uow import UnitOfWork

REMINDERS_JOB = "communication.reminders"
# An assignment that opened longer ago than this is not announced (when reminders are
# first turned on, or after the scheduler was down for a while).
ANNOUNCE_WITHIN = timedelta(days=7)
DUE_WITHIN = timedelta(hours=24)
ALERT_DAYS_DEFAULT = 3


async def mark_once(uow: UnitOfWork, kind: str, candidates: Any) -> list[tuple[int, int, str]]:
    """Record ``kind`` for each (subject id, user id, key) row of ``candidates`` not yet
    recorded; returns the rows recorded now (the ones to tell)."""
    now = literal(datetime.now(UTC), UTCDateTime())
    subject, user, key = candidates.selected_columns
    rows = candidates.with_only_columns(literal(kind, String), subject, user, key, now)
    statement = (
        upsert(uow.session, ReminderSent)
        .from_select(["kind", "subject_id", "user_id", "key", "created_at"], rows)
        .on_conflict_do_nothing(index_elements=["kind", "subject_id", "user_id", "key"])
        .returning(ReminderSent.subject_id, ReminderSent.user_id, ReminderSent.key)
    )
    return [(int(s), int(u), str(k)) for s, u, k in (await uow.session.execute(statement)).all()]


def _when(rules: Rules, at: datetime) -> str:
    local = at.astimezone(rules.zone())
    return f"{local:%a %d %b %Y, %H:%M} ({rules.time_zone})"


async def _assignments(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, Any]:
    rows = await uow.session.execute(
        select(Assignment.id, Assignment.title, Assignment.due_at, Assignment.mission_id,
               Mission.code)
        .join(Mission, Mission.id == Assignment.mission_id)
        .where(Assignment.id.in_(set(ids)))
    )  # fmt: skip
    return {int(r.id): r for r in rows}


async def _rules(uow: UnitOfWork, mission_ids: set[int]) -> dict[int, Rules]:
    """Each mission's rules (the defaults where it has none), in one statement."""
    rows = await uow.session.execute(
        select(EngagementRules.mission_id.label("has_rules"), *RULE_COLUMNS).where(
            EngagementRules.mission_id.in_(mission_ids)
        )
    )
    found = {int(row.has_rules): Rules.from_row(row) for row in rows}
    return {m: found.get(m, Rules.from_row(None)) for m in mission_ids}


def _active() -> Any:
    """Active students (not restricted) of active missions."""
    return and_(taking_part(), Mission.status == "active")


async def announce_assignments(uow: UnitOfWork, now: datetime) -> int:
    """Students are told of an assignment once it opens (and before it is due)."""
    candidates = (
        select(Assignment.id, Enrollment.student_id, literal("", String))
        .join(Enrollment, Enrollment.mission_id == Assignment.mission_id)
        .join(Mission, Mission.id == Assignment.mission_id)
        .where(
            _active(),
            Assignment.opens_at <= now,
            Assignment.opens_at > now - ANNOUNCE_WITHIN,
            Assignment.due_at > now,
        )
    )
    marked = await mark_once(uow, "assignment", candidates)
    if not marked:
        return 0
    found = await _assignments(uow, [s for s, _, _ in marked])
    rules = await _rules(uow, {int(a.mission_id) for a in found.values()})
    items = []
    for subject, user, _ in marked:
        a = found[subject]
        items.append(
            Item(user, f"New assignment in {a.code}: {a.title}",
                 f"Due {_when(rules[int(a.mission_id)], a.due_at)}.", "Assignment", subject)
        )  # fmt: skip
    return await notify_each(uow, "assignment", items)


async def remind_deadlines(uow: UnitOfWork, now: datetime) -> int:
    """Work due within 24 hours and not handed in; and work returned for revision whose
    new deadline is that close and that has not been handed in again."""
    handed_in = exists().where(
        Submission.assignment_id == Assignment.id, Submission.enrollment_id == Enrollment.id
    )
    first = (
        select(Assignment.id, Enrollment.student_id, literal("", String))
        .join(Enrollment, Enrollment.mission_id == Assignment.mission_id)
        .join(Mission, Mission.id == Assignment.mission_id)
        .where(
            _active(),
            Assignment.opens_at <= now,
            Assignment.due_at > now,
            Assignment.due_at <= now + DUE_WITHIN,
            ~handed_in,
        )
    )
    revision = (
        select(
            Submission.assignment_id,
            Submission.student_id,
            literal("v", String) + cast(Submission.version, String),
        )
        .join(Enrollment, Enrollment.id == Submission.enrollment_id)
        .join(Mission, Mission.id == Submission.mission_id)
        .where(
            _active(),
            Submission.status == "returned",
            Submission.revision_due_at > now,
            Submission.revision_due_at <= now + DUE_WITHIN,
        )
    )
    marked = await mark_once(uow, "deadline", first)
    marked += await mark_once(uow, "deadline", revision)
    if not marked:
        return 0
    found = await _assignments(uow, [s for s, _, _ in marked])
    revisions = {}
    if any(key for _, _, key in marked):
        rows = await uow.session.execute(
            select(Submission.assignment_id, Submission.student_id, Submission.revision_due_at)
            .where(Submission.assignment_id.in_({s for s, _, k in marked if k}),
                   Submission.student_id.in_({u for _, u, k in marked if k}))
        )  # fmt: skip
        revisions = {(int(a), int(s)): due for a, s, due in rows}
    rules = await _rules(uow, {int(a.mission_id) for a in found.values()})
    items = []
    for subject, user, key in marked:
        a = found[subject]
        zone = rules[int(a.mission_id)]
        if key:
            due = revisions.get((subject, user)) or a.due_at
            title = f"Revision due within 24 hours: {a.title}"
        else:
            due, title = a.due_at, f"Due within 24 hours: {a.title}"
        items.append(Item(user, title, f"{a.code}: due {_when(zone, due)}, not handed in yet.",
                          "Assignment", subject))  # fmt: skip
    return await notify_each(uow, "deadline", items)


async def alert_missing_attendance(uow: UnitOfWork, now: datetime) -> int:
    """A student with no attendance for the mission's number of days in a row (its
    at-risk rule ``attendanceAlertDays``; 0 turns it off) is told once for that gap: the
    mark's key is the last day they attended, so a new gap after attending is a new
    alert."""
    missions = (
        await uow.session.execute(
            select(Mission.id, Mission.code, Mission.starts_on, Mission.ends_on,
                   func.coalesce(RiskRules.attendance_alert_days,
                                 ALERT_DAYS_DEFAULT).label("alert_days"),
                   EngagementRules.mission_id.label("has_rules"), *RULE_COLUMNS)
            .outerjoin(RiskRules, RiskRules.mission_id == Mission.id)
            .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
            .where(Mission.status == "active")
        )
    ).all()  # fmt: skip
    told = 0
    for row in missions:
        mission_id, code, starts_on, ends_on, days = row[:5]
        rules = Rules.from_row(row if row.has_rules is not None else None)
        if int(days) <= 0 or rules.attendance_when_active == "none":
            continue
        today = rules.today(now)
        first, last = today - timedelta(days=int(days)), today - timedelta(days=1)
        if first < starts_on or last > ends_on:
            continue
        told += await _alert_mission(uow, int(mission_id), str(code), first, last, rules)
    return told


async def _alert_mission(
    uow: UnitOfWork, mission_id: int, code: str, first: date, last: date, rules: Rules
) -> int:
    present = and_(AttendanceDay.enrollment_id == Enrollment.id,
                   AttendanceDay.status == "present")  # fmt: skip
    last_attended = (
        select(func.max(AttendanceDay.day)).where(present, AttendanceDay.day < first)
    ).scalar_subquery()
    # Enrolled before the gap began (in the mission's zone): a newcomer has no gap yet.
    enrolled_by = datetime.combine(first, time(), tzinfo=rules.zone()).astimezone(UTC)
    candidates = select(
        literal(mission_id, BigInteger),
        Enrollment.student_id,
        func.coalesce(cast(last_attended, String), literal("", String)),
    ).where(
        Enrollment.mission_id == mission_id,
        taking_part(),
        Enrollment.created_at < enrolled_by,
        ~exists().where(present, AttendanceDay.day >= first, AttendanceDay.day <= last),
    )
    marked = await mark_once(uow, "attendance", candidates)
    days = (last - first).days + 1
    items = [
        Item(user, f"No attendance for {days} days in {code}",
             f"Nothing has been recorded for you since {first:%d %b %Y}. Mark your "
             "attendance today; your mentors see it.", "Mission", mission_id)
        for _, user, _ in marked
    ]  # fmt: skip
    return await notify_each(uow, "attendance", items)


async def remind_follow_ups(uow: UnitOfWork, now: datetime) -> int:
    """Each SRE with open follow-ups due today (or overdue) is told once a day (while they
    still do outreach)."""
    today = now.date()
    candidates = (
        select(literal(0, BigInteger), FollowUp.assigned_to_id, literal(today.isoformat(), String))
        .where(
            FollowUp.status == "open",
            FollowUp.due_on <= today,
            FollowUp.assigned_to_id.in_(await holders_of(uow, Permission.OUTREACH)),
        )
        .group_by(FollowUp.assigned_to_id)
    )
    marked = await mark_once(uow, "follow_up", candidates)
    if not marked:
        return 0
    counts = await uow.session.execute(
        select(
            FollowUp.assigned_to_id,
            func.count(),
            func.sum(case((FollowUp.due_on < today, 1), else_=0)),
        )
        .where(
            FollowUp.status == "open",
            FollowUp.due_on <= today,
            FollowUp.assigned_to_id.in_([u for _, u, _ in marked]),
        )
        .group_by(FollowUp.assigned_to_id)
    )
    items = []
    for user, n, overdue in counts.all():
        late = f", {int(overdue)} of them overdue" if overdue else ""
        items.append(
            Item(int(user), f"{int(n)} follow-up{'s' if n != 1 else ''} due today{late}",
                 "Open your follow-ups in alumnet to call back the students waiting.")
        )  # fmt: skip
    return await notify_each(uow, "follow_up", items)


# Each kind, in the order the job runs them.
KINDS = (
    ("assignments", announce_assignments),
    ("deadlines", remind_deadlines),
    ("attendance", alert_missing_attendance),
    ("followUps", remind_follow_ups),
)


async def send_reminders(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """The scheduled job: each kind in its own transaction."""
    now = now or datetime.now(UTC)
    told: dict[str, int] = {}
    for name, run in KINDS:
        async with rt.transaction() as uow:
            told[name] = await run(uow, now)
    return told
