"""Assessments of a topic (a quiz, a practical, a project) marked out of ``max_marks``, and
each student's marks in them.

Academics managers and the faculty leading an offering of the topic's subject create them;
marks are recorded (upserted per student) by whoever may record the students' progress
(``access.require_may_record``). An assessment is seen by those who read progress in its
subject (cohort staff, its faculty, the mentors and the students it is taught to); a
student sees only their own marks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import exists, false, or_, select

from alumnet.domain.academics import access
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.mentoring import mentors_enrollment
from alumnet.persistence.models import Assessment, AssessmentMark, Enrollment, SubjectOffering
from alumnet.persistence.uow import UnitOfWork

KINDS = ("quiz", "practical", "project")
TITLE_MAX = 200
MAX_MARKS = 10_000
ENTRIES_MAX = 500
NOTE_MAX = 2000


@dataclass(frozen=True)
class AssessmentFields:
    topic_id: int
    kind: str
    title: str
    max_marks: float
    held_on: date | None = None


@dataclass(frozen=True)
class MarkEntry:
    """One student's marks, as given (``student_id`` -1: names nobody)."""

    student_id: int
    marks: float
    note: str | None = None


def leads(viewer: Viewer, subject_id: Any) -> Any:
    """SQL: the viewer leads an offering of this subject (and still teaches)."""
    if not viewer.can(Permission.ACADEMICS_TEACH) or viewer.user_id is None:
        return false()
    return exists(
        select(SubjectOffering.id).where(
            SubjectOffering.subject_id == subject_id, SubjectOffering.faculty_id == viewer.user_id
        )
    )


def readable(viewer: Viewer) -> Any:
    """SQL: the assessments the viewer may see (None: all): those of subjects whose
    progress they read for some student (they teach or mentor it, or take it)."""
    if access.reads_everything(viewer):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    taught = access.taught_enrollments(Assessment.subject_id).where(
        or_(Enrollment.student_id == me, mentors_enrollment(me))
    )
    return or_(leads(viewer, Assessment.subject_id), exists(taught))


def marks_readable(viewer: Viewer) -> Any:
    """SQL over ``AssessmentMark`` joined to its ``Assessment``: the marks the viewer may
    read (None: all), as the students' progress."""
    return access.readable_progress(viewer, AssessmentMark.student_id, Assessment.subject_id)


async def may_create(uow: UnitOfWork, viewer: Viewer, subject_id: int) -> bool:
    if access.manages(viewer):
        return True
    found = await uow.session.execute(select(leads(viewer, subject_id)))
    return bool(found.scalar())


async def create(uow: UnitOfWork, viewer: Viewer, given: AssessmentFields) -> Assessment:
    """A new assessment of a topic (academics managers, or the faculty leading an offering
    of its subject). Safe to retry: one of the topic with the same kind, title, maximum and
    date is returned as it is, and nothing is written."""
    me = viewer.require_user()
    problems = Problems()
    if given.kind not in KINDS:
        problems.add("INVALID", "An assessment is a quiz, a practical or a project.", "kind")
    title = check_label(problems, given.title, field="title", max_length=TITLE_MAX,
                        label="A title", min_length=1)  # fmt: skip
    if not math.isfinite(given.max_marks) or not 0 < given.max_marks <= MAX_MARKS:
        problems.add("OUT_OF_RANGE", f"The maximum marks are more than 0, at most {MAX_MARKS}.",
                     "maxMarks")  # fmt: skip
    problems.raise_if_any()
    subject_id = await access.subject_of_topic(uow.session, given.topic_id, "topicId")
    if not await may_create(uow, viewer, subject_id):
        raise DomainError.of(
            "NOT_ALLOWED",
            "Only academics managers and the subject's faculty create its assessments.",
            "topicId",
        )
    a = Assessment
    same = await uow.session.execute(
        select(a).where(
            a.topic_id == given.topic_id, a.kind == given.kind, a.title == title,
            a.max_marks == float(given.max_marks),
            a.held_on.is_(None) if given.held_on is None else a.held_on == given.held_on,
        ).limit(1)
    )  # fmt: skip
    found = same.scalar_one_or_none()
    if found is not None:
        return found
    assessment = Assessment(
        topic_id=given.topic_id, subject_id=subject_id, kind=given.kind, title=title,
        max_marks=float(given.max_marks), held_on=given.held_on, created_by_id=me,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(assessment)
    await uow.session.flush()
    audit.record(uow, "assessment.create", object_type="Assessment", object_ids=[assessment.id],
                 details={"topic": given.topic_id, "kind": given.kind})  # fmt: skip
    return assessment


def _check_entries(
    problems: Problems, entries: Sequence[MarkEntry], maximum: float
) -> list[MarkEntry]:
    if not 1 <= len(entries) <= ENTRIES_MAX:
        problems.add("INVALID", f"Give 1 to {ENTRIES_MAX} entries.", "entries")
        return []
    seen: set[int] = set()
    cleaned = []
    for n, entry in enumerate(entries):
        where = ("entries", str(n))
        if entry.student_id < 0:
            problems.add("NOT_FOUND", "No such student.", (*where, "studentId"))
        elif entry.student_id in seen:
            problems.add("DUPLICATE", "This student is given twice.", (*where, "studentId"))
        seen.add(entry.student_id)
        if not math.isfinite(entry.marks) or entry.marks < 0:
            problems.add("OUT_OF_RANGE", "Marks are 0 or more.", (*where, "marks"))
        elif entry.marks > maximum:
            problems.add("MARKS_ABOVE_MAXIMUM",
                         f"Marks are at most the assessment's maximum, {maximum:g}.",
                         (*where, "marks"))  # fmt: skip
        note = check_text(problems, entry.note, field=(*where, "note"), max_length=NOTE_MAX,
                          label="A note")  # fmt: skip
        cleaned.append(MarkEntry(entry.student_id, float(entry.marks), note or None))
    return cleaned


async def record_marks(
    uow: UnitOfWork, viewer: Viewer, assessment_id: int, entries: Sequence[MarkEntry]
) -> tuple[Assessment, list[AssessmentMark]]:
    """Record students' marks in an assessment, all or nothing (one mark per student:
    recorded again, it is replaced); the assessment and the marks in the entries' order.
    The same values again change nothing."""
    me = viewer.require_user()
    session = uow.session
    assessment = await session.get(Assessment, assessment_id)
    if assessment is None:
        raise DomainError.of("NOT_FOUND", "No such assessment.", "assessmentId")
    problems = Problems()
    given = _check_entries(problems, entries, float(assessment.max_marks))
    problems.raise_if_any()
    ids = [e.student_id for e in given]
    await access.require_may_record(session, viewer, assessment.subject_id, ids, "entries")
    found = {
        mark.student_id: mark
        for mark in (
            await session.execute(
                select(AssessmentMark).where(
                    AssessmentMark.assessment_id == assessment_id,
                    AssessmentMark.student_id.in_(ids),
                )
            )
        ).scalars()
    }
    moment = datetime.now(UTC)
    marks: list[AssessmentMark] = []
    changed: list[int] = []
    for entry in given:
        mark = found.get(entry.student_id)
        if mark is not None and (mark.marks, mark.note) == (entry.marks, entry.note):
            marks.append(mark)
            continue
        if mark is None:
            mark = AssessmentMark(assessment_id=assessment_id, student_id=entry.student_id)
            session.add(mark)
        mark.marks = entry.marks
        mark.note = entry.note
        mark.recorded_by_id = me
        mark.recorded_at = moment
        changed.append(entry.student_id)
        marks.append(mark)
    if changed:
        await session.flush()
        audit.record(uow, "assessment.marks_record", object_type="Assessment",
                     object_ids=[assessment_id],
                     details={"students": changed[:50], "count": len(changed)})  # fmt: skip
    return assessment, marks
