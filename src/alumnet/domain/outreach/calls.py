"""Call lists from at-risk students, call logs with outcomes, and follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

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


def script_for(name: str, reasons: Sequence[str]) -> str:
    first = name.split()[0] if name.strip() else "there"
    said = " ".join(reasons)
    return (
        f"Hello {first}, this is your student relationship executive. We noticed: {said} "
        "Is everything all right? What is getting in the way, and what would help you "
        "catch up this week? (Agree on one concrete step and a date to check in.)"
    )


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
) -> tuple[CallList, int]:
    """A prioritised call list of the at-risk students of a mission or a batch."""
    me = viewer.require_somewhere(Permission.OUTREACH)
    problems = Problems()
    if (mission_id is None) == (batch_id is None):
        problems.add("INVALID", "Give a mission or a batch.", "missionId")
    else:
        await _require_where(uow, viewer, mission_id, batch_id)
    if not 1 <= limit <= LIST_MAX:
        problems.add("OUT_OF_RANGE", f"A list has 1 to {LIST_MAX} students.", "limit")
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
        query = query.where(AtRisk.mission_id == mission_id)
    else:
        query = query.where(
            AtRisk.mission_id.in_(select(Mission.id).where(Mission.batch_id == batch_id))
        )
    rows = []
    seen: set[int] = set()
    for row in (await uow.session.execute(query)).all():
        # A student at risk in two missions of a batch is called once (most urgent first).
        if row.student_id not in seen:
            seen.add(row.student_id)
            rows.append(row)
    call_list = CallList(
        title=(title or "").strip()[:200] or f"Call list of {datetime.now(UTC):%Y-%m-%d}",
        mission_id=mission_id, batch_id=batch_id, assigned_to_id=assignee, created_by_id=me,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(call_list)
    await uow.session.flush()
    rows = rows[:limit]
    for priority, (enrollment_id, student_id, reasons, _, name) in enumerate(rows, start=1):
        uow.session.add(
            CallListEntry(
                call_list_id=call_list.id, enrollment_id=enrollment_id, student_id=student_id,
                priority=priority, reasons=list(reasons), script=script_for(name, reasons),
            )
        )  # fmt: skip
    await uow.session.flush()
    audit.record(
        uow,
        "call_list.generate",
        object_type="CallList",
        object_ids=[call_list.id],
        details={"students": len(rows), "assignedTo": assignee},
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
