"""Enrolments and mentor assignments: who is in a mission, and who mentors them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select

from alumnet.domain.errors import DomainError, Problem, Problems, Sent
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Reach, Role, Viewer
from alumnet.domain.identity.users import normalise_email
from alumnet.domain.ops import webhooks
from alumnet.persistence.db import insert_or_ignore, like_pattern, upsert
from alumnet.persistence.models import (
    Enrollment,
    MentorAssignment,
    Mission,
    MissionMentor,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

ENROLLMENT_STATUSES = ("active", "completed", "dropped")
# Set only by integrity decisions (and lifted by appeals or a ban's end).
RESTRICTED_STATUSES = ("banned", "delisted")
BULK_MAX = 5000
CHUNK = 500


SEARCH_MAX = 100


def enrollment_conditions(statuses: Sequence[str], search: str | None) -> list[Any]:
    """What an enrolment filter asks (the `enrollments` lists and roster exports alike), over
    enrolments joined with their students."""
    found: list[Any] = []
    if statuses:
        found.append(Enrollment.status.in_(list(statuses)))
    if search:
        if len(search) > SEARCH_MAX:
            raise DomainError.of(
                "INVALID", f"`search` must be at most {SEARCH_MAX} characters.", "search"
            )
        pattern = like_pattern(search.strip())
        found.append(or_(func.lower(User.name).like(pattern, escape="\\"),
                         User.email_lower.like(pattern, escape="\\")))  # fmt: skip
    return found


def roster_channel(mission_id: int) -> str:
    return f"mission:{mission_id}:roster"


async def _enrollments_changed(
    uow: UnitOfWork, mission_id: int, change: str, status: str, student_ids: Sequence[int]
) -> None:
    """The roster's news for webhooks: one event however many students (a bulk enrolment
    lists them all)."""
    await webhooks.emit(uow, webhooks.EventType.ENROLLMENT_CHANGED, {
        "missionId": webhooks.gid("Mission", mission_id), "change": change, "status": status,
        "studentIds": [webhooks.gid("User", s) for s in sorted(set(student_ids))],
    })  # fmt: skip


def _roster_changed(
    uow: UnitOfWork, mission_id: int, kind: str, student_ids: Sequence[int]
) -> None:
    uow.publish(
        roster_channel(mission_id),
        {
            "missionId": mission_id,
            "kind": kind,
            "studentIds": sorted(set(student_ids)),
            "at": datetime.now(UTC).isoformat(),
        },
    )


async def _mission(uow: UnitOfWork, mission_id: int, field: str = "missionId") -> Mission:
    mission = await uow.session.get(Mission, mission_id)
    if mission is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", field)
    return mission


async def _mission_for(
    uow: UnitOfWork, viewer: Viewer, permission: Permission, mission_id: int
) -> Mission:
    """The mission, once the viewer is known to hold ``permission`` there (everywhere, or
    within its batch or itself)."""
    viewer.require_somewhere(permission)
    mission = await _mission(uow, mission_id)
    viewer.require(permission, within=Reach(batch_id=mission.batch_id, mission_id=mission.id))
    return mission


async def _users_with_role(uow: UnitOfWork, user_ids: Sequence[int], role: Role) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(user_ids), CHUNK):
        chunk = list(user_ids[start : start + CHUNK])
        rows = await uow.session.execute(
            select(UserRole.user_id)
            .join(User, User.id == UserRole.user_id)
            .where(
                UserRole.user_id.in_(chunk), UserRole.role == role.value, User.status == "active"
            )
        )
        found.update(rows.scalars())
    return found


async def _who_has_role(
    uow: UnitOfWork, user_ids: Sequence[int], role: Role
) -> tuple[set[int], set[int]]:
    """Which of these users exist, and which of those are active holders of ``role``."""
    existing: set[int] = set()
    holders: set[int] = set()
    for start in range(0, len(user_ids), CHUNK):
        rows = await uow.session.execute(
            select(User.id, User.status, UserRole.user_id)
            .outerjoin(UserRole, (UserRole.user_id == User.id) & (UserRole.role == role.value))
            .where(User.id.in_(list(user_ids[start : start + CHUNK])))
        )
        for uid, status, holder in rows.all():
            existing.add(int(uid))
            if holder is not None and status == "active":
                holders.add(int(uid))
    return existing, holders


async def _existing_users(uow: UnitOfWork, user_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(user_ids), CHUNK):
        rows = await uow.session.execute(
            select(User.id).where(User.id.in_(list(user_ids[start : start + CHUNK])))
        )
        found.update(int(u) for u in rows.scalars())
    return found


def _wrong_role(role: Role) -> str:
    return "NOT_A_STUDENT" if role == Role.STUDENT else "NOT_A_MENTOR"


async def _require_role(uow: UnitOfWork, user_id: int, role: Role, field: str) -> None:
    existing, holders = await _who_has_role(uow, [user_id], role)
    if user_id not in existing:
        raise DomainError.of("NOT_FOUND", "No such user.", field)
    if user_id not in holders:
        raise DomainError.of(
            _wrong_role(role), f"That user is not an active {role.value.lower()}.", field
        )


async def _mission_mentors(uow: UnitOfWork, mission_id: int, user_ids: Sequence[int]) -> set[int]:
    """Which of these users mentor the whole mission."""
    found: set[int] = set()
    for start in range(0, len(user_ids), CHUNK):
        rows = await uow.session.execute(
            select(MissionMentor.mentor_id).where(
                MissionMentor.mission_id == mission_id,
                MissionMentor.mentor_id.in_(user_ids[start : start + CHUNK]),
            )
        )
        found.update(int(u) for u in rows.scalars())
    return found


async def enroll(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, student_id: int, status: str = "active"
) -> tuple[Enrollment, bool]:
    """Idempotent: an existing enrolment is returned as it is (created=False)."""
    await _mission_for(uow, viewer, Permission.ENROLLMENTS_MANAGE, mission_id)
    await _require_role(uow, student_id, Role.STUDENT, "studentId")
    if await _mission_mentors(uow, mission_id, [student_id]):
        raise DomainError.of(
            "MISSION_MENTOR", "This person mentors the whole mission; they cannot study in it.",
            "studentId",
        )  # fmt: skip
    now = datetime.now(UTC)
    added = await insert_or_ignore(
        uow.session, Enrollment,
        {"mission_id": mission_id, "student_id": student_id, "status": status,
         "created_at": now, "updated_at": now},
        ["mission_id", "student_id"],
    )  # fmt: skip
    enrollment = (
        await uow.session.execute(
            select(Enrollment).where(
                Enrollment.mission_id == mission_id, Enrollment.student_id == student_id
            )
        )
    ).scalar_one()
    if not added:
        return enrollment, False  # enrolled already (perhaps by a concurrent request)
    audit.record(
        uow,
        "enrollment.create",
        object_type="Enrollment",
        object_ids=[enrollment.id],
        details={"mission": mission_id, "student": student_id},
    )
    _roster_changed(uow, mission_id, "ENROLLED", [student_id])
    await _enrollments_changed(uow, mission_id, "ENROLLED", status, [student_id])
    return enrollment, True


@dataclass
class BulkEnrollment:
    added: int = 0
    already_present: int = 0
    problems: list[Problem] = field(default_factory=list)


async def enroll_many(
    uow: UnitOfWork,
    viewer: Viewer,
    mission_id: int,
    *,
    student_ids: Sequence[Sent],
    emails: Sequence[str],
    all_or_nothing: bool = False,
) -> BulkEnrollment:
    """Set-based: a handful of statements whatever the count (up to 5,000). Each problem
    points at its entry (``studentIds``/``emails`` and its index) and names the person as
    the caller did (the global id or the address sent), never by an internal key."""
    await _mission_for(uow, viewer, Permission.ENROLLMENTS_MANAGE, mission_id)
    if len(student_ids) + len(emails) > BULK_MAX:
        raise DomainError.of("TOO_MANY", f"At most {BULK_MAX} students in one call.")
    result = BulkEnrollment()
    lowered = [normalise_email(e) for e in emails]
    unique = sorted(set(lowered))
    by_email: dict[str, int] = {}
    for start in range(0, len(unique), CHUNK):
        rows = await uow.session.execute(
            select(User.email_lower, User.id).where(
                User.email_lower.in_(unique[start : start + CHUNK])
            )
        )
        by_email.update({str(e): int(i) for e, i in rows.all()})
    # Each entry: its path, the user it names, and the person as the caller named them.
    entries: list[tuple[tuple[str, str], int | None, str]] = [
        (("studentIds", str(index)), sent.pk, sent.said) for index, sent in enumerate(student_ids)
    ]
    entries += [
        (("emails", str(index)), by_email.get(email), emails[index].strip()[:254])
        for index, email in enumerate(lowered)
    ]
    named = sorted({pk for _, pk, _ in entries if pk is not None})
    existing, students = await _who_has_role(uow, named, Role.STUDENT)
    mentoring = await _mission_mentors(uow, mission_id, sorted(students))
    wanted: set[int] = set()
    for path, pk, said in entries:
        by_id = path[0] == "studentIds"
        who = f"The user {said}" if by_id else said
        if pk is None or pk not in existing:
            code, message = (
                ("NOT_FOUND", f"No user has the id {said}.")
                if by_id
                else ("UNKNOWN_EMAIL", f"No user has the address {said}.")
            )
        elif pk not in students:
            code, message = "NOT_A_STUDENT", f"{who} is not an active student."
        elif pk in mentoring:
            code, message = "MISSION_MENTOR", f"{who} mentors the whole mission."
        else:
            wanted.add(pk)
            continue
        result.problems.append(Problem(code, message, path))
    if all_or_nothing and result.problems:
        raise DomainError(*result.problems)
    candidates = sorted(wanted)
    present: set[int] = set()
    for start in range(0, len(candidates), CHUNK):
        rows = await uow.session.execute(
            select(Enrollment.student_id).where(
                Enrollment.mission_id == mission_id,
                Enrollment.student_id.in_(candidates[start : start + CHUNK]),
            )
        )
        present.update(int(x) for x in rows.scalars())
    new = [sid for sid in candidates if sid not in present]
    if new:
        now = datetime.now(UTC)
        await uow.session.execute(
            insert(Enrollment),
            [
                {
                    "mission_id": mission_id,
                    "student_id": sid,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for sid in new
            ],
        )
        audit.record(
            uow,
            "enrollment.bulk_create",
            object_type="Mission",
            object_ids=[mission_id],
            details={"added": len(new)},
            summary=f"{len(new)} students enrolled",
        )
        _roster_changed(uow, mission_id, "ENROLLED", new)
        await _enrollments_changed(uow, mission_id, "ENROLLED", "active", new)
    result.added = len(new)
    result.already_present = len(present)
    return result


async def set_enrollment_status(
    uow: UnitOfWork, viewer: Viewer, enrollment_id: int, status: str
) -> Enrollment:
    viewer.require_somewhere(Permission.ENROLLMENTS_MANAGE)
    enrollment = await uow.session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise DomainError.of("NOT_FOUND", "No such enrolment.", "id")
    if not viewer.can(Permission.ENROLLMENTS_MANAGE):
        await _mission_for(uow, viewer, Permission.ENROLLMENTS_MANAGE, enrollment.mission_id)
    if status not in ENROLLMENT_STATUSES:
        raise DomainError.of("INVALID", "Unknown status.", "status")
    if enrollment.status in RESTRICTED_STATUSES:
        raise DomainError.of(
            "RESTRICTED",
            f"The enrolment is {enrollment.status} by an integrity decision; an accepted "
            "appeal restores it.",
            "status",
        )
    if enrollment.status != status:
        previous = enrollment.status
        enrollment.status = status
        enrollment.updated_at = datetime.now(UTC)
        audit.record(
            uow,
            "enrollment.update",
            object_type="Enrollment",
            object_ids=[enrollment.id],
            details={"from": previous, "to": status},
        )
        _roster_changed(uow, enrollment.mission_id, "STATUS_CHANGED", [enrollment.student_id])
        await _enrollments_changed(
            uow, enrollment.mission_id, "STATUS_CHANGED", status, [enrollment.student_id]
        )
    return enrollment


async def assign_mentor(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, student_id: int, mentor_id: int
) -> tuple[MentorAssignment, bool]:
    viewer.require_somewhere(Permission.MENTORS_ASSIGN)
    # What the checks need, and the assignment if it exists, in one statement.
    is_mentor = (
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(
            UserRole.user_id == mentor_id,
            UserRole.role == Role.MENTOR.value,
            User.status == "active",
        )
        .exists()
    )
    found = (
        await uow.session.execute(
            select(Mission.batch_id, Enrollment.id, is_mentor, MentorAssignment)
            .select_from(Mission)
            .outerjoin(
                Enrollment,
                (Enrollment.mission_id == Mission.id) & (Enrollment.student_id == student_id),
            )
            .outerjoin(
                MentorAssignment,
                (MentorAssignment.enrollment_id == Enrollment.id)
                & (MentorAssignment.mentor_id == mentor_id),
            )
            .where(Mission.id == mission_id)
        )
    ).first()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    batch_id, enrollment_id, mentor_ok, existing = found
    viewer.require(
        Permission.MENTORS_ASSIGN, within=Reach(batch_id=batch_id, mission_id=mission_id)
    )
    if not mentor_ok:
        raise DomainError.of("NOT_A_MENTOR", "That user is not an active mentor.", "mentorId")
    if enrollment_id is None:
        raise DomainError.of(
            "NOT_ENROLLED", "The student is not enrolled in this mission.", "studentId"
        )
    if mentor_id == student_id:
        raise DomainError.of("SELF_MENTORING", "A student cannot mentor themselves.", "mentorId")
    if existing is not None:
        return existing, False  # assigned already
    added = (
        await uow.session.execute(
            select(MentorAssignment).from_statement(
                upsert(uow.session, MentorAssignment)
                .values(enrollment_id=enrollment_id, mission_id=mission_id,
                        student_id=student_id, mentor_id=mentor_id, created_at=datetime.now(UTC))
                .on_conflict_do_nothing(index_elements=["enrollment_id", "mentor_id"])
                .returning(MentorAssignment)
            )
        )
    ).scalar_one_or_none()  # fmt: skip
    if added is None:
        # Assigned meanwhile by a concurrent request.
        assignment = (
            await uow.session.execute(
                select(MentorAssignment).where(
                    MentorAssignment.enrollment_id == enrollment_id,
                    MentorAssignment.mentor_id == mentor_id,
                )
            )
        ).scalar_one()
        return assignment, False
    audit.record(
        uow,
        "mentor.assign",
        object_type="MentorAssignment",
        object_ids=[added.id],
        details={"mission": mission_id, "student": student_id, "mentor": mentor_id},
    )
    _roster_changed(uow, mission_id, "MENTOR_ASSIGNED", [student_id])
    return added, True


async def assign_mentors(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, pairs: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Assign many (student, mentor) pairs of one mission at once, as ``assign_mentor``
    does one: the mentors must hold the MENTOR role and the students be enrolled; pairs
    assigned already are skipped. Set-based (a few statements per 500 pairs), one audit
    row, one roster event. Returns the pairs added."""
    await _mission_for(uow, viewer, Permission.MENTORS_ASSIGN, mission_id)
    if len(pairs) > BULK_MAX:
        raise DomainError.of("TOO_MANY", f"At most {BULK_MAX} assignments in one call.")
    mentors = await _users_with_role(uow, sorted({m for _, m in pairs}), Role.MENTOR)
    students = sorted({s for s, _ in pairs})
    enrolled: dict[int, int] = {}
    for start in range(0, len(students), CHUNK):
        rows = await uow.session.execute(
            select(Enrollment.student_id, Enrollment.id).where(
                Enrollment.mission_id == mission_id,
                Enrollment.student_id.in_(students[start : start + CHUNK]),
            )
        )
        enrolled.update({int(s): int(e) for s, e in rows.all()})
    now = datetime.now(UTC)
    values = [
        {"enrollment_id": enrolled[s], "mission_id": mission_id, "student_id": s,
         "mentor_id": m, "created_at": now}
        for s, m in pairs if m in mentors and s in enrolled and s != m
    ]  # fmt: skip
    added: list[tuple[int, int]] = []
    for start in range(0, len(values), CHUNK):
        statement = (
            upsert(uow.session, MentorAssignment)
            .values(values[start : start + CHUNK])
            .on_conflict_do_nothing(index_elements=["enrollment_id", "mentor_id"])
            .returning(MentorAssignment.student_id, MentorAssignment.mentor_id)
        )
        added += [(int(s), int(m)) for s, m in (await uow.session.execute(statement)).all()]
    if added:
        audit.record(
            uow, "mentor.assign_many", object_type="Mission", object_ids=[mission_id],
            details={"assigned": len(added), "mentors": len({m for _, m in added})},
        )  # fmt: skip
        _roster_changed(uow, mission_id, "MENTOR_ASSIGNED", [s for s, _ in added])
    return added


async def unassign_mentor(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, student_id: int, mentor_id: int
) -> bool:
    await _mission_for(uow, viewer, Permission.MENTORS_ASSIGN, mission_id)
    removed = await uow.session.execute(
        delete(MentorAssignment)
        .where(
            MentorAssignment.mission_id == mission_id,
            MentorAssignment.student_id == student_id,
            MentorAssignment.mentor_id == mentor_id,
        )
        .returning(MentorAssignment.id)
    )
    ids = list(removed.scalars())
    if not ids:
        raise DomainError.of(
            "NOT_ASSIGNED", "That mentor is not assigned to that student here.", "mentorId"
        )
    audit.record(
        uow,
        "mentor.unassign",
        object_type="MentorAssignment",
        object_ids=ids,
        details={"mission": mission_id, "student": student_id, "mentor": mentor_id},
    )
    _roster_changed(uow, mission_id, "MENTOR_UNASSIGNED", [student_id])
    return True


async def add_mission_mentor(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, mentor_id: int
) -> tuple[Mission, bool]:
    """A mentor of the whole mission: every student enrolled (now or later) is their
    mentee there, without an assignment per student. False when they were already."""
    mission = await _mission_for(uow, viewer, Permission.MENTORS_ASSIGN, mission_id)
    await _require_role(uow, mentor_id, Role.MENTOR, "mentorId")
    enrolled = await uow.session.execute(
        select(Enrollment.id).where(
            Enrollment.mission_id == mission_id, Enrollment.student_id == mentor_id
        )
    )
    if enrolled.first() is not None:
        raise DomainError.of(
            "SELF_MENTORING", "A student of the mission cannot mentor it.", "mentorId"
        )
    added = await insert_or_ignore(
        uow.session, MissionMentor,
        {"mission_id": mission_id, "mentor_id": mentor_id, "created_at": datetime.now(UTC)},
        ["mission_id", "mentor_id"],
    )  # fmt: skip
    if added:
        audit.record(
            uow, "mission_mentor.add", object_type="Mission", object_ids=[mission_id],
            details={"mentor": mentor_id},
        )  # fmt: skip
        _roster_changed(uow, mission_id, "MENTOR_ASSIGNED", [])
    return mission, added


async def remove_mission_mentor(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, mentor_id: int
) -> Mission:
    """No longer a mentor of the whole mission (their assignments to single students, if
    any, stay)."""
    mission = await _mission_for(uow, viewer, Permission.MENTORS_ASSIGN, mission_id)
    removed = await uow.session.execute(
        delete(MissionMentor)
        .where(MissionMentor.mission_id == mission_id, MissionMentor.mentor_id == mentor_id)
        .returning(MissionMentor.id)
    )
    if removed.first() is None:
        raise DomainError.of(
            "NOT_ASSIGNED", "That user does not mentor this mission as a whole.", "mentorId"
        )
    audit.record(
        uow, "mission_mentor.remove", object_type="Mission", object_ids=[mission_id],
        details={"mentor": mentor_id},
    )  # fmt: skip
    _roster_changed(uow, mission_id, "MENTOR_UNASSIGNED", [])
    return mission


async def reassign_mentor(
    uow: UnitOfWork,
    viewer: Viewer,
    mission_id: int,
    from_mentor: int,
    to_mentor: int,
    student_ids: Sequence[Sent] | None,
) -> list[int]:
    """Moves students (all of ``from_mentor``'s by default) in one transaction. Each
    student named who is not moved is a problem at their entry of ``studentIds``."""
    await _mission_for(uow, viewer, Permission.MENTORS_ASSIGN, mission_id)
    if from_mentor == to_mentor:
        raise DomainError.of("SAME_MENTOR", "Choose two different mentors.", "toMentorId")
    await _require_role(uow, to_mentor, Role.MENTOR, "toMentorId")
    current = (
        await uow.session.execute(
            select(MentorAssignment.student_id, MentorAssignment.enrollment_id).where(
                MentorAssignment.mission_id == mission_id,
                MentorAssignment.mentor_id == from_mentor,
            )
        )
    ).all()
    assigned = {int(sid): int(eid) for sid, eid in current}
    if student_ids is None:
        moving = sorted(assigned)
    else:
        moving = sorted({s.pk for s in student_ids if s.pk in assigned})
        unassigned = [s.pk for s in student_ids if s.pk is not None and s.pk not in assigned]
        existing = await _existing_users(uow, unassigned) if unassigned else set()
        problems = Problems()
        for index, sent in enumerate(student_ids):
            where = ("studentIds", str(index))
            if sent.pk is None or (sent.pk not in assigned and sent.pk not in existing):
                problems.add("NOT_FOUND", f"No user has the id {sent.said}.", where)
            elif sent.pk not in assigned:
                problems.add("NOT_ASSIGNED", f"The user {sent.said} is not mentored by the "
                             "first mentor in this mission.", where)  # fmt: skip
        problems.raise_if_any()
    if not moving:
        return []
    already = set(
        (
            await uow.session.execute(
                select(MentorAssignment.student_id).where(
                    MentorAssignment.mission_id == mission_id,
                    MentorAssignment.mentor_id == to_mentor,
                    MentorAssignment.student_id.in_(moving),
                )
            )
        ).scalars()
    )
    await uow.session.execute(
        delete(MentorAssignment).where(
            MentorAssignment.mission_id == mission_id,
            MentorAssignment.mentor_id == from_mentor,
            MentorAssignment.student_id.in_(moving),
        )
    )
    now = datetime.now(UTC)
    fresh = [sid for sid in moving if sid not in already]
    if fresh:
        await uow.session.execute(
            insert(MentorAssignment),
            [
                {
                    "enrollment_id": assigned[sid],
                    "mission_id": mission_id,
                    "student_id": sid,
                    "mentor_id": to_mentor,
                    "created_at": now,
                }
                for sid in fresh
            ],
        )
    audit.record(
        uow,
        "mentor.reassign",
        object_type="Mission",
        object_ids=[mission_id],
        details={"from": from_mentor, "to": to_mentor, "students": len(moving)},
        summary=f"{len(moving)} students moved",
    )
    _roster_changed(uow, mission_id, "MENTOR_REASSIGNED", moving)
    return moving
