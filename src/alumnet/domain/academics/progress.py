"""Topic progress: where each student stands on each topic of a subject (not started, in
progress, completed, needs revision), with a competency level (1 to 5) and a note, recorded
by the subject's faculty, the student's mentor or academics managers (``access``).

A subject's progress table is computed in SQL, one row per student, by one grouped
statement over ``topic_progress`` (its index on subject and student): counts per status,
the average competency recorded, the velocity (topics completed in the last 28 days, per
week), and the plan's expectation. The plan of an offering expects its topics done in order,
evenly by their estimated minutes, from ``starts_on`` to ``ends_on``: by today, the topics
whose cumulative minutes fit in the share of that span that has passed. A student is
behind when they completed fewer topics than that. A student covered by two offerings (one
to their mission, one to its batch) is held to the more advanced plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select

from alumnet.domain.academics import access
from alumnet.domain.cohorts import roster
from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.errors import Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.models import (
    Enrollment,
    Mission,
    Subject,
    SubjectOffering,
    Topic,
    TopicProgress,
    User,
)
from alumnet.persistence.models.base import utcnow
from alumnet.persistence.uow import UnitOfWork

STATUSES = ("not_started", "in_progress", "completed", "needs_revision")
ENTRIES_MAX = 500
NOTE_MAX = 2000
COMPETENCY = (1, 5)
# Velocity: topics completed over this many days, per week.
VELOCITY_DAYS = 28
TOPICS_MAX = 1000
# A student's subjects (myAcademicProgress) at most.
SUBJECTS_MAX = 200


@dataclass(frozen=True)
class ProgressEntry:
    """One student's standing on the topic, as given (``student_id`` -1: names nobody)."""

    student_id: int
    status: str
    competency: int | None = None
    note: str | None = None


# The current time, aware UTC (the models' own clock).
now = utcnow


def today() -> date:
    return now().date()


def _check_entries(problems: Problems, entries: Sequence[ProgressEntry]) -> list[ProgressEntry]:
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
        if entry.status not in STATUSES:
            problems.add("INVALID", "Unknown status.", (*where, "status"))
        low, high = COMPETENCY
        if entry.competency is not None and not low <= entry.competency <= high:
            problems.add("OUT_OF_RANGE", f"A competency level is {low} to {high}.",
                         (*where, "competency"))  # fmt: skip
        note = check_text(problems, entry.note, field=(*where, "note"), max_length=NOTE_MAX,
                          label="A note")  # fmt: skip
        cleaned.append(
            ProgressEntry(entry.student_id, entry.status, entry.competency, note or None)
        )
    return cleaned


async def record(
    uow: UnitOfWork, viewer: Viewer, topic_id: int, entries: Sequence[ProgressEntry]
) -> list[TopicProgress]:
    """Record where these students stand on a topic, all or nothing; the rows, in the
    entries' order. The same values again change nothing (nor ``updatedAt``).

    ``started_at`` is set the first time a status other than not_started is recorded and
    kept; ``completed_at`` is set when a topic becomes completed and cleared by any other
    status."""
    me = viewer.require_user()
    problems = Problems()
    given = _check_entries(problems, entries)
    problems.raise_if_any()
    session = uow.session
    subject_id = await access.subject_of_topic(session, topic_id, "topicId")
    ids = [e.student_id for e in given]
    await access.require_may_record(session, viewer, subject_id, ids, "entries")
    found = {
        row.student_id: row
        for row in (
            await session.execute(
                select(TopicProgress).where(
                    TopicProgress.topic_id == topic_id, TopicProgress.student_id.in_(ids)
                )
            )
        ).scalars()
    }
    moment = now()
    rows: list[TopicProgress] = []
    changed: list[int] = []
    for entry in given:
        row = found.get(entry.student_id)
        if row is None:
            row = TopicProgress(
                student_id=entry.student_id, topic_id=topic_id, subject_id=subject_id,
                status="not_started", competency=None, note=None, started_at=None,
                completed_at=None,
            )  # fmt: skip
            session.add(row)
        elif (row.status, row.competency, row.note) == (entry.status, entry.competency,
                                                        entry.note):  # fmt: skip
            rows.append(row)
            continue
        if entry.status != "not_started" and row.started_at is None:
            row.started_at = moment
        if entry.status == "completed":
            if row.status != "completed" or row.completed_at is None:
                row.completed_at = moment
        else:
            row.completed_at = None
        row.status = entry.status
        row.competency = entry.competency
        row.note = entry.note
        row.recorded_by_id = me
        row.updated_at = moment
        changed.append(entry.student_id)
        rows.append(row)
    if changed:
        await session.flush()
        audit.record(uow, "topic_progress.record", object_type="Topic", object_ids=[topic_id],
                     details={"students": changed[:50], "count": len(changed)})  # fmt: skip
    return rows


def readable(viewer: Viewer) -> Any:
    """SQL: the topic progress rows the viewer may read (None: all)."""
    return access.readable_progress(viewer, TopicProgress.student_id, TopicProgress.subject_id)


async def may_read(conn: Any, viewer: Viewer, student_id: int, subject_id: int) -> bool:
    """Whether the viewer may read this student's progress in this subject (who teaches,
    mentors or manages it, cohort staff, and the student themselves if it is theirs)."""
    if not viewer.is_authenticated:
        return False
    students = access.readable_students(viewer, subject_id)
    if students is None:
        return True
    wanted = students.subquery()
    found = await conn.execute(
        select(literal(1)).select_from(wanted).where(wanted.c.student_id == student_id).limit(1)
    )
    return found.first() is not None


def topics_of(subject_id: int, student_id: int) -> Any:
    """Every topic of the subject in order, with the student's progress row on it (its
    columns null where there is none)."""
    tp = TopicProgress
    return (
        select(
            Topic.id.label("topic_id"), Topic.code, Topic.title, Topic.position,
            Topic.estimated_minutes, Topic.subject_id, tp.id, tp.student_id, tp.status,
            tp.competency, tp.note, tp.started_at, tp.completed_at, tp.updated_at,
            tp.recorded_by_id,
        )
        .outerjoin(tp, and_(tp.topic_id == Topic.id, tp.student_id == student_id))
        .where(Topic.subject_id == subject_id)
        .order_by(Topic.position, Topic.id)
        .limit(TOPICS_MAX)
    )  # fmt: skip


# The progress table.


@dataclass
class SubjectPlan:
    """A subject's topics and, per offering, how many of them its plan expects done."""

    subject_id: int
    topics: int = 0
    minutes: list[int] = field(default_factory=list)
    expected: dict[int, int] = field(default_factory=dict)


def expected_done(minutes: Sequence[int], starts_on: date, ends_on: date, on: date) -> int:
    """How many topics (of these estimated minutes, in order) the plan expects done on
    ``on``: those whose cumulative minutes fit in the share of ``starts_on`` to ``ends_on``
    that has passed (evenly by count when no topic has an estimate)."""
    count = len(minutes)
    if on < starts_on:
        return 0
    span = (ends_on - starts_on).days
    if on >= ends_on or span <= 0:
        return count
    passed = (on - starts_on).days
    total = sum(max(m, 0) for m in minutes)
    if total == 0:
        return count * passed // span
    done, cumulative = 0, 0
    for m in minutes:
        cumulative += max(m, 0)
        # cumulative / total <= passed / span, in integers.
        if cumulative * span > passed * total:
            break
        done += 1
    return done


async def plans_of(conn: Any, subject_ids: Sequence[int], on: date) -> dict[int, SubjectPlan]:
    """The plans of these subjects: two statements, whatever their number."""
    plans = {s: SubjectPlan(subject_id=s) for s in subject_ids}
    if not plans:
        return plans
    topics = await conn.execute(
        select(Topic.subject_id, Topic.estimated_minutes)
        .where(Topic.subject_id.in_(list(plans)))
        .order_by(Topic.subject_id, Topic.position, Topic.id)
    )
    for subject_id, minutes in topics.all():
        plan = plans[int(subject_id)]
        plan.topics += 1
        plan.minutes.append(int(minutes or 0))
    offerings = await conn.execute(
        select(SubjectOffering.id, SubjectOffering.subject_id, SubjectOffering.starts_on,
               SubjectOffering.ends_on)
        .where(SubjectOffering.subject_id.in_(list(plans)))
    )  # fmt: skip
    for offering_id, subject_id, starts_on, ends_on in offerings.all():
        plan = plans[int(subject_id)]
        plan.expected[int(offering_id)] = expected_done(plan.minutes, starts_on, ends_on, on)
    return plans


@dataclass(frozen=True)
class TableScope:
    """Whose rows: the students taking part in a mission, or in a batch's missions (or
    ``student_id``: one student's, in each subject)."""

    mission_id: int | None = None
    batch_id: int | None = None
    student_id: int | None = None
    search: str | None = None
    behind_only: bool = False


def _per_offering(plans: dict[int, SubjectPlan]) -> Any:
    expected = {o: n for plan in plans.values() for o, n in plan.expected.items()}
    if not expected:
        return literal(0)
    return case(expected, value=SubjectOffering.id, else_=0)


def _per_subject(column: Any, values: dict[int, int]) -> Any:
    if len(values) == 1:
        return literal(next(iter(values.values())))
    return case(values, value=column, else_=0)


def table(viewer: Viewer, plans: dict[int, SubjectPlan], scope: TableScope, at: datetime) -> Any:
    """The progress table of these subjects as one SELECT (unordered; a subquery's columns:
    student_id, subject_id, subject_name, name, email, topics, completed, in_progress,
    needs_revision, not_started, percent, recent, velocity, expected, behind, deficit,
    average_competency, last_recorded_at): one row per student and subject among those the
    scope names whose progress the viewer may read. Students are given none of others (nor
    their own, but through ``scope.student_id``)."""
    subjects = list(plans)
    conditions: list[Any] = [SubjectOffering.subject_id.in_(subjects), taking_part()]
    if scope.mission_id is not None:
        conditions.append(Enrollment.mission_id == scope.mission_id)
    if scope.batch_id is not None:
        conditions.append(Mission.batch_id == scope.batch_id)
    if scope.student_id is not None:
        conditions.append(Enrollment.student_id == scope.student_id)
    if not access.reads_everything(viewer):
        # Per subject: those the viewer teaches or mentors in it (or themselves, when asked).
        allowed = []
        for subject_id in subjects:
            taught = access.students_taught(viewer, subject_id)
            allowed.append(
                and_(SubjectOffering.subject_id == subject_id, Enrollment.student_id.in_(taught))
            )
        if scope.student_id is not None and scope.student_id == viewer.user_id:
            allowed = [literal(True)]
        conditions.append(allowed[0] if len(allowed) == 1 else or_(*allowed))
    people = (
        select(Enrollment.student_id.label("student_id"),
               SubjectOffering.subject_id.label("subject_id"),
               func.max(_per_offering(plans)).label("expected"))
        .join(Mission, Mission.id == Enrollment.mission_id)
        .join(SubjectOffering, access.covers_mission())
        .where(*conditions)
        .group_by(Enrollment.student_id, SubjectOffering.subject_id)
    )  # fmt: skip
    if scope.search:
        people = people.join(User, User.id == Enrollment.student_id).where(
            *roster.enrollment_conditions((), scope.search)
        )
    who = people.subquery("people")
    tp = TopicProgress
    since = at - timedelta(days=VELOCITY_DAYS)
    # Grouped first, then joined to the students: the subject's rows in one pass, narrowed
    # to the scope's students by a semi-join on enrolments (which PostgreSQL hashes; one on
    # the students above would be estimated small and probe the index once per student).
    narrowed: list[Any] = [tp.subject_id.in_(subjects)]
    if scope.student_id is not None:
        narrowed.append(tp.student_id == scope.student_id)
    elif scope.mission_id is not None:
        enrolled = select(Enrollment.student_id).where(Enrollment.mission_id == scope.mission_id)
        narrowed.append(tp.student_id.in_(enrolled))
    elif scope.batch_id is not None:
        enrolled = (
            select(Enrollment.student_id)
            .join(Mission, Mission.id == Enrollment.mission_id)
            .where(Mission.batch_id == scope.batch_id)
        )
        narrowed.append(tp.student_id.in_(enrolled))
    grouped = (
        select(
            tp.subject_id, tp.student_id,
            func.count().filter(tp.status == "completed").label("completed"),
            func.count().filter(tp.status == "in_progress").label("in_progress"),
            func.count().filter(tp.status == "needs_revision").label("needs_revision"),
            func.count().filter(tp.status == "completed", tp.completed_at >= since)
            .label("recent"),
            func.avg(tp.competency).label("average_competency"),
            func.max(tp.updated_at).label("last_recorded_at"),
        )
        .where(*narrowed)
        .group_by(tp.subject_id, tp.student_id)
        .subquery("grouped")
    )  # fmt: skip
    g = grouped.c
    agg = (
        select(
            who.c.student_id, who.c.subject_id, who.c.expected,
            func.coalesce(g.completed, 0).label("completed"),
            func.coalesce(g.in_progress, 0).label("in_progress"),
            func.coalesce(g.needs_revision, 0).label("needs_revision"),
            func.coalesce(g.recent, 0).label("recent"),
            g.average_competency, g.last_recorded_at,
        )
        .select_from(who)
        .outerjoin(grouped, and_(g.student_id == who.c.student_id,
                                 g.subject_id == who.c.subject_id))
        .subquery("agg")
    )  # fmt: skip
    topics = _per_subject(agg.c.subject_id, {s: p.topics for s, p in plans.items()})
    completed, in_progress = agg.c.completed, agg.c.in_progress
    revision, recent = agg.c.needs_revision, agg.c.recent
    percent = case((topics > 0, cast(completed, Float) * 100.0 / topics), else_=literal(0.0, Float))
    inner = (
        select(
            agg.c.student_id, agg.c.subject_id, Subject.name.label("subject_name"),
            User.name.label("name"), User.email.label("email"), topics.label("topics"),
            completed.label("completed"), in_progress.label("in_progress"),
            revision.label("needs_revision"),
            (topics - completed - in_progress - revision).label("not_started"),
            cast(percent, Float).label("percent"), recent.label("recent"),
            cast(cast(recent, Float) * 7.0 / VELOCITY_DAYS, Float).label("velocity"),
            agg.c.expected.label("expected"),
            (completed < agg.c.expected).label("behind"),
            (agg.c.expected - completed).label("deficit"),
            cast(agg.c.average_competency, Float).label("average_competency"),
            agg.c.last_recorded_at.label("last_recorded_at"),
        )
        .join(User, User.id == agg.c.student_id)
        .join(Subject, Subject.id == agg.c.subject_id)
        .subquery("progress")
    )  # fmt: skip
    query = select(inner)
    if scope.behind_only:
        query = query.where(inner.c.completed < inner.c.expected)
    return query


def forecast(topics: int, completed: int, velocity: float, on: date) -> date | None:
    """When the student should be done at their velocity (topics a week): today plus the
    remaining topics' weeks; None when done or when their velocity is zero."""
    remaining = topics - completed
    if remaining <= 0 or velocity <= 0:
        return None
    return on + timedelta(days=math.ceil(remaining / velocity * 7))


async def subjects_of_student(conn: Any, student_id: int) -> list[int]:
    """The subjects offered to the missions this student takes part in (at most
    ``SUBJECTS_MAX``), by name."""
    found = await conn.execute(
        select(SubjectOffering.subject_id)
        .join(Mission, access.covers_mission())
        .join(Enrollment, Enrollment.mission_id == Mission.id)
        .join(Subject, Subject.id == SubjectOffering.subject_id)
        .where(Enrollment.student_id == student_id, taking_part())
        .group_by(SubjectOffering.subject_id, Subject.name)
        .order_by(Subject.name, SubjectOffering.subject_id)
        .limit(SUBJECTS_MAX)
    )
    return [int(s) for s in found.scalars()]
