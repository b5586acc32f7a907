"""Assignments of a mission and their submissions: by the student, or recorded in bulk
by staff from a pasted list of e-mail addresses (as SREs do today)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from alumnet.domain.cohorts import access
from alumnet.domain.data import files
from alumnet.domain.engagement import grading, points
from alumnet.domain.engagement.common import Place, place_of_student
from alumnet.domain.engagement.rules import rules_of
from alumnet.domain.errors import DomainError, Problems, check_moment, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import normalise_email
from alumnet.persistence.db import insert_or_ignore, upsert
from alumnet.persistence.models import Assignment, Enrollment, Mission, Submission, User
from alumnet.persistence.uow import UnitOfWork

LATE_POLICIES = ("accept_late", "no_late")
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
CONTENT_MAX = 10_000
POINTS_MAX = 10_000
BULK_LINES_MAX = 5000
CHUNK = 500
EMAIL_IN_TEXT = re.compile(r"[^\s<>,;:\"'()\[\]]+@[^\s<>,;:\"'()\[\]]+\.[^\s<>,;:\"'()\[\]]+")


@dataclass
class AssignmentChanges:
    title: str | None = None
    description: str | None = None
    opens_at: datetime | None = None
    due_at: datetime | None = None
    max_points: int | None = None
    late_policy: str | None = None
    late_cutoff_at: datetime | None = None
    clear_late_cutoff: bool = False
    # None: unchanged (no rubric, on creation); []: removed.
    rubric: list[grading.Criterion] | None = None


def _validate(problems: Problems, a: Assignment) -> None:
    if a.due_at < a.opens_at:
        problems.add("DATES_OUT_OF_ORDER", "The due time is before the opening time.", "dueAt")
    if a.late_cutoff_at is not None and a.late_cutoff_at < a.due_at:
        problems.add(
            "DATES_OUT_OF_ORDER", "The late cut-off is before the due time.", "lateCutoffAt"
        )
    if a.late_policy not in LATE_POLICIES:
        problems.add("INVALID", "Unknown late policy.", "latePolicy")
    if not 0 <= a.max_points <= POINTS_MAX:
        problems.add("OUT_OF_RANGE", "Maximum points are 0 to 10,000.", "maxPoints")


async def create(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, data: AssignmentChanges
) -> Assignment:
    viewer.require_somewhere(Permission.ENGAGEMENT_MANAGE)
    if await uow.session.get(Mission, mission_id) is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.ENGAGEMENT_MANAGE, mission_id)
    problems = Problems()
    title = check_text(
        problems,
        data.title or "",
        field="title",
        max_length=TITLE_MAX,
        min_length=1,
        label="The title",
    )
    description = check_text(
        problems,
        data.description or "",
        field="description",
        max_length=DESCRIPTION_MAX,
        label="The description",
    )
    now = datetime.now(UTC)
    opens = check_moment(problems, data.opens_at, field="opensAt", label="The opening")
    due = check_moment(problems, data.due_at, field="dueAt", label="The due time")
    cutoff = check_moment(problems, data.late_cutoff_at, field="lateCutoffAt", label="The cut-off")
    rubric, maximum = grading.check_rubric(problems, data.rubric or [], data.max_points)
    assignment = Assignment(
        mission_id=mission_id, title=title or "", description=description or "",
        opens_at=opens or now, due_at=due or now,
        max_points=maximum if rubric else (data.max_points if data.max_points is not None else 10),
        late_policy=data.late_policy or "accept_late", late_cutoff_at=cutoff,
        rubric=rubric or None, created_at=now, updated_at=now,
    )  # fmt: skip
    if data.due_at is None:
        problems.add("REQUIRED", "The due time is required.", "dueAt")
    _validate(problems, assignment)
    problems.raise_if_any()
    uow.session.add(assignment)
    await uow.session.flush()
    audit.record(
        uow, "assignment.create", object_type="Assignment", object_ids=[assignment.id],
        details={"mission": mission_id, "title": assignment.title},
    )  # fmt: skip
    return assignment


async def update(
    uow: UnitOfWork, viewer: Viewer, assignment_id: int, data: AssignmentChanges
) -> tuple[Assignment, int | None]:
    """Returns the assignment and, if its points changed, the recalculation job's id."""
    viewer.require_somewhere(Permission.ENGAGEMENT_MANAGE)
    assignment = await uow.session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None:
        raise DomainError.of("NOT_FOUND", "No such assignment.", "id")
    await access.require_in_mission(
        uow.session, viewer, Permission.ENGAGEMENT_MANAGE, assignment.mission_id
    )
    problems = Problems()
    before = {
        c: getattr(assignment, c)
        for c in (
            "title", "opens_at", "due_at", "max_points", "late_policy", "late_cutoff_at", "rubric"
        )
    }  # fmt: skip
    if data.title is not None:
        assignment.title = (
            check_text(
                problems,
                data.title,
                field="title",
                max_length=TITLE_MAX,
                min_length=1,
                label="The title",
            )
            or ""
        )
    if data.description is not None:
        assignment.description = (
            check_text(
                problems,
                data.description,
                field="description",
                max_length=DESCRIPTION_MAX,
                label="The description",
            )
            or ""
        )
    for name, field_name in (
        ("opens_at", "opensAt"),
        ("due_at", "dueAt"),
        ("late_cutoff_at", "lateCutoffAt"),
    ):
        value = check_moment(problems, getattr(data, name), field=field_name, label="The time")
        if value is not None:
            setattr(assignment, name, value)
    if data.clear_late_cutoff:
        assignment.late_cutoff_at = None
    if data.max_points is not None:
        highest = (
            await uow.session.execute(
                select(func.max(Submission.mark)).where(Submission.assignment_id == assignment.id)
            )
        ).scalar()
        if highest is not None and data.max_points < highest:
            problems.add(
                "OUT_OF_RANGE",
                f"Work was already marked {highest}: the maximum cannot be lower.",
                "maxPoints",
            )
        assignment.max_points = data.max_points
    if data.late_policy is not None:
        assignment.late_policy = data.late_policy
    if data.rubric is not None:
        rubric, _ = grading.check_rubric(problems, data.rubric, assignment.max_points)
        assignment.rubric = rubric or None
    elif assignment.rubric and data.max_points is not None:
        total = sum(c["points"] for c in assignment.rubric)
        if total != assignment.max_points:
            problems.add(
                "RUBRIC_MISMATCH",
                f"The rubric adds up to {total}: change it with the maximum.",
                "maxPoints",
            )
    _validate(problems, assignment)
    problems.raise_if_any()
    assignment.updated_at = datetime.now(UTC)
    changed = {k: str(v) for k, v in before.items() if getattr(assignment, k) != v}
    job_id = None
    if changed:
        audit.record(
            uow,
            "assignment.update",
            object_type="Assignment",
            object_ids=[assignment.id],
            details=changed,
        )
        if "max_points" in changed:
            job = await uow.add_job("points.recalculate", {"mission_id": assignment.mission_id})
            job_id = job.id
    await uow.session.flush()
    return assignment, job_id


def _lateness(assignment: Assignment, at: datetime, field_name: str) -> bool:
    """Whether a submission at ``at`` is late; CLOSED/NOT_OPEN if it cannot be taken."""
    opens, due, cutoff = assignment.opens_at, assignment.due_at, assignment.late_cutoff_at
    assert opens is not None
    assert due is not None
    if at < opens:
        raise DomainError.of(
            "NOT_OPEN", f"The assignment opens at {opens.isoformat()}.", field_name
        )
    if at <= due:
        return False
    if assignment.late_policy == "no_late":
        raise DomainError.of(
            "CLOSED", "The assignment was due; late work is not accepted.", field_name
        )
    if cutoff is not None and at > cutoff:
        raise DomainError.of("CLOSED", "The late cut-off has passed.", field_name)
    return True


async def _assignment(uow: UnitOfWork, assignment_id: int) -> Assignment:
    assignment = await uow.session.get(Assignment, assignment_id)
    if assignment is None:
        raise DomainError.of("NOT_FOUND", "No such assignment.", "assignmentId")
    return assignment


@dataclass(frozen=True)
class Upload:
    """A file handed in: its name, and a way to read it a chunk at a time."""

    name: str
    read: Callable[[int], Awaitable[bytes]]


async def submit(
    uow: UnitOfWork,
    viewer: Viewer,
    assignment_id: int,
    *,
    content: str | None,
    upload: Upload | None = None,
    upload_limit: int = 20 * 1024 * 1024,
) -> tuple[Submission, bool]:
    """The student's own submission: a text or link, a file, both, or neither (work handed in
    elsewhere, marked as done). Idempotent (the first
    one counts), except after the work was returned for revision: then it is the next
    version (the earlier one kept with its grade), on time or late by the new deadline."""
    student_id = viewer.require_user()
    assignment = await _assignment(uow, assignment_id)
    place = await place_of_student(uow, assignment.mission_id, student_id, "assignmentId")
    problems = Problems()
    text = check_text(
        problems, content, field="content", max_length=CONTENT_MAX, label="The submission"
    )
    problems.raise_if_any()
    received = await files.receive(upload.name, upload.read, upload_limit) if upload else None
    try:
        return await _hand_in(uow, place, assignment, text, received)
    finally:
        if received is not None:
            received.close()


async def _hand_in(
    uow: UnitOfWork,
    place: Place,
    assignment: Assignment,
    text: str | None,
    received: files.Received | None,
) -> tuple[Submission, bool]:
    assignment_id, student_id = assignment.id, place.student_id
    now = datetime.now(UTC)
    current = (
        await uow.session.execute(
            select(Submission)
            .where(
                Submission.assignment_id == assignment_id,
                Submission.enrollment_id == place.enrollment_id,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if current is not None and current.status == "returned":
        return await _resubmit(uow, place, assignment, current, text, received), True
    if current is not None:
        return current, False
    late = _lateness(assignment, now, "assignmentId")
    added = await insert_or_ignore(
        uow.session, Submission,
        {"assignment_id": assignment_id, "enrollment_id": place.enrollment_id,
         "mission_id": assignment.mission_id, "student_id": student_id, "submitted_at": now,
         "late": late, "content": text or None, "source": "student",
         "recorded_by_id": student_id, "status": "submitted", "version": 1, "created_at": now},
        ["assignment_id", "enrollment_id"],
    )  # fmt: skip
    submission = (
        await uow.session.execute(
            select(Submission).where(
                Submission.assignment_id == assignment_id,
                Submission.enrollment_id == place.enrollment_id,
            )
        )
    ).scalar_one()
    if added:
        if received is not None:
            submission.file_id = await _store(uow, student_id, received)
        await points.award(
            uow, mission_id=assignment.mission_id, enrollment_id=place.enrollment_id,
            student_id=student_id,
            points=place.rules.submission_points(assignment.max_points, late),
            reason="submission_late" if late else "submission_on_time",
            source_type=points.SUBMISSION, source_id=submission.id,
        )  # fmt: skip
    return submission, added


async def _resubmit(
    uow: UnitOfWork,
    place: Place,
    assignment: Assignment,
    submission: Submission,
    text: str | None,
    received: files.Received | None,
) -> Submission:
    now = datetime.now(UTC)
    due = submission.revision_due_at
    late = due is not None and _revision_lateness(assignment, due, now)
    await grading.keep_version(uow, submission)
    base = assignment.max_points if submission.mark is None else submission.mark
    before = place.rules.submission_points(base, submission.late)
    submission.late = late
    submission.content = text or None
    submission.file_id = await _store(uow, place.student_id, received) if received else None
    submission.submitted_at = now
    submission.status = "submitted"
    submission.version += 1
    submission.revision_due_at = None
    await points.award(
        uow, mission_id=place.mission_id, enrollment_id=place.enrollment_id,
        student_id=place.student_id,
        points=place.rules.submission_points(base, submission.late) - before,
        reason="resubmission", source_type=points.SUBMISSION, source_id=submission.id,
    )  # fmt: skip
    audit.record(uow, "submission.resubmit", object_type="Submission",
                 object_ids=[submission.id], details={"version": submission.version})  # fmt: skip
    await uow.session.flush()
    return submission


def _revision_lateness(assignment: Assignment, due: datetime, at: datetime) -> bool:
    """Whether revised work handed in at ``at`` is late by its new deadline ``due``; as for
    the first version, late work is refused when the assignment takes none, and accepted
    for as long after the new deadline as the late cut-off allowed after the first."""
    if at <= due:
        return False
    if assignment.late_policy == "no_late":
        raise DomainError.of(
            "CLOSED", "The revision was due; late work is not accepted.", "assignmentId"
        )
    cutoff, first_due = assignment.late_cutoff_at, assignment.due_at
    if cutoff is not None and first_due is not None and at > due + (cutoff - first_due):
        raise DomainError.of(
            "CLOSED", "The late cut-off for the revision has passed.", "assignmentId"
        )
    return True


async def _store(uow: UnitOfWork, owner_id: int, received: files.Received) -> int:
    stored = await files.store_received(uow.session, received, owner_id=owner_id, expires_in=None)
    return int(stored.id)


@dataclass
class BulkLine:
    line: int
    text: str
    outcome: (
        str  # RECORDED, ALREADY_RECORDED, DUPLICATE, UNKNOWN_EMAIL, NOT_ENROLLED, NOT_AN_ADDRESS
    )
    email: str | None = None


@dataclass
class BulkRecord:
    recorded: int = 0
    already_recorded: int = 0
    late: bool = False
    lines: list[BulkLine] = field(default_factory=list)


def parse_pasted(text: str) -> list[BulkLine]:
    """One entry per address found (several per line allowed); junk lines reported."""
    lines: list[BulkLine] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        found = EMAIL_IN_TEXT.findall(stripped)
        if not found:
            lines.append(BulkLine(number, stripped[:200], "NOT_AN_ADDRESS"))
            continue
        for address in found:
            email = normalise_email(address.strip(".").lower())
            outcome = "DUPLICATE" if email in seen else ""
            seen.add(email)
            lines.append(BulkLine(number, address[:254], outcome, email))
    return lines


async def bulk_record(
    uow: UnitOfWork,
    viewer: Viewer,
    assignment_id: int,
    *,
    pasted: str,
    submitted_at: datetime | None = None,
) -> BulkRecord:
    """Match pasted addresses to students enrolled (and active) in the assignment's
    mission, record a submission for each who has none, and report every line."""
    viewer.require_somewhere(Permission.ENGAGEMENT_MANAGE)
    assignment = await _assignment(uow, assignment_id)
    await access.require_in_mission(
        uow.session, viewer, Permission.ENGAGEMENT_MANAGE, assignment.mission_id
    )
    if len(pasted) > 1_000_000:
        raise DomainError.of("TOO_MANY", "Paste at most 1 MB of text.", "emails")
    lines = parse_pasted(pasted)
    if len(lines) > BULK_LINES_MAX:
        raise DomainError.of(
            "TOO_MANY", f"At most {BULK_LINES_MAX} addresses in one call.", "emails"
        )
    if not any(line.email for line in lines):
        raise DomainError.of("REQUIRED", "No e-mail address found in the pasted text.", "emails")
    problems = Problems()
    given = check_moment(problems, submitted_at, field="submittedAt", label="The time")
    problems.raise_if_any()
    at = given or datetime.now(UTC)
    if at > datetime.now(UTC):
        raise DomainError.of("FUTURE_TIME", "The submission time is in the future.", "submittedAt")
    late = _lateness(assignment, at, "submittedAt")
    rules = await rules_of(uow, assignment.mission_id)
    wanted = sorted({line.email for line in lines if line.email and not line.outcome})
    students: dict[str, tuple[int, int]] = {}  # email -> (student id, enrollment id)
    known: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = await uow.session.execute(
            select(User.email_lower, User.id, Enrollment.id, Enrollment.status)
            .outerjoin(
                Enrollment,
                (Enrollment.student_id == User.id)
                & (Enrollment.mission_id == assignment.mission_id),
            )
            .where(User.email_lower.in_(chunk))
        )
        for email, user_id, enrollment_id, status in rows.all():
            known.add(email)
            if enrollment_id is not None and status == "active":
                students[email] = (int(user_id), int(enrollment_id))
    result = BulkRecord(late=late)
    now = datetime.now(UTC)
    values = [
        {"assignment_id": assignment_id, "enrollment_id": enrollment_id,
         "mission_id": assignment.mission_id, "student_id": student_id, "submitted_at": at,
         "late": late, "source": "bulk", "recorded_by_id": viewer.user_id, "created_at": now}
        for student_id, enrollment_id in students.values()
    ]  # fmt: skip
    added: dict[int, int] = {}  # enrollment id -> submission id
    for start in range(0, len(values), CHUNK):
        statement = (
            upsert(uow.session, Submission)
            .values(values[start : start + CHUNK])
            .on_conflict_do_nothing(index_elements=["assignment_id", "enrollment_id"])
            .returning(Submission.enrollment_id, Submission.id)
        )
        added.update({int(e): int(i) for e, i in (await uow.session.execute(statement)).all()})
    for line in lines:
        if line.outcome or line.email is None:
            continue
        if line.email not in known:
            line.outcome = "UNKNOWN_EMAIL"
        elif line.email not in students:
            line.outcome = "NOT_ENROLLED"
        elif students[line.email][1] in added:
            line.outcome = "RECORDED"
        else:
            line.outcome = "ALREADY_RECORDED"
    result.lines = lines
    result.recorded = len(added)
    result.already_recorded = sum(1 for line in lines if line.outcome == "ALREADY_RECORDED")
    if added:
        by_enrollment = {e: s for s, e in students.values()}
        await points.award_many(
            uow, mission_id=assignment.mission_id,
            awards=[(e, by_enrollment[e], sid) for e, sid in added.items()],
            points=rules.submission_points(assignment.max_points, late),
            reason="submission_late" if late else "submission_on_time",
            source_type=points.SUBMISSION,
        )  # fmt: skip
        audit.record(
            uow, "submission.bulk_record", object_type="Assignment", object_ids=[assignment_id],
            details={"recorded": len(added), "late": late},
            summary=f"{len(added)} submissions recorded from a pasted list",
        )  # fmt: skip
    return result
