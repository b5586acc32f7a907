"""Grading work: a mark against the assignment's maximum (or a score per criterion of its
rubric), written feedback, and "return for revision" with a new deadline; each version
handed in is kept with its grade.

The points a submission earns are its mark (the assignment's maximum until it is graded)
in the mission's percent for on-time or late work (``Rules.submission_points``): grading
adds the difference to the ledger, and recalculation computes the same in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from alumnet.domain.cohorts import access
from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.engagement import points
from alumnet.domain.engagement.common import place_by_enrollment, require_staff_or_mentor
from alumnet.domain.errors import DomainError, Problems, check_moment, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.db import Reader
from alumnet.persistence.models import Assignment, Enrollment, Submission, SubmissionVersion
from alumnet.persistence.uow import UnitOfWork

CRITERIA_MAX = 20
CRITERION_NAME_MAX = 100
CRITERION_DESCRIPTION_MAX = 500
FEEDBACK_MAX = 10_000
POINTS_MAX = 10_000
VERSIONS_MAX = 20  # versions of one submission: returned for revision at most 19 times


@dataclass(frozen=True)
class Criterion:
    name: str
    points: int
    description: str = ""


@dataclass(frozen=True)
class Score:
    criterion: str
    points: int


def check_rubric(
    problems: Problems, criteria: Sequence[Criterion], max_points: int | None
) -> tuple[list[dict[str, Any]], int]:
    """The rubric as stored, and the maximum it implies (its criteria's points add up to
    the assignment's maximum; given none, the maximum is their sum)."""
    if len(criteria) > CRITERIA_MAX:
        problems.add("TOO_MANY", f"At most {CRITERIA_MAX} criteria.", "rubric")
        return [], max_points or 0
    stored: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, criterion in enumerate(criteria):
        field = ("rubric", str(i))
        name = check_text(
            problems, criterion.name, field=(*field, "name"), max_length=CRITERION_NAME_MAX,
            min_length=1, label="A criterion's name",
        )  # fmt: skip
        description = check_text(
            problems, criterion.description, field=(*field, "description"),
            max_length=CRITERION_DESCRIPTION_MAX, label="A criterion's description",
        )  # fmt: skip
        if name and name.lower() in seen:
            problems.add("DUPLICATE", f"The criterion {name!r} is given twice.", (*field, "name"))
        seen.add((name or "").lower())
        if not 0 < criterion.points <= POINTS_MAX:
            problems.add("OUT_OF_RANGE", "A criterion is worth 1 to 10,000 points.",
                         (*field, "points"))  # fmt: skip
        stored.append({"name": name or "", "description": description or "",
                       "points": criterion.points})  # fmt: skip
    total = sum(c["points"] for c in stored)
    if stored and max_points is not None and total != max_points:
        problems.add(
            "RUBRIC_MISMATCH",
            f"The criteria add up to {total} points, not the assignment's {max_points}.",
            "rubric",
        )
    return stored, (total if stored and max_points is None else (max_points or 0))


@dataclass(frozen=True)
class Grading:
    mark: int | None
    scores: list[Score] | None
    feedback: str | None
    return_for_revision: bool = False
    revision_due_at: datetime | None = None
    expected_version: int | None = None


async def grade(
    uow: UnitOfWork, viewer: Viewer, submission_id: int, grading: Grading
) -> Submission:
    """Grade a submission, or return it for revision (staff, or one of the student's
    mentors in the mission); the student is told. Two graders at once take turns (the row
    is locked, on SQLite too): the second sees, and replaces, the first one's grade."""
    submission = await uow.session.get(Submission, submission_id, with_for_update=True)
    if submission is None:
        raise DomainError.of("NOT_FOUND", "No such submission.", "submissionId")
    place = await place_by_enrollment(uow, submission.enrollment_id, "submissionId")
    try:
        await require_staff_or_mentor(uow, viewer, place, "submissionId")
    except DomainError:
        raise DomainError.of("NOT_FOUND", "No such submission.", "submissionId") from None
    assignment = await uow.session.get(Assignment, submission.assignment_id)
    assert assignment is not None
    if grading.expected_version is not None and grading.expected_version != submission.version:
        raise DomainError.of(
            "STALE",
            f"The work was handed in again (version {submission.version}): read it first.",
            "expectedVersion",
        )
    problems = Problems()
    mark, scores = _marked(problems, assignment, grading)
    feedback = check_text(
        problems, grading.feedback, field="feedback", max_length=FEEDBACK_MAX,
        label="The feedback",
    )  # fmt: skip
    due = check_moment(
        problems, grading.revision_due_at, field="revisionDueAt", label="The new deadline"
    )
    now = datetime.now(UTC)
    if grading.return_for_revision:
        if due is None:
            problems.add("REQUIRED", "Give the new deadline.", "revisionDueAt")
        elif due <= now:
            problems.add("DATE_IN_PAST", "The new deadline must be in the future.",
                         "revisionDueAt")  # fmt: skip
        if not feedback:
            problems.add("REQUIRED", "Say what to revise.", "feedback")
        if submission.version >= VERSIONS_MAX:
            problems.add("TOO_MANY", f"Work is handed in at most {VERSIONS_MAX} times: grade "
                         "this version.", "returnForRevision")  # fmt: skip
    elif due is not None:
        problems.add("INVALID", "A new deadline goes with returning the work.", "revisionDueAt")
    if mark is None and not grading.return_for_revision and not problems.items:
        problems.add("REQUIRED", "Give a mark, or score every criterion.", "mark")
    problems.raise_if_any()
    before = place.rules.submission_points(_base(submission, assignment), submission.late)
    if mark is not None:
        submission.mark = mark
        submission.rubric_scores = scores
    submission.feedback = feedback or None
    submission.graded_by_id = viewer.user_id
    submission.graded_at = now
    submission.status = "returned" if grading.return_for_revision else "graded"
    submission.revision_due_at = due if grading.return_for_revision else None
    after = place.rules.submission_points(_base(submission, assignment), submission.late)
    await points.award(
        uow, mission_id=place.mission_id, enrollment_id=place.enrollment_id,
        student_id=place.student_id, points=after - before, reason="grade",
        source_type=points.SUBMISSION, source_id=submission.id,
        note=f"{assignment.title}: {mark} of {assignment.max_points}" if mark is not None
        else None,
    )  # fmt: skip
    audit.record(
        uow, "submission.return" if grading.return_for_revision else "submission.grade",
        object_type="Submission", object_ids=[submission.id],
        details={"mark": mark, "version": submission.version},
    )  # fmt: skip
    await notify(uow, [place.student_id], _told(assignment, submission))
    await uow.session.flush()
    return submission


def _base(submission: Submission, assignment: Assignment) -> int:
    """What the work is worth before the late or on-time percent: its mark once graded."""
    return assignment.max_points if submission.mark is None else submission.mark


def _marked(
    problems: Problems, assignment: Assignment, grading: Grading
) -> tuple[int | None, list[dict[str, Any]] | None]:
    """The mark (the scores' sum with a rubric), checked against the maximum."""
    rubric = assignment.rubric or []
    if grading.scores is not None:
        if not rubric:
            problems.add("NO_RUBRIC", "This assignment has no rubric: give a mark.", "rubricScores")
            return None, None
        worth = {c["name"].lower(): c for c in rubric}
        given: dict[str, int] = {}
        for i, score in enumerate(grading.scores):
            criterion = worth.get(score.criterion.strip().lower())
            if criterion is None:
                problems.add("UNKNOWN_CRITERION", f"No criterion {score.criterion!r}.",
                             ("rubricScores", str(i), "criterion"))  # fmt: skip
            elif not 0 <= score.points <= criterion["points"]:
                problems.add(
                    "OUT_OF_RANGE",
                    f"{criterion['name']} is scored 0 to {criterion['points']}.",
                    ("rubricScores", str(i), "points"),
                )
            elif criterion["name"] in given:
                problems.add("DUPLICATE", f"{criterion['name']} is scored twice.",
                             ("rubricScores", str(i), "criterion"))  # fmt: skip
            else:
                given[criterion["name"]] = score.points
        missing = [c["name"] for c in rubric if c["name"] not in given]
        if missing and not problems.items:
            problems.add("REQUIRED", f"Score every criterion (missing: {', '.join(missing)}).",
                         "rubricScores")  # fmt: skip
        total = sum(given.values())
        if grading.mark is not None and grading.mark != total:
            problems.add("RUBRIC_MISMATCH", f"The scores add up to {total}, not {grading.mark}.",
                         "mark")  # fmt: skip
        stored = [{"criterion": c["name"], "points": given.get(c["name"], 0)} for c in rubric]
        return total, stored
    if grading.mark is None:
        return None, None
    if not 0 <= grading.mark <= assignment.max_points:
        problems.add("OUT_OF_RANGE", f"A mark is 0 to {assignment.max_points}.", "mark")
        return None, None
    if rubric:
        problems.add("RUBRIC_REQUIRED", "This assignment has a rubric: score its criteria.",
                     "rubricScores")  # fmt: skip
    return grading.mark, None


def _told(assignment: Assignment, submission: Submission) -> Event:
    if submission.status == "returned":
        due = submission.revision_due_at
        title = f"Revise your work: {assignment.title}"
        body = f"Hand it in again by {due:%Y-%m-%d %H:%M} UTC." if due else ""
    else:
        title = f"Graded: {assignment.title}"
        body = f"{submission.mark} of {assignment.max_points}."
    feedback = f"\n\n{submission.feedback}" if submission.feedback else ""
    return Event(kind="grade", title=title, body=body + feedback, subject_type="Submission",
                 subject_id=submission.id)  # fmt: skip


async def keep_version(uow: UnitOfWork, submission: Submission) -> None:
    """Keep the version being replaced by a resubmission, as it was handed in and graded."""
    uow.session.add(
        SubmissionVersion(
            submission_id=submission.id, version=submission.version,
            submitted_at=submission.submitted_at, late=submission.late,
            content=submission.content, file_id=submission.file_id, mark=submission.mark,
            rubric_scores=submission.rubric_scores, feedback=submission.feedback,
            graded_by_id=submission.graded_by_id, graded_at=submission.graded_at,
            returned=submission.status == "returned",
        )
    )  # fmt: skip
    await uow.session.flush()


async def history(uow: UnitOfWork, submission_id: int) -> list[SubmissionVersion]:
    found = await uow.session.execute(
        select(SubmissionVersion)
        .where(SubmissionVersion.submission_id == submission_id)
        .order_by(SubmissionVersion.version)
    )
    return list(found.scalars())


async def may_read_file(db: Reader, viewer: Viewer, file_id: int) -> bool:
    """Whether the viewer may still read work handed in with this file (its student, their
    mentors in the mission, staff who see every enrolment): checked again each time a
    link to it is used, so a link outlives no one's access."""
    current = select(Submission.enrollment_id).where(Submission.file_id == file_id)
    earlier = (
        select(Submission.enrollment_id)
        .join(SubmissionVersion, SubmissionVersion.submission_id == Submission.id)
        .where(SubmissionVersion.file_id == file_id)
    )
    query = select(Enrollment.id).where(Enrollment.id.in_(current.union_all(earlier)))
    visible = access.visible_enrollments(viewer)
    if visible is not None:
        query = query.where(visible)
    async with db.connect() as conn:
        return (await conn.execute(query.limit(1))).first() is not None
