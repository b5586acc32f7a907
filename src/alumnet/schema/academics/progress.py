"""Academics: topic progress per student, assessments and marks, a subject's progress table
(velocity, forecast, behind the plan), and a student's progress."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import func, select
from strawberry import relay

from alumnet.domain.academics import assessments, progress
from alumnet.domain.errors import DomainError
from alumnet.persistence.models import Assessment as AssessmentModel
from alumnet.persistence.models import AssessmentMark as MarkModel
from alumnet.persistence.models import TopicProgress as ProgressModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, bad_input, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import (
    global_pk,
    int_ids,
    optional_gid,
    optional_pk,
    readable_rows,
    user_names,
    visible_user,
)
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
TYPE = "TopicProgress"
ASSESSMENT = "Assessment"
MARK = "AssessmentMark"


def _moment(value: Any) -> datetime | None:
    return value if value is None or isinstance(value, datetime) else datetime.fromisoformat(value)


async def _recorder_name(info: Info, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return await reads_loader(info, ("academics", "user_names"), user_names).load(user_id)  # type: ignore[no-any-return]


@strawberry.enum(description="Where a student stands on a topic.")
class TopicProgressStatus(Enum):
    NOT_STARTED = ev("not_started", description="Not begun (also: nothing recorded yet).")
    IN_PROGRESS = ev("in_progress", description="Being worked on.")
    COMPLETED = ev("completed", description="Done.")
    NEEDS_REVISION = ev(
        "needs_revision", description="Done before, but to be gone over again (not completed)."
    )


@strawberry.type(
    description="Where one student stands on one topic, as last recorded by the subject's "
    "faculty, the student's mentor or an academics manager. Seen by those who read the "
    "student's progress in the subject (cohort staff, its faculty, the student's mentors) "
    "and by the student."
)
class TopicProgress(relay.Node):
    id: relay.NodeID[int]
    topic_id: relay.GlobalID = strawberry.field(description="The `Topic`.")
    subject_id: relay.GlobalID = strawberry.field(description="The topic's `Subject`.")
    status: TopicProgressStatus = strawberry.field(description="Where the student stands.")
    competency: int | None = strawberry.field(
        description="The competency level shown, 1 (lowest) to 5; null if not assessed."
    )
    note: str | None = strawberry.field(description="The recorder's note (at most 2,000).")
    started_at: datetime | None = strawberry.field(
        description="When a status other than NOT_STARTED was first recorded (UTC)."
    )
    completed_at: datetime | None = strawberry.field(
        description="When it was last marked COMPLETED (UTC); null unless COMPLETED."
    )
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, topic_id=relay.GlobalID("Topic", str(row.topic_id)),
            subject_id=relay.GlobalID("Subject", str(row.subject_id)),
            status=TopicProgressStatus(row.status), competency=row.competency, note=row.note,
            started_at=row.started_at, completed_at=row.completed_at,
            updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        where = progress.readable(info.context.viewer)
        found = await readable_rows(info, ProgressModel.__table__, ids, where)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The student (if you may see them).")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.student_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The name of who recorded it last; null if unknown.")
    async def recorded_by_name(self, info: Info) -> str | None:
        return await _recorder_name(info, self._row.recorded_by_id)


@strawberry.type(
    description="A student's standing on one topic of a subject: the recorded progress, or "
    "NOT_STARTED when nothing was recorded."
)
class TopicStanding:
    topic_id: relay.GlobalID = strawberry.field(description="The `Topic`.")
    topic_code: str = strawberry.field(description="The topic's code within its subject.")
    topic_title: str = strawberry.field(description="The topic's title.")
    position: int = strawberry.field(description="The topic's place in the subject (ascending).")
    estimated_minutes: int = strawberry.field(description="The topic's estimated time, minutes.")
    progress_id: relay.GlobalID | None = strawberry.field(
        description="The `TopicProgress` recorded; null when nothing was."
    )
    status: TopicProgressStatus = strawberry.field(description="Where the student stands.")
    competency: int | None = strawberry.field(description="Competency level, 1 to 5, if any.")
    note: str | None = strawberry.field(description="The recorder's note.")
    started_at: datetime | None = strawberry.field(description="First started (UTC).")
    completed_at: datetime | None = strawberry.field(description="Last completed (UTC).")
    updated_at: datetime | None = strawberry.field(description="Last changed (UTC).")
    _recorded_by: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            topic_id=relay.GlobalID("Topic", str(row.topic_id)), topic_code=row.code,
            topic_title=row.title, position=row.position,
            estimated_minutes=row.estimated_minutes or 0, progress_id=optional_gid(TYPE, row.id),
            status=TopicProgressStatus(row.status or "not_started"),
            competency=row.competency, note=row.note, started_at=row.started_at,
            completed_at=row.completed_at, updated_at=row.updated_at,
            _recorded_by=row.recorded_by_id,
        )  # fmt: skip

    @strawberry.field(description="The name of who recorded it last; null if nobody did.")
    async def recorded_by_name(self, info: Info) -> str | None:
        return await _recorder_name(info, self._recorded_by)


async def _mark_figures(reads: Any, keys: Sequence[tuple[int, int]]) -> list[float | None]:
    """Per (student, subject): their marks over the maximum marks of the assessments they
    were marked in, as a percentage."""
    students = sorted({s for s, _ in keys})
    subjects = sorted({s for _, s in keys})
    a, m = AssessmentModel, MarkModel
    query = (
        select(m.student_id, a.subject_id, func.sum(m.marks), func.sum(a.max_marks))
        .join(a, a.id == m.assessment_id)
        .where(m.student_id.in_(students), a.subject_id.in_(subjects))
        .group_by(m.student_id, a.subject_id)
    )
    async with reads.connect() as conn:
        found = {
            (int(st), int(su)): (float(got) * 100.0 / float(out) if out else None)
            for st, su, got, out in (await conn.execute(query)).all()
        }
    return [found.get(k) for k in keys]


@strawberry.type(
    description="One student's progress in one subject: counts of topics by status, "
    "velocity, forecast and where they stand against the plan of the offering that covers "
    "them (its topics done in order, evenly by estimated time, from its start to its end)."
)
class StudentSubjectProgress:
    subject_id: relay.GlobalID = strawberry.field(description="The `Subject`.")
    subject_name: str = strawberry.field(description="The subject's name.")
    topics: int = strawberry.field(description="Topics in the subject.")
    completed: int = strawberry.field(description="Topics COMPLETED.")
    in_progress: int = strawberry.field(description="Topics IN_PROGRESS.")
    needs_revision: int = strawberry.field(description="Topics NEEDS_REVISION.")
    not_started: int = strawberry.field(
        description="Topics NOT_STARTED (or with nothing recorded)."
    )
    percent_complete: float = strawberry.field(
        description="Completed topics over all topics, 0 to 100."
    )
    average_competency: float | None = strawberry.field(
        description="The average competency level recorded (1 to 5); null if none was."
    )
    velocity: float = strawberry.field(
        description="Topics completed per week over the last 28 days (those completed then "
        "and still completed)."
    )
    forecast_completion: date | None = strawberry.field(
        description="When the student should complete the subject at their velocity: today "
        "(UTC) plus the remaining topics over the velocity, in weeks; null when done or when "
        "the velocity is 0."
    )
    expected_completed: int = strawberry.field(
        description="Topics the plan expects done by today (UTC): in topic order, those whose "
        "cumulative estimated minutes fit in the share of the offering's span (its start to "
        "its end) that has passed."
    )
    behind: bool = strawberry.field(
        description="Whether the student completed fewer topics than the plan expects."
    )
    last_recorded_at: datetime | None = strawberry.field(
        description="When any of their progress in the subject last changed (UTC)."
    )
    _student_id: strawberry.Private[int]
    _subject_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any, on: date) -> Self:
        velocity = float(row.velocity or 0.0)
        return cls(
            subject_id=relay.GlobalID("Subject", str(row.subject_id)),
            subject_name=row.subject_name, topics=int(row.topics),
            completed=int(row.completed), in_progress=int(row.in_progress),
            needs_revision=int(row.needs_revision), not_started=max(int(row.not_started), 0),
            percent_complete=round(float(row.percent or 0.0), 4),
            average_competency=(
                round(float(row.average_competency), 4)
                if row.average_competency is not None else None
            ),
            velocity=round(velocity, 4),
            forecast_completion=progress.forecast(int(row.topics), int(row.completed),
                                                  velocity, on),
            expected_completed=int(row.expected), behind=bool(row.behind),
            last_recorded_at=_moment(row.last_recorded_at),
            _student_id=int(row.student_id), _subject_id=int(row.subject_id),
        )  # fmt: skip

    @strawberry.field(description="The student (if you may see them).")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._student_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Their marks over the maximum marks of the subject's assessments they "
        "were marked in, 0 to 100; null if they have no marks."
    )
    async def average_mark_percent(self, info: Info) -> float | None:
        loader = reads_loader(info, ("academics", "mark_figures"), _mark_figures)
        found = await loader.load((self._student_id, self._subject_id))
        return round(found, 4) if found is not None else None


@strawberry.type(description="Students' progress in a subject, a page at a time.")
class StudentSubjectProgressConnection(CountedConnection[StudentSubjectProgress]):  # type: ignore[type-var]
    pass


@strawberry.enum(description="What a subject's progress table can be sorted by.")
class SubjectProgressOrderField(Enum):
    NAME = ev("name", description="The student's name (natural: A first).")
    PERCENT = ev("percent", description="Percent complete (natural: most first).")
    VELOCITY = ev("velocity", description="Velocity (natural: fastest first).")
    BEHIND = ev(
        "behind",
        description="How many topics they are behind the plan (natural: most behind first; "
        "those ahead last).",
    )


@strawberry.input(description="How to sort a progress table; ties by name, then student.")
class SubjectProgressOrder:
    field: SubjectProgressOrderField = strawberry.field(
        default=SubjectProgressOrderField.NAME, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.input(description="Which students of a progress table.")
class SubjectProgressFilter:
    behind_only: bool = strawberry.field(
        default=False, description="True: only those behind the plan."
    )
    search: str | None = strawberry.field(
        default=None, description="Name or e-mail containing this (any case, at most 100)."
    )


@strawberry.enum(description="What kind of assessment.")
class AssessmentKind(Enum):
    QUIZ = ev("quiz", description="A quiz.")
    PRACTICAL = ev("practical", description="A practical exercise.")
    PROJECT = ev("project", description="A project.")


@strawberry.type(
    description="One student's marks in an assessment: seen by those who read the student's "
    "progress in its subject, and by the student."
)
class AssessmentMark(relay.Node):
    id: relay.NodeID[int]
    assessment_id: relay.GlobalID = strawberry.field(description="The `Assessment`.")
    marks: float = strawberry.field(description="The marks, 0 to the assessment's maxMarks.")
    note: str | None = strawberry.field(description="The marker's note.")
    recorded_at: datetime = strawberry.field(description="When last recorded (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, assessment_id=relay.GlobalID(ASSESSMENT, str(row.assessment_id)),
            marks=float(row.marks), note=row.note, recorded_at=row.recorded_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        wanted = [i for i in ids if i]
        viewer = info.context.viewer
        if not wanted or not viewer.is_authenticated:
            return [None for _ in ids]
        query = (
            select(*MarkModel.__table__.c)
            .join(AssessmentModel, AssessmentModel.id == MarkModel.assessment_id)
            .where(MarkModel.id.in_(wanted))
        )
        where = assessments.marks_readable(viewer)
        if where is not None:
            query = query.where(where)
        async with info.context.reads.connect() as conn:
            found = {row.id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The student (if you may see them).")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.student_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The name of who recorded it last.")
    async def recorded_by_name(self, info: Info) -> str | None:
        return await _recorder_name(info, self._row.recorded_by_id)


@strawberry.type(description="Marks, a page at a time.")
class AssessmentMarkConnection(CountedConnection[AssessmentMark]):
    pass


@strawberry.type(
    description="An assessment of a topic (a quiz, a practical or a project) marked out of "
    "`maxMarks`. Seen by those who read progress in its subject: cohort staff, its "
    "faculty, and the mentors and students it is taught to."
)
class Assessment(relay.Node):
    id: relay.NodeID[int]
    topic_id: relay.GlobalID = strawberry.field(description="The `Topic` it assesses.")
    subject_id: relay.GlobalID = strawberry.field(description="The topic's `Subject`.")
    kind: AssessmentKind = strawberry.field(description="Quiz, practical or project.")
    title: str = strawberry.field(description="Its title.")
    max_marks: float = strawberry.field(description="The maximum marks (more than 0, ≤ 10,000).")
    held_on: date | None = strawberry.field(description="The day it was held, if given.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, topic_id=relay.GlobalID("Topic", str(row.topic_id)),
            subject_id=relay.GlobalID("Subject", str(row.subject_id)),
            kind=AssessmentKind(row.kind), title=row.title, max_marks=float(row.max_marks),
            held_on=row.held_on, created_at=row.created_at,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        where = assessments.readable(info.context.viewer)
        found = await readable_rows(info, AssessmentModel.__table__, ids, where)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @relay.connection(
        AssessmentMarkConnection,
        description="Its marks that you may read (a student: their own), by student name.",
        max_results=1000,
    )
    def marks(self, info: Info) -> Iterable[AssessmentMark]:
        from alumnet.persistence.models import User as UserModel

        query = (
            select(*MarkModel.__table__.c, UserModel.name.label("student_name"))
            .join(AssessmentModel, AssessmentModel.id == MarkModel.assessment_id)
            .join(UserModel, UserModel.id == MarkModel.student_id)
        )
        where = assessments.marks_readable(info.context.viewer)
        if where is not None:
            query = query.where(where)
        sort = [SortKey(UserModel.name, attr="student_name"), SortKey(MarkModel.id)]
        return KeysetQuery(
            query, sort, AssessmentMark.from_row, info.context.reads,
            partition=(MarkModel.assessment_id, self.id), batch_key="Assessment.marks",
        )  # fmt: skip


@strawberry.type(description="Assessments, a page at a time.")
class AssessmentConnection(CountedConnection[Assessment]):
    pass


# Mutations.


@strawberry.enum(description="Why recording topic progress failed.")
class TopicProgressErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such topic or student.")
    NOT_ALLOWED = ev(
        "NOT_ALLOWED",
        description="Only the subject's faculty, the students' mentors and academics "
        "managers record their progress.",
    )
    OUTSIDE_MISSIONS = ev(
        "OUTSIDE_MISSIONS",
        description="The subject is not offered to a mission the student takes part in.",
    )
    DUPLICATE = ev("DUPLICATE", description="A student is given twice.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A competency level is not 1 to 5.")
    TOO_LONG = ev("TOO_LONG", description="A note is longer than 2,000 characters.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with recording topic progress.")
class TopicProgressError(UserError):
    code: TopicProgressErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The progress recorded, or why nothing was.")
class TopicProgressRecordPayload:
    progress: list[TopicProgress] = strawberry.field(
        description="Each student's progress on the topic, in the entries' order; empty on failure."
    )
    user_errors: list[TopicProgressError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="One student's standing on the topic.")
class TopicProgressEntryInput:
    student_id: relay.GlobalID = strawberry.field(description="The student (`User`).")
    status: TopicProgressStatus = strawberry.field(description="Where they stand.")
    competency: int | None = strawberry.field(
        default=None, description="Competency level, 1 to 5; null: none."
    )
    note: str | None = strawberry.field(default=None, description="A note (at most 2,000).")


@strawberry.input(description="Progress on a topic for one or more students.")
class TopicProgressRecordInput:
    topic_id: relay.GlobalID = strawberry.field(description="The `Topic`.")
    entries: list[TopicProgressEntryInput] = strawberry.field(
        description="1 to 500 entries, one per student: all are recorded, or none."
    )


@strawberry.enum(description="Why an assessment mutation failed.")
class AssessmentErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such topic, assessment or student.")
    NOT_ALLOWED = ev(
        "NOT_ALLOWED",
        description="Academics managers and the subject's faculty create assessments; they "
        "and the students' mentors record marks.",
    )
    OUTSIDE_MISSIONS = ev(
        "OUTSIDE_MISSIONS",
        description="The subject is not offered to a mission the student takes part in.",
    )
    MARKS_ABOVE_MAXIMUM = ev(
        "MARKS_ABOVE_MAXIMUM", description="Marks above the assessment's maximum marks."
    )
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE", description="Marks below 0, or maximum marks not in (0, 10000]."
    )
    DUPLICATE = ev("DUPLICATE", description="A student is given twice.")
    TOO_LONG = ev("TOO_LONG", description="A title or note is too long.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an assessment mutation's input.")
class AssessmentError(UserError):
    code: AssessmentErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The assessment, or why there is none.")
class AssessmentPayload:
    assessment: Assessment | None = strawberry.field(description="The assessment.")
    user_errors: list[AssessmentError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The marks recorded, or why none were.")
class AssessmentMarksPayload:
    assessment: Assessment | None = strawberry.field(description="The assessment.")
    marks: list[AssessmentMark] = strawberry.field(
        description="Each student's marks, in the entries' order; empty on failure."
    )
    user_errors: list[AssessmentError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new assessment.")
class AssessmentCreateInput:
    topic_id: relay.GlobalID = strawberry.field(description="The `Topic` it assesses.")
    kind: AssessmentKind = strawberry.field(description="Quiz, practical or project.")
    title: str = strawberry.field(description="Its title (1 to 200 characters).")
    max_marks: float = strawberry.field(description="The maximum marks: more than 0, ≤ 10,000.")
    held_on: date | None = strawberry.field(default=None, description="The day it is held.")


@strawberry.input(description="One student's marks.")
class AssessmentMarkEntryInput:
    student_id: relay.GlobalID = strawberry.field(description="The student (`User`).")
    marks: float = strawberry.field(description="0 to the assessment's maximum marks.")
    note: str | None = strawberry.field(default=None, description="A note (at most 2,000).")


@strawberry.input(description="Marks of one or more students in an assessment.")
class AssessmentMarksRecordInput:
    assessment_id: relay.GlobalID = strawberry.field(description="The `Assessment`.")
    entries: list[AssessmentMarkEntryInput] = strawberry.field(
        description="1 to 500 entries, one per student: all are recorded, or none. A "
        "student's marks recorded again replace the earlier ones."
    )


def _student_pk(gid: relay.GlobalID) -> int:
    pk = global_pk(gid, "User")
    return pk if pk is not None else -1


def _table_scope(
    mission_id: relay.GlobalID | None, batch_id: relay.GlobalID | None,
    given: SubjectProgressFilter | None,
) -> progress.TableScope:  # fmt: skip
    if mission_id is not None and batch_id is not None:
        raise bad_input("Give `missionId` or `batchId`, not both.")
    search = given.search if given is not None else None
    if search is not None and len(search) > 100:
        raise bad_input("`search` must be at most 100 characters.")
    return progress.TableScope(
        mission_id=optional_pk(mission_id, "Mission"), batch_id=optional_pk(batch_id, "Batch"),
        search=search or None, behind_only=bool(given and given.behind_only),
    )  # fmt: skip


def _table_sort(query: Any, order: SubjectProgressOrder | None) -> list[SortKey]:
    c = query.selected_columns
    chosen = order or SubjectProgressOrder()
    if chosen.field == SubjectProgressOrderField.NAME:
        down = descending(chosen.direction, SortDirection.ASC)
        return [SortKey(c.name, down), SortKey(c.student_id, down)]
    column = {
        SubjectProgressOrderField.PERCENT: c.percent,
        SubjectProgressOrderField.VELOCITY: c.velocity,
        SubjectProgressOrderField.BEHIND: c.deficit,
    }[chosen.field]
    down = descending(chosen.direction, SortDirection.DESC)
    return [SortKey(column, down), SortKey(c.name), SortKey(c.student_id)]


@strawberry.type
class TopicProgressQuery:
    @strawberry.field(
        description="A student's standing on every topic of a subject, in topic order "
        "(NOT_STARTED where nothing was recorded), for those who may read their progress in "
        "it (cohort staff, its faculty, their mentors, and the student); empty for others.",
        extensions=requires(),
    )
    async def topic_progress(
        self,
        info: Info,
        student_id: Annotated[relay.GlobalID, strawberry.argument(description="The `User`.")],
        subject_id: Annotated[relay.GlobalID, strawberry.argument(description="The `Subject`.")],
    ) -> list[TopicStanding]:
        student, subject = global_pk(student_id, "User"), global_pk(subject_id, "Subject")
        if student is None or subject is None:
            return []
        async with info.context.reads.connect() as conn:
            if not await progress.may_read(conn, info.context.viewer, student, subject):
                return []
            rows = (await conn.execute(progress.topics_of(subject, student))).all()
        return [TopicStanding.from_row(r) for r in rows]

    @relay.connection(
        StudentSubjectProgressConnection,
        description="A subject's progress table: one row per student taking part in a "
        "mission the subject is offered to (only `missionId`'s, or the missions of `batchId`, "
        "if given; not both) whose progress you may read: academics managers and cohort staff "
        "(`cohorts:read`, which FACULTY holds) all; other holders of `academics:teach` the "
        "students their offerings cover; mentors their mentees; students none (they have "
        "`myAcademicProgress`). By name unless `orderBy` says otherwise.",
        max_results=1000,
        extensions=requires(),
    )
    async def subject_progress(
        self,
        info: Info,
        subject_id: Annotated[relay.GlobalID, strawberry.argument(description="The `Subject`.")],
        mission_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only the students of this `Mission`."),
        ] = None,
        batch_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only the students of this `Batch`'s missions."),
        ] = None,
        filter: Annotated[
            SubjectProgressFilter | None, strawberry.argument(description="Which students.")
        ] = None,
        order_by: Annotated[
            SubjectProgressOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[StudentSubjectProgress]:
        scope = _table_scope(mission_id, batch_id, filter)
        subject = global_pk(subject_id, "Subject") or -1
        at = progress.now()
        on = at.date()
        async with info.context.reads.connect() as conn:
            plans = await progress.plans_of(conn, [subject], on)
        try:
            query = progress.table(info.context.viewer, plans, scope, at)
        except DomainError as exc:
            raise bad_input(exc.problems[0].message) from None
        return KeysetQuery(  # type: ignore[type-var]
            query, _table_sort(query, order_by),
            lambda row: StudentSubjectProgress.from_row(row, on), info.context.reads,
        )  # fmt: skip

    @strawberry.field(
        description="Your progress in each subject offered to the missions you take part in, "
        "by subject name (empty if you take part in none).",
        extensions=requires(),
    )
    async def my_academic_progress(self, info: Info) -> list[StudentSubjectProgress]:
        viewer = info.context.viewer
        me = viewer.user_id
        if me is None:
            return []
        at = progress.now()
        on = at.date()
        async with info.context.reads.connect() as conn:
            subjects = await progress.subjects_of_student(conn, me)
            if not subjects:
                return []
            plans = await progress.plans_of(conn, subjects, on)
            inner = progress.table(viewer, plans, progress.TableScope(student_id=me), at)
            c = inner.selected_columns
            rows = (await conn.execute(inner.order_by(c.subject_name, c.subject_id))).all()
        return [StudentSubjectProgress.from_row(r, on) for r in rows]

    @relay.connection(
        AssessmentConnection,
        description="A subject's assessments (of one topic, if given), the newest first, for "
        "those who read progress in the subject.",
        max_results=1000,
        extensions=requires(),
    )
    def assessments(
        self,
        info: Info,
        subject_id: Annotated[relay.GlobalID, strawberry.argument(description="The `Subject`.")],
        topic_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this `Topic`'s.")
        ] = None,
    ) -> Iterable[Assessment]:
        a = AssessmentModel
        query = select(a.__table__).where(a.subject_id == (global_pk(subject_id, "Subject") or -1))
        if topic_id is not None:
            query = query.where(a.topic_id == optional_pk(topic_id, "Topic"))
        where = assessments.readable(info.context.viewer)
        if where is not None:
            query = query.where(where)
        sort = [SortKey(a.id, descending=True)]
        return KeysetQuery(query, sort, Assessment.from_row, info.context.reads)


@strawberry.type
class TopicProgressMutation:
    @strawberry.mutation(
        extensions=requires(),
        description="Record where students stand on a topic (status, competency level 1 to 5, "
        "note): academics managers for anyone, the faculty leading an offering of the "
        "subject for the students it covers, mentors for their mentees. Each student must "
        "take part in a mission the subject is offered to. All or nothing; the same values "
        "again change nothing.",
    )
    async def topic_progress_record(
        self, info: Info, input: Annotated[TopicProgressRecordInput, arg("The progress.")]
    ) -> TopicProgressRecordPayload:
        viewer = info.context.viewer
        entries = [
            progress.ProgressEntry(
                student_id=_student_pk(e.student_id),
                status=str(e.status.value),
                competency=e.competency,
                note=e.note,
            )
            for e in input.entries
        ]

        async def change(uow: Any) -> Any:
            topic = pk_of(input.topic_id, "Topic", "topicId")
            return await progress.record(uow, viewer, topic, entries)

        found, problems = await run_in_transaction(info, change)
        return TopicProgressRecordPayload(
            progress=[TopicProgress.from_row(r) for r in found or []],
            user_errors=user_errors(TopicProgressError, TopicProgressErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=requires(),
        description="Create an assessment of a topic (academics managers, and the faculty "
        "leading an offering of its subject). Safe to retry: the same topic, kind, title, "
        "maximum and date again return the assessment made first.",
    )
    async def assessment_create(
        self, info: Info, input: Annotated[AssessmentCreateInput, arg("The assessment.")]
    ) -> AssessmentPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            fields = assessments.AssessmentFields(
                topic_id=pk_of(input.topic_id, "Topic", "topicId"), kind=str(input.kind.value),
                title=input.title, max_marks=input.max_marks, held_on=input.held_on,
            )  # fmt: skip
            return await assessments.create(uow, viewer, fields)

        found, problems = await run_in_transaction(info, change)
        return AssessmentPayload(
            assessment=Assessment.from_row(found) if found is not None else None,
            user_errors=user_errors(AssessmentError, AssessmentErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=requires(),
        description="Record students' marks in an assessment (0 to its maximum), one mark per "
        "student (recorded again: replaced), by who may record their progress in its "
        "subject. All or nothing.",
    )
    async def assessment_marks_record(
        self, info: Info, input: Annotated[AssessmentMarksRecordInput, arg("The marks.")]
    ) -> AssessmentMarksPayload:
        viewer = info.context.viewer
        entries = [
            assessments.MarkEntry(_student_pk(e.student_id), e.marks, e.note) for e in input.entries
        ]

        async def change(uow: Any) -> Any:
            assessment_id = pk_of(input.assessment_id, ASSESSMENT, "assessmentId")
            return await assessments.record_marks(uow, viewer, assessment_id, entries)

        found, problems = await run_in_transaction(info, change)
        assessment, marks = found if found is not None else (None, [])
        return AssessmentMarksPayload(
            assessment=Assessment.from_row(assessment) if assessment is not None else None,
            marks=[AssessmentMark.from_row(m) for m in marks],
            user_errors=user_errors(AssessmentError, AssessmentErrorCode, problems),
        )


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = [TopicProgress, Assessment, AssessmentMark]
