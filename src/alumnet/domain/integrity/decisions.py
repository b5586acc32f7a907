"""Flags, decisions and appeals.

Mentors flag their own mentees; SREs and managers flag anyone. Only managers
(``integrity:decide``) decide and review appeals. A ban or delisting changes the
enrolment's status (every change is kept in ``access_changes``); the engagement domain
refuses a restricted student's actions. A penalty is a negative ledger entry; an
accepted appeal restores the status and reverses the penalty. The student is e-mailed
the decision and the appeal's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.engagement import points
from alumnet.domain.engagement.common import (
    mentors_student,
    place_by_enrollment,
)
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.domain.ops import webhooks
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import (
    AccessChange,
    Appeal,
    Enrollment,
    IntegrityDecision,
    IntegrityFlag,
    Mission,
    User,
)
from alumnet.persistence.uow import UnitOfWork

FLAG_KINDS = ("cheating", "plagiarism", "repeated_late_work", "other")
DECISION_KINDS = ("warn", "ban", "delist")
TEXT_MAX = 5000
PENALTY_MAX = 10_000
APPEAL_DAYS = 14


async def raise_flag(
    uow: UnitOfWork, viewer: Viewer, enrollment_id: int, *, kind: str, evidence: str
) -> IntegrityFlag:
    me = viewer.require_user()
    place = await place_by_enrollment(uow, enrollment_id, "enrollmentId")
    if not viewer.can(Permission.INTEGRITY_FLAG, within=place.reach) and not await mentors_student(
        uow, viewer, place.mission_id, place.student_id
    ):
        raise DomainError.of("NOT_FOUND", "No such enrolment.", "enrollmentId")
    problems = Problems()
    if kind not in FLAG_KINDS:
        problems.add("INVALID", "Unknown kind of flag.", "kind")
    text = check_text(
        problems,
        evidence,
        field="evidence",
        max_length=TEXT_MAX,
        min_length=1,
        label="The evidence",
    )
    problems.raise_if_any()
    flag = IntegrityFlag(
        enrollment_id=enrollment_id, mission_id=place.mission_id, student_id=place.student_id,
        kind=kind, evidence=text or "", raised_by_id=me, created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(flag)
    await uow.session.flush()
    audit.record(
        uow,
        "integrity.flag",
        object_type="Enrollment",
        object_ids=[enrollment_id],
        details={"flag": flag.id, "kind": kind},
    )
    student, mission = await _names(uow, place.student_id, place.mission_id)
    deciders = await holders_of(uow, Permission.INTEGRITY_DECIDE, mission_id=place.mission_id)
    await notify(uow, deciders, Event(
        kind="review", title=f"A flag to decide: {kind.replace('_', ' ')}, {student} ({mission})",
        subject_type="IntegrityFlag", subject_id=flag.id,
    ))  # fmt: skip
    return flag


async def change_access(
    uow: UnitOfWork,
    enrollment: Enrollment,
    to_status: str,
    *,
    reason: str,
    decision_id: int | None,
    banned_until: date | None = None,
) -> None:
    """Set an enrolment's access status and keep the change in its history."""
    before = enrollment.status
    enrollment.status = to_status
    enrollment.banned_until = banned_until
    enrollment.updated_at = datetime.now(UTC)
    uow.session.add(
        AccessChange(
            enrollment_id=enrollment.id, from_status=before, to_status=to_status,
            reason=reason, decision_id=decision_id, changed_by_id=uow.actor_id,
            created_at=datetime.now(UTC),
        )
    )  # fmt: skip


async def _notify(
    uow: UnitOfWork, student_id: int, title: str, body: str, subject: tuple[str, int]
) -> None:
    event = Event(
        kind="integrity", title=title, body=body, subject_type=subject[0], subject_id=subject[1]
    )
    await notify(uow, [student_id], event)


@dataclass(frozen=True)
class DecisionInput:
    kind: str
    reason: str
    ban_ends_on: date | None = None
    penalty_points: int = 0
    flag_id: int | None = None


async def decide(
    uow: UnitOfWork, viewer: Viewer, enrollment_id: int, data: DecisionInput
) -> IntegrityDecision:
    viewer.require_somewhere(Permission.INTEGRITY_DECIDE)
    enrollment = await uow.session.get(Enrollment, enrollment_id, with_for_update=True)
    if enrollment is None:
        raise DomainError.of("NOT_FOUND", "No such enrolment.", "enrollmentId")
    place = await place_by_enrollment(uow, enrollment_id, "enrollmentId")
    viewer.require(Permission.INTEGRITY_DECIDE, within=place.reach)
    problems = Problems()
    if data.kind not in DECISION_KINDS:
        problems.add("INVALID", "Unknown kind of decision.", "kind")
    reason = check_text(
        problems, data.reason, field="reason", max_length=TEXT_MAX, min_length=1, label="The reason"
    )
    if not 0 <= data.penalty_points <= PENALTY_MAX:
        problems.add("OUT_OF_RANGE", "A penalty is 0 to 10,000 points.", "penaltyPoints")
    if data.ban_ends_on is not None:
        if data.kind != "ban":
            problems.add("INVALID", "Only a ban has an end date.", "banEndsOn")
        elif data.ban_ends_on < place.rules.today():
            problems.add("DATE_IN_PAST", "A ban cannot end in the past.", "banEndsOn")
    if enrollment.status == "delisted":
        problems.add(
            "ALREADY_DELISTED", "The student is already delisted from this mission.", "enrollmentId"
        )
    flag = None
    if data.flag_id is not None:
        flag = await uow.session.get(IntegrityFlag, data.flag_id)
        if flag is None or flag.enrollment_id != enrollment_id:
            problems.add("NOT_FOUND", "No such flag on this enrolment.", "flagId")
    problems.raise_if_any()
    now = datetime.now(UTC)
    decision = IntegrityDecision(
        enrollment_id=enrollment_id, mission_id=place.mission_id, student_id=place.student_id,
        flag_id=data.flag_id, kind=data.kind, ban_ends_on=data.ban_ends_on, reason=reason or "",
        penalty_points=data.penalty_points, previous_status=enrollment.status,
        previous_banned_until=enrollment.banned_until,
        status="in_force", appeal_until=now + timedelta(days=APPEAL_DAYS),
        decided_by_id=viewer.user_id, created_at=now,
    )  # fmt: skip
    uow.session.add(decision)
    await uow.session.flush()
    if flag is not None:
        flag.status = "decided"
    if data.kind in ("ban", "delist"):
        await change_access(
            uow, enrollment, "banned" if data.kind == "ban" else "delisted",
            reason=reason or "", decision_id=decision.id,
            banned_until=data.ban_ends_on if data.kind == "ban" else None,
        )  # fmt: skip
    if data.penalty_points:
        await uow.session.flush()
        await points.award(
            uow, mission_id=place.mission_id, enrollment_id=enrollment_id,
            student_id=place.student_id, points=-data.penalty_points, reason="penalty",
            source_type="penalty", source_id=decision.id, note=f"Integrity decision: {data.kind}",
        )  # fmt: skip
    audit.record(
        uow, "integrity.decide", object_type="Enrollment", object_ids=[enrollment_id],
        details={"decision": decision.id, "kind": data.kind, "penalty": data.penalty_points,
                 "banEndsOn": data.ban_ends_on.isoformat() if data.ban_ends_on else None},
    )  # fmt: skip
    await webhooks.emit(uow, webhooks.EventType.INTEGRITY_DECISION, {
        "id": webhooks.gid("IntegrityDecision", decision.id),
        "enrollmentId": webhooks.gid("Enrollment", enrollment_id),
        "missionId": webhooks.gid("Mission", place.mission_id),
        "studentId": webhooks.gid("User", place.student_id), "kind": data.kind,
    })  # fmt: skip
    mission = await uow.session.get(Mission, place.mission_id)
    what = {"warn": "a warning", "ban": "a ban", "delist": "removal"}[data.kind]
    await _notify(
        uow,
        place.student_id,
        f"Integrity decision in {mission.title if mission else 'your mission'}",
        f"A manager decided {what} in this mission.\n\nReason: {reason}\n\n"
        f"Penalty: {data.penalty_points} points.\n\nYou may appeal until "
        f"{decision.appeal_until:%Y-%m-%d %H:%M} UTC.",
        ("IntegrityDecision", decision.id),
    )
    return decision


async def submit_appeal(
    uow: UnitOfWork, viewer: Viewer, decision_id: int, *, statement: str
) -> Appeal:
    me = viewer.require_user()
    decision = await uow.session.get(IntegrityDecision, decision_id)
    if decision is None or decision.student_id != me:
        raise DomainError.of("NOT_FOUND", "No such decision.", "decisionId")
    problems = Problems()
    text = check_text(
        problems,
        statement,
        field="statement",
        max_length=TEXT_MAX,
        min_length=1,
        label="The statement",
    )
    problems.raise_if_any()
    existing = (
        await uow.session.execute(select(Appeal.id).where(Appeal.decision_id == decision_id))
    ).first()
    if existing is not None:
        raise DomainError.of(
            "ALREADY_APPEALED", "You have already appealed this decision.", "decisionId"
        )
    appeal_until = decision.appeal_until  # aware: UTC columns come back in UTC
    if datetime.now(UTC) > appeal_until:
        raise DomainError.of(
            "DEADLINE_PASSED", f"Appeals closed at {appeal_until:%Y-%m-%d %H:%M} UTC.", "decisionId"
        )
    if decision.status != "in_force":
        raise DomainError.of("NOT_IN_FORCE", "This decision is no longer in force.", "decisionId")
    # One appeal per decision, also against a concurrent second submission.
    added = await insert_or_ignore(
        uow.session, Appeal,
        {"decision_id": decision_id, "student_id": me, "statement": text or "",
         "status": "pending", "created_at": datetime.now(UTC)},
        ["decision_id"],
    )  # fmt: skip
    if not added:
        raise DomainError.of(
            "ALREADY_APPEALED", "You have already appealed this decision.", "decisionId"
        )
    appeal = (
        await uow.session.execute(select(Appeal).where(Appeal.decision_id == decision_id))
    ).scalar_one()
    audit.record(
        uow,
        "appeal.submit",
        object_type="IntegrityDecision",
        object_ids=[decision_id],
        details={"appeal": appeal.id},
    )
    student, mission = await _names(uow, decision.student_id, decision.mission_id)
    deciders = await holders_of(uow, Permission.INTEGRITY_DECIDE, mission_id=decision.mission_id)
    await notify(uow, deciders, Event(
        kind="review", title=f"An appeal to review: {student} ({mission}), {decision.kind}",
        subject_type="Appeal", subject_id=appeal.id,
    ))  # fmt: skip
    return appeal


async def _names(uow: UnitOfWork, student_id: int, mission_id: int) -> tuple[str, str]:
    found = await uow.session.execute(
        select(
            select(User.name).where(User.id == student_id).scalar_subquery(),
            select(Mission.code).where(Mission.id == mission_id).scalar_subquery(),
        )
    )
    name, code = found.one()
    return str(name or "a student"), str(code or "a mission")


async def review_appeal(
    uow: UnitOfWork, viewer: Viewer, appeal_id: int, *, accept: bool, reason: str
) -> Appeal:
    viewer.require_somewhere(Permission.INTEGRITY_DECIDE)
    appeal = await uow.session.get(Appeal, appeal_id, with_for_update=True)
    if appeal is None:
        raise DomainError.of("NOT_FOUND", "No such appeal.", "appealId")
    problems = Problems()
    why = check_text(
        problems, reason, field="reason", max_length=TEXT_MAX, min_length=1, label="The reason"
    )
    problems.raise_if_any()
    if appeal.status != "pending":
        raise DomainError.of(
            "ALREADY_REVIEWED", f"This appeal was {appeal.status} already.", "appealId"
        )
    decision = await uow.session.get(IntegrityDecision, appeal.decision_id, with_for_update=True)
    assert decision is not None
    if not viewer.can(Permission.INTEGRITY_DECIDE):
        place = await place_by_enrollment(uow, decision.enrollment_id, "appealId")
        viewer.require(Permission.INTEGRITY_DECIDE, within=place.reach)
    now = datetime.now(UTC)
    appeal.status = "accepted" if accept else "rejected"
    appeal.review_reason = why
    appeal.reviewed_by_id = viewer.user_id
    appeal.reviewed_at = now
    if accept:
        decision.status = "reversed"
        enrollment = await uow.session.get(Enrollment, decision.enrollment_id, with_for_update=True)
        assert enrollment is not None
        latest = (
            await uow.session.execute(
                select(AccessChange.decision_id)
                .where(AccessChange.enrollment_id == enrollment.id)
                .order_by(AccessChange.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        # Restore access only if nothing changed it since (a later decision stands).
        if decision.kind in ("ban", "delist") and latest == decision.id:
            await change_access(
                uow, enrollment, decision.previous_status,
                reason=f"Appeal accepted: {why}", decision_id=decision.id,
                banned_until=decision.previous_banned_until,
            )  # fmt: skip
        if decision.penalty_points:
            await points.award(
                uow, mission_id=decision.mission_id, enrollment_id=decision.enrollment_id,
                student_id=decision.student_id, points=decision.penalty_points,
                reason="penalty", source_type="penalty", source_id=decision.id,
                note="Penalty reversed: appeal accepted.",
            )  # fmt: skip
    audit.record(
        uow, "appeal.review", object_type="Appeal", object_ids=[appeal.id],
        details={"accepted": accept, "decision": decision.id},
    )  # fmt: skip
    await _notify(
        uow,
        appeal.student_id,
        f"Your appeal was {appeal.status}",
        f"Your appeal of the integrity decision of {decision.created_at:%Y-%m-%d} was "
        f"{appeal.status}.\n\nReason: {why}",
        ("Appeal", appeal.id),
    )
    return appeal
