"""Which students are falling behind, by each mission's rules, refreshed as a job.

The counts (attendance over the window, missed submissions) are aggregated in SQL for a
whole mission at once; only the at-risk students' reasons are written in Python."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal, or_, select

from alumnet.domain.cohorts import access
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.engagement.rules import rules_of
from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.domain.integrity.decisions import change_access
from alumnet.domain.runtime import Runtime
from alumnet.persistence.mentoring import mentorships
from alumnet.persistence.models import (
    Assignment,
    AtRisk,
    AttendanceDay,
    CallList,
    Enrollment,
    Mission,
    RiskRules,
    Submission,
    User,
)
from alumnet.persistence.uow import UnitOfWork

REFRESH_JOB = "outreach.refresh_risk"
DEFAULTS = {
    "attendance_below_percent": 60,
    "window_days": 14,
    "missed_submissions": 2,
    # Days in a row without attendance before the student is told (0: never).
    "attendance_alert_days": 3,
}


async def risk_rules(uow: UnitOfWork, mission_id: int) -> dict[str, int]:
    row = await uow.session.get(RiskRules, mission_id)
    if row is None:
        return dict(DEFAULTS)
    return {k: int(getattr(row, k)) for k in DEFAULTS}


async def update_rules(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, changes: dict[str, int | None]
) -> dict[str, int]:
    viewer.require_somewhere(Permission.COHORTS_MANAGE)
    if await uow.session.get(Mission, mission_id) is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.COHORTS_MANAGE, mission_id)
    problems = Problems()
    given = {k: v for k, v in changes.items() if v is not None}
    limits = {
        "attendance_below_percent": (0, 100),
        "window_days": (1, 120),
        "missed_submissions": (1, 100),
        "attendance_alert_days": (0, 60),
    }
    for name, value in given.items():
        low, high = limits[name]
        if not low <= value <= high:
            problems.add("OUT_OF_RANGE", f"Must be {low} to {high}.", name)
    problems.raise_if_any()
    row = await uow.session.get(RiskRules, mission_id)
    if row is None:
        row = RiskRules(mission_id=mission_id, **DEFAULTS)
        uow.session.add(row)
    for name, value in given.items():
        setattr(row, name, value)
    row.updated_at = datetime.now(UTC)
    audit.record(
        uow, "risk_rules.update", object_type="Mission", object_ids=[mission_id], details=given
    )
    await uow.session.flush()
    return {k: int(getattr(row, k)) for k in DEFAULTS}


def _window(starts_on: date, ends_on: date, today: date, days: int) -> tuple[date, date] | None:
    """The last ``days`` whole days before today (today has only begun when the nightly
    job runs), within the mission's dates."""
    first = max(starts_on, today - timedelta(days=days))
    last = min(ends_on, today - timedelta(days=1))
    return (first, last) if first <= last else None


async def refresh_mission(uow: UnitOfWork, mission: Mission) -> int:
    """Replace the mission's at-risk list; returns how many students are at risk. Those
    entering it are told to their mentors and to the SREs calling the mission's students.
    Two refreshes of one mission take turns (the mission's row is locked), so each entry
    is told once."""
    await uow.session.execute(select(Mission.id).where(Mission.id == mission.id).with_for_update())
    before = set(
        (
            await uow.session.execute(
                select(AtRisk.enrollment_id).where(AtRisk.mission_id == mission.id)
            )
        ).scalars()
    )
    rules = await risk_rules(uow, mission.id)
    engagement = await rules_of(uow, mission.id)
    today = engagement.today()
    now = datetime.now(UTC)
    window = _window(mission.starts_on, mission.ends_on, today, rules["window_days"])
    present: Any = literal(0)
    if window is not None:
        present = (
            select(func.count())
            .where(
                AttendanceDay.enrollment_id == Enrollment.id,
                AttendanceDay.status == "present",
                AttendanceDay.day >= window[0],
                AttendanceDay.day <= window[1],
            )
            .scalar_subquery()
        )
    due = (
        select(func.count())
        .where(Assignment.mission_id == mission.id, Assignment.due_at <= now)
        .scalar_subquery()
    )
    handed_in = (
        select(func.count())
        .select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Submission.enrollment_id == Enrollment.id, Assignment.due_at <= now)
        .scalar_subquery()
    )
    rows = (
        await uow.session.execute(
            select(
                Enrollment.id,
                Enrollment.student_id,
                present.label("present"),
                (due - handed_in).label("missed"),
            ).where(Enrollment.mission_id == mission.id, Enrollment.status == "active")
        )
    ).all()
    days = (window[1] - window[0]).days + 1 if window is not None else 0
    at_risk = []
    for enrollment_id, student_id, n_present, missed in rows:
        percent = round(100 * int(n_present) / days) if days else 100
        reasons = []
        if days and percent < rules["attendance_below_percent"]:
            reasons.append(
                f"Attendance {percent}% over the last {days} days "
                f"(under {rules['attendance_below_percent']}%)."
            )
        if int(missed) >= rules["missed_submissions"]:
            reasons.append(f"{int(missed)} assignments due and not handed in.")
        if reasons:
            score = max(0, rules["attendance_below_percent"] - percent) + 20 * int(missed)
            at_risk.append(
                {"enrollment_id": enrollment_id, "mission_id": mission.id, "student_id": student_id,
                 "attendance_percent": percent, "missed_submissions": int(missed),
                 "reasons": reasons, "score": score, "computed_at": now}
            )  # fmt: skip
    await uow.session.execute(delete(AtRisk).where(AtRisk.mission_id == mission.id))
    if at_risk:
        await uow.session.execute(insert(AtRisk), at_risk)
    entering = [r for r in at_risk if r["enrollment_id"] not in before]
    await _alert_entering(uow, mission, entering)
    return len(at_risk)


async def _alert_entering(uow: UnitOfWork, mission: Mission, entering: list[dict[str, Any]]) -> int:
    """One alert per student entering the list and per person who should act: the
    student's mentors, and the SREs holding a call list of the mission or its batch (while
    they still do outreach)."""
    if not entering:
        return 0
    enrollments = [r["enrollment_id"] for r in entering]
    pairs = mentorships()
    mentors = (
        await uow.session.execute(
            select(pairs.c.enrollment_id, pairs.c.mentor_id).where(
                pairs.c.enrollment_id.in_(enrollments)
            )
        )
    ).all()
    callers: set[int] = {
        int(u)
        for u in (
            await uow.session.execute(
                select(CallList.assigned_to_id).where(
                    CallList.assigned_to_id.in_(
                        await holders_of(uow, Permission.OUTREACH, mission_id=mission.id)
                    ),
                    or_(CallList.mission_id == mission.id, CallList.batch_id == mission.batch_id),
                )
            )
        ).scalars()
        if u is not None
    }
    names = dict(
        (
            await uow.session.execute(
                select(User.id, User.name).where(User.id.in_([r["student_id"] for r in entering]))
            )
        ).all()
    )
    told: dict[int, set[int]] = {r["enrollment_id"]: set(callers) for r in entering}
    for enrollment_id, mentor_id in mentors:
        told[int(enrollment_id)].add(int(mentor_id))
    items = [
        Item(user, f"{names.get(r['student_id'], 'A student')} is at risk in {mission.code}",
             " ".join(r["reasons"]), "Enrollment", r["enrollment_id"])
        for r in entering
        for user in sorted(told[r["enrollment_id"]])
    ]  # fmt: skip
    return await notify_each(uow, "at_risk", items)


async def lift_ended_bans(uow: UnitOfWork) -> int:
    """Temporary bans whose last day has passed in the mission's time zone end: access
    returns, and the change is recorded."""
    # Candidates by UTC (a day's margin either way), then each by its mission's today.
    candidates = (
        (
            await uow.session.execute(
                select(Enrollment)
                .where(
                    Enrollment.status == "banned",
                    Enrollment.banned_until.is_not(None),
                    Enrollment.banned_until < datetime.now(UTC).date() + timedelta(days=1),
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    lifted = 0
    for enrollment in candidates:
        today = (await rules_of(uow, enrollment.mission_id)).today()
        if enrollment.banned_until is not None and enrollment.banned_until < today:
            await change_access(
                uow, enrollment, "active", reason="The ban ended.", decision_id=None
            )
            lifted += 1
    return lifted


async def refresh(rt: Runtime, mission_id: int | None = None) -> dict[str, int]:
    """The nightly job: lift ended bans, then refresh every active mission's at-risk list
    (or one mission's), each mission in its own transaction."""
    async with rt.transaction() as uow:
        lifted = await lift_ended_bans(uow)
    async with rt.database.connect() as conn:
        query = select(Mission.id).where(Mission.status == "active")
        if mission_id is not None:
            query = select(Mission.id).where(Mission.id == mission_id)
        missions = [int(i) for i in (await conn.execute(query)).scalars()]
    total = 0
    for mid in missions:
        async with rt.transaction() as uow:
            mission = await uow.session.get(Mission, mid)
            if mission is not None:
                total += await refresh_mission(uow, mission)
    return {"missions": len(missions), "atRisk": total, "bansLifted": lifted}


async def request_refresh(uow: UnitOfWork, viewer: Viewer, mission_id: int | None) -> int:
    if mission_id is None:
        viewer.require(Permission.OUTREACH)  # every mission
    viewer.require_somewhere(Permission.OUTREACH)
    if mission_id is not None and await uow.session.get(Mission, mission_id) is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.OUTREACH, mission_id)
    job = await uow.add_job(REFRESH_JOB, {"mission_id": mission_id})
    return job.id
