"""Call lists from at-risk students (the rules' lists, the early-warning model's
predictions, or both), call logs with outcomes, and follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from alumnet.domain.analytics import early_warning
from alumnet.domain.cohorts import access
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Reach, Role, Viewer
from alumnet.persistence.models import (
    AtRisk,
    CallList,
    CallListEntry,
    CallLog,
    Enrollment,
    FollowUp,
    Mission,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

OUTCOMES = ("picked_up", "no_answer", "phone_off", "busy", "wrong_number", "reschedule")
TEXT_MAX = 5000
LIST_MAX = 500
# Whom a list takes: the rules' at-risk list, the early-warning model's predictions, or both.
SOURCES = ("rules", "prediction", "both")


def script_for(name: str, reasons: Sequence[str]) -> str:
    first = name.split()[0] if name.strip() else "there"
    said = " ".join(reasons)
    opening = f"We noticed: {said}" if said else "We wanted to hear how the mission is going."
    return (
        f"Hello {first}, this is your student relationship executive. {opening} "
        "Is everything all right? What is getting in the way, and what would help you "
        "catch up this week? (Agree on one concrete step and a date to check in.)"
    )


@dataclass(frozen=True)
class _Entry:
    enrollment_id: int
    student_id: int
    reasons: list[str]
    script: str


async def _require_where(
    uow: UnitOfWork, viewer: Viewer, mission_id: int | None, batch_id: int | None
) -> None:
    """``outreach`` for a mission or a batch: everywhere, or within it."""
    if batch_id is not None:
        viewer.require(Permission.OUTREACH, within=Reach(batch_id=batch_id))
    else:
        await access.require_in_mission(uow.session, viewer, Permission.OUTREACH, mission_id)


async def generate(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    mission_id: int | None,
    batch_id: int | None,
    assigned_to_id: int | None,
    limit: int,
    title: str | None,
    source: str = "rules",
    min_probability: float = 0.5,
) -> tuple[CallList, int]:
    """A prioritised call list of the at-risk students of a mission or a batch: by the
    rules (most urgent first), by the early-warning model (students predicted at least
    ``min_probability`` to finish below the bar, highest first), or both (the predicted
    ones first, then the rules' others)."""
    me = viewer.require_somewhere(Permission.OUTREACH)
    problems = Problems()
    if (mission_id is None) == (batch_id is None):
        problems.add("INVALID", "Give a mission or a batch.", "missionId")
    else:
        await _require_where(uow, viewer, mission_id, batch_id)
    if not 1 <= limit <= LIST_MAX:
        problems.add("OUT_OF_RANGE", f"A list has 1 to {LIST_MAX} students.", "limit")
    if source not in SOURCES:
        problems.add("INVALID", "Unknown source.", "source")
    elif source != "rules":
        if not 0 <= min_probability <= 1:
            problems.add("OUT_OF_RANGE", "A probability is 0 to 1.", "minProbability")
        if (missing := await early_warning.unavailable(uow)) is not None:
            problems.add(missing.code, missing.message, "source")
    assignee = assigned_to_id or me
    sre = await uow.session.execute(
        select(UserRole.user_id).where(
            UserRole.user_id == assignee, UserRole.role == Role.SRE.value
        )
    )
    if sre.first() is None:
        problems.add("NOT_AN_SRE", "Call lists are assigned to SREs.", "assignedToId")
    problems.raise_if_any()
    query = (
        select(AtRisk.enrollment_id, AtRisk.student_id, AtRisk.reasons, AtRisk.score, User.name)
        .join(User, User.id == AtRisk.student_id)
        .order_by(AtRisk.score.desc(), AtRisk.id)
        .limit(limit * 4)
    )
    if mission_id is not None:
        if await uow.session.get(Mission, mission_id) is None:
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
        missions = select(Mission.id).where(Mission.id == mission_id)
    else:
        missions = select(Mission.id).where(Mission.batch_id == batch_id)
    query = query.where(AtRisk.mission_id.in_(missions))
    flagged = [] if source == "prediction" else (await uow.session.execute(query)).all()
    predicted = (
        []
        if source == "rules"
        else await early_warning.call_candidates(uow, missions, min_probability, limit * 4)
    )
    by_rules = {row.enrollment_id: row for row in flagged}
    candidates = [
        _Entry(p.enrollment_id, p.student_id,
               [*(by_rules[p.enrollment_id].reasons if p.enrollment_id in by_rules else []),
                *p.reasons],
               script_for(p.name, list(by_rules[p.enrollment_id].reasons)
                          if p.enrollment_id in by_rules else p.noticed))
        for p in predicted
    ]  # fmt: skip
    taken = {p.enrollment_id for p in predicted}
    candidates += [
        _Entry(r.enrollment_id, r.student_id, list(r.reasons), script_for(r.name, r.reasons))
        for r in flagged
        if r.enrollment_id not in taken
    ]
    rows = []
    seen: set[int] = set()
    for entry in candidates:
        # A student at risk in two missions of a batch is called once (most urgent first).
        if entry.student_id not in seen:
            seen.add(entry.student_id)
            rows.append(entry)
    call_list = CallList(
        title=(title or "").strip()[:200] or f"Call list of {datetime.now(UTC):%Y-%m-%d}",
        mission_id=mission_id, batch_id=batch_id, assigned_to_id=assignee, created_by_id=me,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(call_list)
    await uow.session.flush()
    rows = rows[:limit]
    for priority, entry in enumerate(rows, start=1):
        uow.session.add(
            CallListEntry(
                call_list_id=call_list.id, enrollment_id=entry.enrollment_id,
                student_id=entry.student_id, priority=priority, reasons=entry.reasons,
                script=entry.script,
            )
        )  # fmt: skip
    await uow.session.flush()
    audit.record(
        uow,
        "call_list.generate",
        object_type="CallList",
        object_ids=[call_list.id],
        details={"students": len(rows), "assignedTo": assignee, "source": source},
    )
    return call_list, len(rows)


@dataclass(frozen=True)
class CallInput:
    call_list_id: int
    student_id: int
    outcome: str
    notes: str = ""
    student_response: str = ""
    follow_up_on: date | None = None


async def record_call(
    uow: UnitOfWork, viewer: Viewer, data: CallInput
) -> tuple[CallLog, FollowUp | None]:
    me = viewer.require_somewhere(Permission.OUTREACH)
    call_list = await uow.session.get(CallList, data.call_list_id)
    if call_list is None:
        raise DomainError.of("NOT_FOUND", "No such call list.", "callListId")
    await _require_where(uow, viewer, call_list.mission_id, call_list.batch_id)
    entry = (
        await uow.session.execute(
            select(CallListEntry)
            .where(
                CallListEntry.call_list_id == data.call_list_id,
                CallListEntry.student_id == data.student_id,
            )
            .order_by(CallListEntry.priority)
            .limit(1)
        )
    ).scalar_one_or_none()
    if entry is None:
        raise DomainError.of("NOT_ON_LIST", "That student is not on this call list.", "studentId")
    problems = Problems()
    if data.outcome not in OUTCOMES:
        problems.add("INVALID", "Unknown outcome.", "outcome")
    notes = check_text(problems, data.notes, field="notes", max_length=TEXT_MAX, label="The notes")
    response = check_text(
        problems,
        data.student_response,
        field="studentResponse",
        max_length=TEXT_MAX,
        label="The response",
    )
    if data.outcome == "reschedule" and data.follow_up_on is None:
        problems.add("REQUIRED", "A rescheduled call needs the day to call again.", "followUpOn")
    if data.follow_up_on is not None and data.follow_up_on < datetime.now(UTC).date():
        problems.add("DATE_IN_PAST", "A follow-up cannot be due in the past.", "followUpOn")
    problems.raise_if_any()
    enrollment = await uow.session.get(Enrollment, entry.enrollment_id)
    assert enrollment is not None
    mission_id = enrollment.mission_id
    now = datetime.now(UTC)
    log = CallLog(
        entry_id=entry.id, enrollment_id=entry.enrollment_id, mission_id=mission_id,
        student_id=entry.student_id, caller_id=me, outcome=data.outcome, notes=notes or "",
        student_response=response or "", created_at=now,
    )  # fmt: skip
    uow.session.add(log)
    entry.status = "called"
    await uow.session.flush()
    follow_up = None
    if data.follow_up_on is not None:
        follow_up = FollowUp(
            call_log_id=log.id, enrollment_id=entry.enrollment_id, student_id=entry.student_id,
            assigned_to_id=call_list.assigned_to_id or me, due_on=data.follow_up_on,
            note=response or notes or "", created_at=now,
        )  # fmt: skip
        uow.session.add(follow_up)
        await uow.session.flush()
    audit.record(
        uow,
        "call.record",
        object_type="CallLog",
        object_ids=[log.id],
        details={"outcome": data.outcome, "followUp": follow_up.id if follow_up else None},
    )
    return log, follow_up


async def close_follow_up(
    uow: UnitOfWork, viewer: Viewer, follow_up_id: int, *, done: bool, note: str | None
) -> FollowUp:
    viewer.require_somewhere(Permission.OUTREACH)
    follow_up = await uow.session.get(FollowUp, follow_up_id, with_for_update=True)
    if follow_up is None:
        raise DomainError.of("NOT_FOUND", "No such follow-up.", "id")
    if not viewer.can(Permission.OUTREACH):
        mission = (
            await uow.session.execute(
                select(Enrollment.mission_id).where(Enrollment.id == follow_up.enrollment_id)
            )
        ).scalar_one_or_none()
        await access.require_in_mission(uow.session, viewer, Permission.OUTREACH, mission)
    if follow_up.status != "open":
        raise DomainError.of(
            "ALREADY_CLOSED", f"This follow-up is {follow_up.status} already.", "id"
        )
    problems = Problems()
    text = check_text(problems, note, field="note", max_length=TEXT_MAX, label="The note")
    problems.raise_if_any()
    follow_up.status = "done" if done else "missed"
    follow_up.closed_at = datetime.now(UTC)
    if text:
        follow_up.note = f"{follow_up.note}\n{text}".strip()
    audit.record(
        uow,
        "follow_up.close",
        object_type="FollowUp",
        object_ids=[follow_up.id],
        details={"status": follow_up.status},
    )
    return follow_up
