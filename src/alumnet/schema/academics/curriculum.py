"""Academics: programmes' subjects, subjects and their ordered topics with prerequisites,
and the offerings of subjects to missions and batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy import func, or_, select
from strawberry import relay

from alumnet.domain.academics import curriculum
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import Mission as MissionModel
from alumnet.persistence.models import Programme as ProgrammeModel
from alumnet.persistence.models import ProgrammeSubject as ProgrammeSubjectModel
from alumnet.persistence.models import Subject as SubjectModel
from alumnet.persistence.models import SubjectOffering as OfferingModel
from alumnet.persistence.models import Topic as TopicModel
from alumnet.persistence.models import TopicPrerequisite as PrerequisiteModel
from alumnet.schema.cohorts.types import Batch, Mission
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.types import User
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, optional_pk, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.people.types import Programme
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
UNSET: Any = strawberry.UNSET
SUBJECT = "Subject"
TOPIC = "Topic"
OFFERING = "SubjectOffering"
# A topic's "required by" list is cut at this many (a topic named by more is rare).
REQUIRED_BY_MAX = 200


@strawberry.enum(description="Whether a subject is taught.")
class SubjectStatus(Enum):
    ACTIVE = ev("active", description="Taught: it may be offered to missions and batches.")
    ARCHIVED = ev(
        "archived", description="Kept for its history (topics, progress); offered no more."
    )


def _pks(gids: Sequence[relay.GlobalID], type_name: str) -> list[int | None]:
    return [global_pk(g, type_name) for g in gids]


# --- loaders -------------------------------------------------------------------------------


async def _figures(reads: Any, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Per subject: how many topics, and their estimated minutes in all."""
    query = (
        select(
            TopicModel.subject_id,
            func.count(TopicModel.id),
            func.coalesce(func.sum(TopicModel.estimated_minutes), 0),
        )
        .where(TopicModel.subject_id.in_(list(ids)))
        .group_by(TopicModel.subject_id)
    )
    async with reads.connect() as conn:
        found = {int(s): (int(n), int(m)) for s, n, m in (await conn.execute(query)).all()}
    return [found.get(i, (0, 0)) for i in ids]


async def _subjects(reads: Any, ids: Sequence[int]) -> list[Any]:
    async with reads.connect() as conn:
        rows = await conn.execute(
            select(SubjectModel.__table__).where(SubjectModel.id.in_(list(ids)))
        )
        found = {int(r.id): r for r in rows.all()}
    return [found.get(i) for i in ids]


async def _programmes(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    """Per subject: the programmes it is part of, by code."""
    query = (
        select(ProgrammeSubjectModel.subject_id, *ProgrammeModel.__table__.c)
        .join(ProgrammeModel, ProgrammeModel.id == ProgrammeSubjectModel.programme_id)
        .where(ProgrammeSubjectModel.subject_id.in_(list(ids)))
        .order_by(ProgrammeModel.code)
    )
    return await grouped(reads, query, "subject_id", ids)


async def _prerequisites(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    """Per topic: the topics it requires, by subject code and position."""
    query = (
        select(PrerequisiteModel.topic_id.label("of"), *TopicModel.__table__.c)
        .join(TopicModel, TopicModel.id == PrerequisiteModel.requires_id)
        .join(SubjectModel, SubjectModel.id == TopicModel.subject_id)
        .where(PrerequisiteModel.topic_id.in_(list(ids)))
        .order_by(SubjectModel.code, TopicModel.position, TopicModel.id)
    )
    return await grouped(reads, query, "of", ids)


async def _required_by(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    """Per topic: the topics that require it (the first ``REQUIRED_BY_MAX``)."""
    query = (
        select(PrerequisiteModel.requires_id.label("of"), *TopicModel.__table__.c)
        .join(TopicModel, TopicModel.id == PrerequisiteModel.topic_id)
        .join(SubjectModel, SubjectModel.id == TopicModel.subject_id)
        .where(PrerequisiteModel.requires_id.in_(list(ids)))
        .order_by(SubjectModel.code, TopicModel.position, TopicModel.id)
    )
    return [rows[:REQUIRED_BY_MAX] for rows in await grouped(reads, query, "of", ids)]


# --- node types ----------------------------------------------------------------------------


@strawberry.type(
    description="A topic of a subject, in the subject's order, with its estimated hours and "
    "the topics to do first. Readable by anyone signed in."
)
class Topic(relay.Node):
    id: relay.NodeID[int]
    code: str = strawberry.field(
        description="Names it within its subject (upper case, e.g. `T1`); imports and "
        "prerequisites name it so."
    )
    title: str = strawberry.field(description="What it is called.")
    description: str = strawberry.field(description="What it covers (plain text).")
    position: int = strawberry.field(description="Its place in the subject's order, from 1.")
    estimated_hours: float = strawberry.field(
        description="The hours it is expected to take (in quarter hours)."
    )
    created_at: datetime = strawberry.field(description="When it was added (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    _subject_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, code=row.code, title=row.title, description=row.description,
            position=int(row.position) + 1,
            estimated_hours=curriculum.hours_of(row.estimated_minutes),
            created_at=row.created_at, updated_at=row.updated_at, _subject_id=row.subject_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(info, TopicModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The subject it belongs to.")
    async def subject(self, info: Info) -> Subject:
        row = await reads_loader(info, ("curriculum", "subjects"), _subjects).load(self._subject_id)
        return Subject.from_row(row)

    @strawberry.field(
        description="The topics to do before this one (of any subject; at most 50), by "
        "subject code and position."
    )
    async def prerequisites(self, info: Info) -> list[Topic]:
        rows = await reads_loader(info, ("curriculum", "prerequisites"), _prerequisites).load(
            self.id
        )
        return [Topic.from_row(r) for r in rows]

    @strawberry.field(
        description="The topics that need this one first (the first 200), by subject code "
        "and position."
    )
    async def required_by(self, info: Info) -> list[Topic]:
        rows = await reads_loader(info, ("curriculum", "required_by"), _required_by).load(self.id)
        return [Topic.from_row(r) for r in rows]


@strawberry.type(description="A subject's topics in order, a page at a time.")
class TopicConnection(CountedConnection[Topic]):
    pass


@strawberry.type(
    description="A subject taught to a mission, or to a whole batch (each of its missions), "
    "between two dates, perhaps led by a faculty member. Seen by academics and cohort staff, "
    "and by the students and mentors of the missions it covers."
)
class SubjectOffering(relay.Node):
    id: relay.NodeID[int]
    starts_on: date = strawberry.field(description="The first day of the plan.")
    ends_on: date = strawberry.field(
        description="The last day of the plan: its topics are expected done evenly, by "
        "estimated hours, from the first day to this one."
    )
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, starts_on=row.starts_on, ends_on=row.ends_on,
            created_at=row.created_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        where = curriculum.readable_offerings(info.context.viewer)
        found = await readable_rows(info, OfferingModel.__table__, ids, where)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The subject taught.")
    async def subject(self, info: Info) -> Subject:
        row = await reads_loader(info, ("curriculum", "subjects"), _subjects).load(
            self._row.subject_id
        )
        return Subject.from_row(row)

    @strawberry.field(
        description="The mission it is offered to (null when offered to a batch, or when you "
        "may not see the mission)."
    )
    async def mission(self, info: Info) -> Mission | None:
        if self._row.mission_id is None:
            return None
        found = await Mission.resolve_nodes(info=info, node_ids=[str(self._row.mission_id)])
        return found[0]

    @strawberry.field(
        description="The batch it is offered to (null when offered to a mission, or when you "
        "may not see the batch)."
    )
    async def batch(self, info: Info) -> Batch | None:
        if self._row.batch_id is None:
            return None
        found = await Batch.resolve_nodes(info=info, node_ids=[str(self._row.batch_id)])
        return found[0]

    @strawberry.field(
        description="The faculty member who leads it; null when nobody does (or you may not "
        "see them)."
    )
    async def faculty(self, info: Info) -> User | None:
        return await visible_user(info, self._row.faculty_id)  # type: ignore[no-any-return]


@strawberry.type(description="Subject offerings, a page at a time.")
class SubjectOfferingConnection(CountedConnection[SubjectOffering]):
    pass


def _offerings(
    info: Info, query: Any, *, partition: Any = None, batch_key: Any = None
) -> KeysetQuery[SubjectOffering]:
    where = curriculum.readable_offerings(info.context.viewer)
    if where is not None:
        query = query.where(where)
    return KeysetQuery(
        query,
        [SortKey(OfferingModel.starts_on), SortKey(OfferingModel.id)],
        SubjectOffering.from_row,
        info.context.reads,
        partition=partition,
        batch_key=batch_key,
    )


@strawberry.type(
    description="A subject taught to missions or batches: an ordered list of topics. "
    "Readable by anyone signed in."
)
class Subject(relay.Node):
    id: relay.NodeID[int]
    code: str = strawberry.field(description="Short unique code, upper case, e.g. `PY-101`.")
    name: str = strawberry.field(description="What the subject is called.")
    description: str = strawberry.field(description="What it is about (plain text).")
    status: SubjectStatus = strawberry.field(description="Active or archived.")
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, code=row.code, name=row.name, description=row.description,
            status=SubjectStatus(row.status), created_at=row.created_at,
            updated_at=row.updated_at,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(info, SubjectModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @relay.connection(
        TopicConnection,
        description="Its topics in order (the first first).",
        max_results=curriculum.TOPICS_MAX,
    )
    def topics(self, info: Info) -> Iterable[Topic]:
        return KeysetQuery(
            select(TopicModel.__table__),
            [SortKey(TopicModel.position), SortKey(TopicModel.id)],
            Topic.from_row,
            info.context.reads,
            partition=(TopicModel.subject_id, self.id),
            batch_key="Subject.topics",
        )

    @strawberry.field(description="How many topics it has.")
    async def topic_count(self, info: Info) -> int:
        found = await reads_loader(info, ("curriculum", "figures"), _figures).load(self.id)
        return int(found[0])

    @strawberry.field(description="The estimated hours of its topics, added up.")
    async def estimated_hours(self, info: Info) -> float:
        found = await reads_loader(info, ("curriculum", "figures"), _figures).load(self.id)
        return curriculum.hours_of(found[1])

    @strawberry.field(description="The programmes it is part of, by code.")
    async def programmes(self, info: Info) -> list[Programme]:
        rows = await reads_loader(info, ("curriculum", "programmes"), _programmes).load(self.id)
        return [Programme.from_row(r) for r in rows]

    @relay.connection(
        SubjectOfferingConnection,
        description="Its offerings to missions and batches that you may see, by start date.",
        max_results=1000,
    )
    def offerings(self, info: Info) -> Iterable[SubjectOffering]:
        return _offerings(
            info, select(OfferingModel.__table__),
            partition=(OfferingModel.subject_id, self.id),
            batch_key=("Subject.offerings", info.context.viewer.user_id),
        )  # fmt: skip


@strawberry.type(description="Subjects, a page at a time.")
class SubjectConnection(CountedConnection[Subject]):
    pass


# --- errors and payloads -------------------------------------------------------------------


@strawberry.enum(description="Why a subject mutation failed.")
class SubjectErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such subject, topic or programme.")
    DUPLICATE_CODE = ev("DUPLICATE_CODE", description="Another subject has this code.")
    TOO_MANY = ev("TOO_MANY", description="More subjects than a programme may have (200).")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.enum(description="Why a topic mutation failed.")
class TopicErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such subject or topic.")
    DUPLICATE_CODE = ev("DUPLICATE_CODE", description="Another topic of the subject has it.")
    INVALID_HOURS = ev(
        "INVALID_HOURS", description="Estimated hours are 0 to 1000, in quarter hours."
    )
    HAS_PROGRESS = ev(
        "HAS_PROGRESS",
        description="Students' progress or assessments are recorded for the topic: it stays.",
    )
    CIRCULAR_PREREQUISITE = ev(
        "CIRCULAR_PREREQUISITE",
        description="A prerequisite needs this topic first, however indirectly; the message "
        "names the circle by topic codes.",
    )
    SELF_PREREQUISITE = ev(
        "SELF_PREREQUISITE", description="A topic cannot be its own prerequisite."
    )
    TOO_MANY = ev("TOO_MANY", description="More than 50 prerequisites, or 500 topics in a subject.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.enum(description="Why a subject offering mutation failed.")
class SubjectOfferingErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such offering, subject, mission or batch.")
    DUPLICATE = ev("DUPLICATE", description="The subject is offered there already.")
    ARCHIVED = ev("ARCHIVED", description="The subject is archived: it is offered no more.")
    NOT_FACULTY = ev(
        "NOT_FACULTY", description="The lead does not teach (FACULTY, or academics:teach)."
    )
    INVALID_DATES = ev(
        "INVALID_DATES", description="It must end after it starts, at most a year later."
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a subject mutation's input.")
class SubjectError(UserError):
    code: SubjectErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="A problem with a topic mutation's input.")
class TopicError(UserError):
    code: TopicErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="A problem with a subject offering mutation's input.")
class SubjectOfferingError(UserError):
    code: SubjectOfferingErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The subject, or why there is none.")
class SubjectPayload:
    subject: Subject | None = strawberry.field(description="The subject.")
    user_errors: list[SubjectError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The programme and its subjects in order, or why not.")
class ProgrammeSubjectsPayload:
    programme: Programme | None = strawberry.field(description="The programme.")
    subjects: list[Subject] | None = strawberry.field(description="Its subjects, in order.")
    user_errors: list[SubjectError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The topic, or why there is none.")
class TopicPayload:
    topic: Topic | None = strawberry.field(description="The topic.")
    user_errors: list[TopicError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The deleted topic's id and its subject, or why not.")
class TopicDeletePayload:
    deleted_topic_id: relay.GlobalID | None = strawberry.field(
        description="The id of the topic deleted."
    )
    subject: Subject | None = strawberry.field(description="Its subject, renumbered.")
    user_errors: list[TopicError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The offering, or why there is none.")
class SubjectOfferingPayload:
    subject_offering: SubjectOffering | None = strawberry.field(description="The offering.")
    user_errors: list[SubjectOfferingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The deleted offering's id, or why not.")
class SubjectOfferingDeletePayload:
    deleted_subject_offering_id: relay.GlobalID | None = strawberry.field(
        description="The id of the offering withdrawn."
    )
    user_errors: list[SubjectOfferingError] = strawberry.field(description="Empty on success.")


# --- inputs --------------------------------------------------------------------------------

CODE_HELP = "1 to 32 letters, digits, - or _; upper-cased"


@strawberry.input(description="A new subject.")
class SubjectCreateInput:
    code: str = strawberry.field(description=f"Unique code ({CODE_HELP}).")
    name: str = strawberry.field(description="Its name (at most 200 characters).")
    description: str = strawberry.field(
        default="", description="What it is about (plain text, at most 10,000 characters)."
    )


@strawberry.input(description="Changes to a subject; fields left out stay as they are.")
class SubjectUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The subject.")
    code: str | None = strawberry.field(default=None, description=f"A new code ({CODE_HELP}).")
    name: str | None = strawberry.field(default=None, description="A new name.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    status: SubjectStatus | None = strawberry.field(
        default=None, description="ARCHIVED to archive it; ACTIVE to teach it again."
    )


@strawberry.input(description="A new topic of a subject.")
class TopicCreateInput:
    subject_id: relay.GlobalID = strawberry.field(description="The subject.")
    code: str = strawberry.field(description=f"Its code, unique in the subject ({CODE_HELP}).")
    title: str = strawberry.field(description="Its title (at most 200 characters).")
    description: str = strawberry.field(default="", description="What it covers.")
    estimated_hours: float = strawberry.field(
        default=0, description="Hours it is expected to take: 0 to 1000, in quarter hours."
    )
    position: int | None = strawberry.field(
        default=None,
        description="Where it goes, from 1 (those from there move down one); at the end "
        "if left out.",
    )


@strawberry.input(description="Changes to a topic; fields left out stay as they are.")
class TopicUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The topic.")
    code: str | None = strawberry.field(default=None, description=f"A new code ({CODE_HELP}).")
    title: str | None = strawberry.field(default=None, description="A new title.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    estimated_hours: float | None = strawberry.field(
        default=None, description="New estimated hours: 0 to 1000, in quarter hours."
    )


@strawberry.input(description="A topic to delete.")
class TopicDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The topic (with no progress recorded).")


@strawberry.input(description="A subject's topics in their new order.")
class TopicsReorderInput:
    subject_id: relay.GlobalID = strawberry.field(description="The subject.")
    topic_ids: list[relay.GlobalID] = strawberry.field(
        description="Every topic of the subject, each once, in the new order."
    )


@strawberry.input(description="A topic's prerequisites, replacing those it had.")
class TopicPrerequisitesSetInput:
    topic_id: relay.GlobalID = strawberry.field(description="The topic.")
    prerequisite_ids: list[relay.GlobalID] = strawberry.field(
        description="The topics to do first (of any subject; at most 50; empty: none)."
    )


@strawberry.input(description="A programme's subjects, replacing those it had.")
class ProgrammeSubjectsSetInput:
    programme_id: relay.GlobalID = strawberry.field(description="The `Programme`.")
    subject_ids: list[relay.GlobalID] = strawberry.field(
        description="Its subjects in order (at most 200; empty: none)."
    )


@strawberry.input(description="A subject offered to a mission or to a whole batch.")
class SubjectOfferingCreateInput:
    subject_id: relay.GlobalID = strawberry.field(description="The active subject.")
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The `Mission` (give this or `batchId`)."
    )
    batch_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The `Batch`: each of its missions (or `missionId`)."
    )
    faculty_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The `User` who leads it: a faculty member (FACULTY role or "
        "academics:teach); told by a notification.",
    )
    starts_on: date = strawberry.field(description="The first day of the plan.")
    ends_on: date = strawberry.field(
        description="The last day of the plan: after the first, at most a year later."
    )


@strawberry.input(description="Changes to an offering; fields left out stay as they are.")
class SubjectOfferingUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The offering.")
    faculty_id: relay.GlobalID | None = strawberry.field(
        default=UNSET,
        description="A new lead (told by a notification); null: nobody leads it.",
    )
    starts_on: date | None = strawberry.field(default=None, description="A new first day.")
    ends_on: date | None = strawberry.field(default=None, description="A new last day.")


@strawberry.input(description="An offering to withdraw.")
class SubjectOfferingDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The offering.")


@strawberry.input(description="Which subjects to list.")
class SubjectFilter:
    search: str | None = strawberry.field(
        default=None, description="Words in the code or the name (any letter case)."
    )
    status: SubjectStatus | None = strawberry.field(default=None, description="Only this state.")
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only the subjects of this `Programme`."
    )


@strawberry.input(description="Which offerings to list.")
class SubjectOfferingFilter:
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only this `Subject`'s."
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Only those covering this `Mission` (to it, or to its batch).",
    )
    batch_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those to this `Batch` itself."
    )
    faculty_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those this `User` leads."
    )


# --- queries -------------------------------------------------------------------------------


def _like(words: str) -> str:
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


@strawberry.type
class CurriculumQuery:
    @relay.connection(
        SubjectConnection,
        description="Subjects by code (anyone signed in).",
        max_results=1000,
        extensions=requires(),
    )
    def subjects(
        self,
        info: Info,
        filter: Annotated[
            SubjectFilter | None, strawberry.argument(description="Which subjects.")
        ] = None,
    ) -> Iterable[Subject]:
        query = select(SubjectModel.__table__)
        if filter is not None:
            if filter.search:
                for word in filter.search.split()[:10]:
                    pattern = _like(word[:100])
                    query = query.where(
                        or_(
                            func.lower(SubjectModel.code).like(pattern, escape="\\"),
                            func.lower(SubjectModel.name).like(pattern, escape="\\"),
                        )
                    )
            if filter.status is not None:
                query = query.where(SubjectModel.status == filter.status.value)
            if filter.programme_id is not None:
                programme = optional_pk(filter.programme_id, "Programme")
                query = query.where(
                    SubjectModel.id.in_(
                        select(ProgrammeSubjectModel.subject_id).where(
                            ProgrammeSubjectModel.programme_id == programme
                        )
                    )
                )
        return KeysetQuery(
            query,
            [SortKey(SubjectModel.code), SortKey(SubjectModel.id)],
            Subject.from_row,
            info.context.reads,
        )

    @relay.connection(
        SubjectOfferingConnection,
        description="Subject offerings by start date: all of them for academics and cohort "
        "staff; for others, those covering missions they may see.",
        max_results=1000,
        extensions=requires(),
    )
    def subject_offerings(
        self,
        info: Info,
        filter: Annotated[
            SubjectOfferingFilter | None, strawberry.argument(description="Which offerings.")
        ] = None,
    ) -> Iterable[SubjectOffering]:
        query = select(OfferingModel.__table__)
        if filter is not None:
            if filter.subject_id is not None:
                query = query.where(
                    OfferingModel.subject_id == optional_pk(filter.subject_id, SUBJECT)
                )
            if filter.mission_id is not None:
                mission = optional_pk(filter.mission_id, "Mission")
                query = query.where(
                    or_(
                        OfferingModel.mission_id == mission,
                        OfferingModel.batch_id.in_(
                            select(MissionModel.batch_id).where(MissionModel.id == mission)
                        ),
                    )
                )
            if filter.batch_id is not None:
                query = query.where(OfferingModel.batch_id == optional_pk(filter.batch_id, "Batch"))
            if filter.faculty_id is not None:
                query = query.where(
                    OfferingModel.faculty_id == optional_pk(filter.faculty_id, "User")
                )
        return _offerings(info, query)

    @relay.connection(
        SubjectOfferingConnection,
        description="Your offerings by start date: as a student, those covering missions you "
        "take part in; as faculty, those you lead; as a mentor, those covering missions you "
        "mentor in.",
        max_results=1000,
        extensions=requires(),
    )
    def my_subject_offerings(self, info: Info) -> Iterable[SubjectOffering]:
        mine = curriculum.my_offerings(info.context.viewer)
        return _offerings(info, select(OfferingModel.__table__).where(mine))


# --- mutations -----------------------------------------------------------------------------


def _subject_payload(found: Any, problems: Any) -> SubjectPayload:
    return SubjectPayload(
        subject=Subject.from_row(found) if found is not None else None,
        user_errors=user_errors(SubjectError, SubjectErrorCode, problems),
    )


def _topic_payload(found: Any, problems: Any) -> TopicPayload:
    return TopicPayload(
        topic=Topic.from_row(found) if found is not None else None,
        user_errors=user_errors(TopicError, TopicErrorCode, problems),
    )


def _offering_payload(found: Any, problems: Any) -> SubjectOfferingPayload:
    return SubjectOfferingPayload(
        subject_offering=SubjectOffering.from_row(found) if found is not None else None,
        user_errors=user_errors(SubjectOfferingError, SubjectOfferingErrorCode, problems),
    )


MANAGE = requires(Permission.ACADEMICS_MANAGE)


@strawberry.type
class CurriculumMutation:
    @strawberry.mutation(
        extensions=MANAGE,
        description="Make a subject (academics:manage). Its code is unique, upper-cased.",
    )
    async def subject_create(
        self, info: Info, input: Annotated[SubjectCreateInput, arg("The subject.")]
    ) -> SubjectPayload:
        viewer = info.context.viewer
        given = curriculum.SubjectFields(
            code=input.code, name=input.name, description=input.description
        )
        found, problems = await run_in_transaction(
            info, lambda uow: curriculum.create_subject(uow, viewer, given)
        )
        return _subject_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Change a subject's code, name or description, or archive it (or make "
        "it active again) (academics:manage).",
    )
    async def subject_update(
        self, info: Info, input: Annotated[SubjectUpdateInput, arg("The changes.")]
    ) -> SubjectPayload:
        viewer = info.context.viewer
        given = curriculum.SubjectFields(
            code=input.code, name=input.name, description=input.description,
            status=str(input.status.value) if input.status is not None else None,
        )  # fmt: skip

        async def change(uow: Any) -> Any:
            return await curriculum.update_subject(
                uow, viewer, pk_of(input.id, SUBJECT, "id"), given
            )

        found, problems = await run_in_transaction(info, change)
        return _subject_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Add a topic to a subject, at a position or at the end (academics:manage).",
    )
    async def topic_create(
        self, info: Info, input: Annotated[TopicCreateInput, arg("The topic.")]
    ) -> TopicPayload:
        viewer = info.context.viewer
        given = curriculum.TopicFields(
            code=input.code, title=input.title, description=input.description,
            estimated_hours=input.estimated_hours, position=input.position,
        )  # fmt: skip

        async def change(uow: Any) -> Any:
            subject = pk_of(input.subject_id, SUBJECT, "subjectId")
            return await curriculum.create_topic(uow, viewer, subject, given)

        found, problems = await run_in_transaction(info, change)
        return _topic_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Change a topic's code, title, description or estimated hours "
        "(academics:manage).",
    )
    async def topic_update(
        self, info: Info, input: Annotated[TopicUpdateInput, arg("The changes.")]
    ) -> TopicPayload:
        viewer = info.context.viewer
        given = curriculum.TopicFields(
            code=input.code, title=input.title, description=input.description,
            estimated_hours=input.estimated_hours,
        )  # fmt: skip

        async def change(uow: Any) -> Any:
            return await curriculum.update_topic(uow, viewer, pk_of(input.id, TOPIC, "id"), given)

        found, problems = await run_in_transaction(info, change)
        return _topic_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Delete a topic (academics:manage); refused (HAS_PROGRESS) once progress "
        "or an assessment is recorded for it. The topics after it move up one.",
    )
    async def topic_delete(
        self, info: Info, input: Annotated[TopicDeleteInput, arg("The topic.")]
    ) -> TopicDeletePayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            topic = pk_of(input.id, TOPIC, "id")
            subject_id = await curriculum.delete_topic(uow, viewer, topic)
            return await uow.session.get(SubjectModel, subject_id)

        found, problems = await run_in_transaction(info, change)
        return TopicDeletePayload(
            deleted_topic_id=input.id if found is not None else None,
            subject=Subject.from_row(found) if found is not None else None,
            user_errors=user_errors(TopicError, TopicErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=MANAGE,
        description="Put a subject's topics in a new order: every one of them, each once "
        "(academics:manage).",
    )
    async def topics_reorder(
        self, info: Info, input: Annotated[TopicsReorderInput, arg("The new order.")]
    ) -> SubjectPayload:
        viewer = info.context.viewer
        order = _pks(input.topic_ids, TOPIC)

        async def change(uow: Any) -> Any:
            subject = pk_of(input.subject_id, SUBJECT, "subjectId")
            return await curriculum.reorder_topics(uow, viewer, subject, order)

        found, problems = await run_in_transaction(info, change)
        return _subject_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Replace a topic's prerequisites (academics:manage): at most 50, never "
        "itself, never a circle (CIRCULAR_PREREQUISITE names it).",
    )
    async def topic_prerequisites_set(
        self, info: Info, input: Annotated[TopicPrerequisitesSetInput, arg("The topics.")]
    ) -> TopicPayload:
        viewer = info.context.viewer
        wanted = _pks(input.prerequisite_ids, TOPIC)

        async def change(uow: Any) -> Any:
            topic = pk_of(input.topic_id, TOPIC, "topicId")
            return await curriculum.set_prerequisites(uow, viewer, topic, wanted)

        found, problems = await run_in_transaction(info, change)
        return _topic_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Replace a programme's subjects, in order (academics:manage).",
    )
    async def programme_subjects_set(
        self, info: Info, input: Annotated[ProgrammeSubjectsSetInput, arg("The subjects.")]
    ) -> ProgrammeSubjectsPayload:
        viewer = info.context.viewer
        wanted = _pks(input.subject_ids, SUBJECT)

        async def change(uow: Any) -> Any:
            programme_id = pk_of(input.programme_id, "Programme", "programmeId")
            programme = await curriculum.set_programme_subjects(uow, viewer, programme_id, wanted)
            found = await uow.session.execute(
                select(SubjectModel)
                .join(ProgrammeSubjectModel, ProgrammeSubjectModel.subject_id == SubjectModel.id)
                .where(ProgrammeSubjectModel.programme_id == programme_id)
                .order_by(ProgrammeSubjectModel.position)
            )
            return programme, list(found.scalars())

        found, problems = await run_in_transaction(info, change)
        return ProgrammeSubjectsPayload(
            programme=Programme.from_row(found[0]) if found is not None else None,
            subjects=[Subject.from_row(s) for s in found[1]] if found is not None else None,
            user_errors=user_errors(SubjectError, SubjectErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=MANAGE,
        description="Offer a subject to a mission or to a whole batch (academics:manage), "
        "perhaps led by a faculty member, who is told.",
    )
    async def subject_offering_create(
        self, info: Info, input: Annotated[SubjectOfferingCreateInput, arg("The offering.")]
    ) -> SubjectOfferingPayload:
        viewer = info.context.viewer
        given = curriculum.OfferingFields(
            subject_id=optional_pk(input.subject_id, SUBJECT) or -1,
            mission_id=optional_pk(input.mission_id, "Mission"),
            batch_id=optional_pk(input.batch_id, "Batch"),
            faculty_id=optional_pk(input.faculty_id, "User"),
            starts_on=input.starts_on, ends_on=input.ends_on,
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info, lambda uow: curriculum.create_offering(uow, viewer, given)
        )
        return _offering_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Change an offering's lead or dates (academics:manage); a new lead is told.",
    )
    async def subject_offering_update(
        self, info: Info, input: Annotated[SubjectOfferingUpdateInput, arg("The changes.")]
    ) -> SubjectOfferingPayload:
        viewer = info.context.viewer
        faculty: Any = curriculum.NO_CHANGE
        if input.faculty_id is not UNSET:
            faculty = optional_pk(input.faculty_id, "User")

        async def change(uow: Any) -> Any:
            return await curriculum.update_offering(
                uow, viewer, pk_of(input.id, OFFERING, "id"), faculty_id=faculty,
                starts_on=input.starts_on, ends_on=input.ends_on,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return _offering_payload(found, problems)

    @strawberry.mutation(
        extensions=MANAGE,
        description="Withdraw an offering (academics:manage). Progress recorded stays.",
    )
    async def subject_offering_delete(
        self, info: Info, input: Annotated[SubjectOfferingDeleteInput, arg("The offering.")]
    ) -> SubjectOfferingDeletePayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            await curriculum.delete_offering(uow, viewer, pk_of(input.id, OFFERING, "id"))
            return True

        found, problems = await run_in_transaction(info, change)
        return SubjectOfferingDeletePayload(
            deleted_subject_offering_id=input.id if found else None,
            user_errors=user_errors(SubjectOfferingError, SubjectOfferingErrorCode, problems),
        )


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = [Subject, Topic, SubjectOffering]
