"""Academics: faculty time entries (logged or timed), weekly targets and utilisation.

The rules are in ``alumnet.domain.academics.time``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import false, select
from strawberry import relay

from alumnet.domain.academics import time as faculty_time
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import FacultyTimeEntry as EntryModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, bad_input, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_gid, optional_pk, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
TYPE = "FacultyTimeEntry"
IDENTITY = "alumnet.schema.identity.types"
UNSET: Any = strawberry.UNSET


@strawberry.enum(description="What a faculty member's time was spent on.")
class FacultyTimeKind(Enum):
    TEACHING = ev(
        "teaching",
        description="Teaching: a session (students may give feedback on it). Names its "
        "subject (or topic) or its student.",
    )
    PREPARATION = ev("preparation", description="Preparing teaching or material.")
    ASSESSMENT = ev("assessment", description="Setting or marking assessments.")
    MENTORING = ev("mentoring", description="Mentoring students.")


def _aware(moment: datetime | None) -> datetime | None:
    return faculty_time.utc(moment) if moment is not None else None


@strawberry.type(
    description="Time a faculty member spent, logged after the fact or timed (a timer "
    "started and stopped). A teaching entry is a session. Seen by its faculty member and "
    "academics managers; a teaching session also by the students who may give feedback on "
    "it (those it names, or else those of a mission its subject is offered to), without its "
    "note."
)
class FacultyTimeEntry(relay.Node):
    id: relay.NodeID[int]
    kind: FacultyTimeKind = strawberry.field(description="What the time was spent on.")
    started_at: datetime = strawberry.field(description="When it started (UTC).")
    ended_at: datetime | None = strawberry.field(
        description="When it ended (UTC); null while its timer runs."
    )
    subject_id: relay.GlobalID | None = strawberry.field(description="The `Subject`, if any.")
    topic_id: relay.GlobalID | None = strawberry.field(
        description="The `Topic` (of the subject), if any."
    )
    mission_id: relay.GlobalID | None = strawberry.field(description="The `Mission`, if any.")
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=FacultyTimeKind(row.kind), started_at=faculty_time.utc(row.started_at),
            ended_at=_aware(row.ended_at), subject_id=optional_gid("Subject", row.subject_id),
            topic_id=optional_gid("Topic", row.topic_id),
            mission_id=optional_gid("Mission", row.mission_id),
            created_at=faculty_time.utc(row.created_at), _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(
            info, EntryModel.__table__, ids, faculty_time.readable(info.context.viewer)
        )
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Whether its timer is running.")
    def running(self) -> bool:
        return self._row.ended_at is None

    @strawberry.field(
        description="How long it lasted, in whole minutes (rounded); for a running timer, "
        "so far (at most 16 hours)."
    )
    def minutes(self) -> int:
        if self._row.minutes is not None:
            return int(self._row.minutes)
        so_far = faculty_time.minutes_between(self._row.started_at, faculty_time.now())
        return max(0, min(so_far, faculty_time.LONGEST_MINUTES))

    @strawberry.field(
        description="Its note (at most 2,000 characters); null when none, or unless you are "
        "its faculty member or an academics manager."
    )
    def note(self, info: Info) -> str | None:
        if not faculty_time.sees_details(info.context.viewer, self._row.faculty_id):
            return None
        return self._row.note  # type: ignore[no-any-return]

    @strawberry.field(description="The faculty member whose time it is.")
    async def faculty(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.faculty_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The student it was spent on, if any (and you may see them).")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.student_id)  # type: ignore[no-any-return]


@strawberry.type(description="Faculty time entries, a page at a time.")
class FacultyTimeEntryConnection(CountedConnection[FacultyTimeEntry]):
    pass


@strawberry.type(description="Minutes by what they were spent on.")
class FacultyMinutesByKind:
    teaching: int = strawberry.field(description="Minutes of teaching (sessions).")
    preparation: int = strawberry.field(description="Minutes of preparation.")
    assessment: int = strawberry.field(description="Minutes of assessment.")
    mentoring: int = strawberry.field(description="Minutes of mentoring.")

    @classmethod
    def of(cls, minutes: dict[str, int]) -> FacultyMinutesByKind:
        return cls(**{k: minutes.get(k, 0) for k in faculty_time.KINDS})


@strawberry.type(
    description="One faculty member's time in one ISO week (Monday 00:00 UTC to the next "
    "Monday): entries count in the week they started in; a running timer counts up to now."
)
class FacultyWeek:
    week_starting: date = strawberry.field(description="The week's Monday (UTC).")
    by_kind: FacultyMinutesByKind = strawberry.field(description="Minutes by kind.")
    total_minutes: int = strawberry.field(description="All minutes of the week.")
    target_minutes: int = strawberry.field(
        description="The faculty member's weekly target, in minutes (the current one)."
    )
    utilisation: float = strawberry.field(
        description="Total minutes divided by the target (1.0: the target met exactly)."
    )
    _faculty_id: strawberry.Private[int]

    @classmethod
    def of(cls, figures: faculty_time.WeekFigures) -> Self:
        return cls(
            week_starting=figures.week, by_kind=FacultyMinutesByKind.of(figures.minutes),
            total_minutes=figures.total, target_minutes=figures.target,
            utilisation=figures.utilisation, _faculty_id=figures.faculty_id,
        )  # fmt: skip

    @strawberry.field(description="The faculty member.")
    async def faculty(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._faculty_id)  # type: ignore[no-any-return]


@strawberry.type(description="A faculty member's weekly time against their target.")
class FacultyUtilisation:
    target_minutes: int = strawberry.field(
        description="Their weekly target, in minutes: the one set for them, else the default."
    )
    total_minutes: int = strawberry.field(description="All minutes of the weeks shown.")
    utilisation: float = strawberry.field(
        description="Total minutes divided by the target of all the weeks shown."
    )
    weeks: list[FacultyWeek] = strawberry.field(description="Week by week, oldest first.")
    _faculty_id: strawberry.Private[int]

    @strawberry.field(description="The faculty member.")
    async def faculty(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._faculty_id)  # type: ignore[no-any-return]


@strawberry.type(description="A faculty member's weekly target.")
class FacultyTarget:
    weekly_minutes: int = strawberry.field(
        description="The target, in minutes a week: the one set, else the default."
    )
    is_default: bool = strawberry.field(
        description="Whether it is the default (the ALUMNET_FACULTY_WEEKLY_HOURS setting)."
    )
    updated_at: datetime = strawberry.field(description="When it was last set (UTC).")
    _faculty_id: strawberry.Private[int]

    @strawberry.field(description="The faculty member.")
    async def faculty(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._faculty_id)  # type: ignore[no-any-return]


@strawberry.enum(description="Why a faculty time mutation failed.")
class FacultyTimeErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such entry (that you may change), faculty member, "
        "subject, topic or mission.",
    )  # fmt: skip
    NOT_ALLOWED = ev(
        "NOT_ALLOWED",
        description="Faculty log their own time; academics managers anyone's.",
    )
    NOT_TAUGHT = ev(
        "NOT_TAUGHT",
        description="The faculty member leads no offering of the subject, or neither "
        "teaches nor mentors the student (or in the mission).",
    )
    WRONG_SUBJECT = ev("WRONG_SUBJECT", description="The topic is not of the subject.")
    WRONG_MISSION = ev("WRONG_MISSION", description="The subject is not offered to the mission.")
    TIME_CONFLICT = ev(
        "TIME_CONFLICT",
        description="It overlaps another entry of the faculty member (the message says "
        "which); a running timer overlaps everything after its start.",
    )
    TIMER_RUNNING = ev("TIMER_RUNNING", description="A timer is running: stop it first.")
    NO_TIMER = ev("NO_TIMER", description="No timer is running.")
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE",
        description="Longer than 16 hours, ending more than 5 minutes from now, or "
        "starting more than 90 days ago.",
    )
    TOO_LONG = ev("TOO_LONG", description="The note is longer than 2,000 characters.")
    REQUIRED = ev("REQUIRED", description="A teaching session names its subject or student.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a faculty time mutation's input.")
class FacultyTimeError(UserError):
    code: FacultyTimeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The time entry, or why there is none.")
class FacultyTimeEntryPayload:
    entry: FacultyTimeEntry | None = strawberry.field(description="The entry.")
    user_errors: list[FacultyTimeError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The deleted entry's id, or why nothing was deleted.")
class FacultyTimeEntryDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(description="The deleted entry's id.")
    user_errors: list[FacultyTimeError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why setting a faculty target failed.")
class FacultyTargetErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such faculty member (holding academics:teach).")
    NOT_ALLOWED = ev("NOT_ALLOWED", description="Only academics managers set targets.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A weekly target is 1 to 80 hours.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a faculty target's input.")
class FacultyTargetError(UserError):
    code: FacultyTargetErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The target, or why it was not set.")
class FacultyTargetPayload:
    target: FacultyTarget | None = strawberry.field(description="The target as it now is.")
    user_errors: list[FacultyTargetError] = strawberry.field(description="Empty on success.")


ABOUT = {
    "subject_id": "The `Subject`: one the faculty member leads an offering of (managers: any).",
    "topic_id": "A `Topic` of the subject (alone, it names its subject).",
    "student_id": "The `User` (a student) it was spent on: one the faculty member teaches "
    "or mentors.",
    "mission_id": "The `Mission`: one the subject is offered to (without a subject, one the "
    "faculty member teaches or mentors in).",
    "note": "A note (at most 2,000 characters).",
}


@strawberry.input(description="Time already spent.")
class FacultyTimeLogInput:
    kind: FacultyTimeKind = strawberry.field(description="What it was spent on.")
    started_at: datetime = strawberry.field(
        description="When it started (UTC; at most 90 days ago)."
    )
    ended_at: datetime = strawberry.field(
        description="When it ended (UTC): after the start, at most 16 hours later and at "
        "most 5 minutes from now. It must not overlap another entry (ending when the next "
        "starts is fine)."
    )
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None, description=ABOUT["subject_id"]
    )
    topic_id: relay.GlobalID | None = strawberry.field(default=None, description=ABOUT["topic_id"])
    student_id: relay.GlobalID | None = strawberry.field(
        default=None, description=ABOUT["student_id"]
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description=ABOUT["mission_id"]
    )
    note: str | None = strawberry.field(default=None, description=ABOUT["note"])
    faculty_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Academics managers: the `User` (holding academics:teach) whose time it "
        "is. Others leave it out (their own).",
    )


@strawberry.input(description="A timer to start now, for your own time.")
class FacultyTimerStartInput:
    kind: FacultyTimeKind = strawberry.field(description="What the time is spent on.")
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None, description=ABOUT["subject_id"]
    )
    topic_id: relay.GlobalID | None = strawberry.field(default=None, description=ABOUT["topic_id"])
    student_id: relay.GlobalID | None = strawberry.field(
        default=None, description=ABOUT["student_id"]
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description=ABOUT["mission_id"]
    )
    note: str | None = strawberry.field(default=None, description=ABOUT["note"])


@strawberry.input(description="Which timer to stop.")
class FacultyTimerStopInput:
    id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The running entry (yours; academics managers: anyone's). Leave it out "
        "for your own running timer.",
    )


@strawberry.input(
    description="Changes to a time entry: fields left out stay as they are; null clears an "
    "optional one."
)
class FacultyTimeEntryUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The entry.")
    kind: FacultyTimeKind | None = strawberry.field(default=None, description="What it was.")
    started_at: datetime | None = strawberry.field(
        default=None, description="When it started (UTC; at most 90 days ago)."
    )
    ended_at: datetime | None = strawberry.field(
        default=None,
        description="When it ended (UTC; at most 16 hours after the start and 5 minutes "
        "from now). Not for a running timer: stop it.",
    )
    subject_id: relay.GlobalID | None = strawberry.field(
        default=UNSET, description=ABOUT["subject_id"]
    )
    topic_id: relay.GlobalID | None = strawberry.field(default=UNSET, description=ABOUT["topic_id"])
    student_id: relay.GlobalID | None = strawberry.field(
        default=UNSET, description=ABOUT["student_id"]
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=UNSET, description=ABOUT["mission_id"]
    )
    note: str | None = strawberry.field(default=UNSET, description=ABOUT["note"])


@strawberry.input(description="The entry to delete.")
class FacultyTimeEntryDeleteInput:
    id: relay.GlobalID = strawberry.field(
        description="The entry (yours; academics managers: anyone's). A running timer is discarded."
    )


@strawberry.input(description="A faculty member's weekly target.")
class FacultyTargetSetInput:
    faculty_id: relay.GlobalID = strawberry.field(
        description="The `User` (holding academics:teach)."
    )
    weekly_hours: float | None = strawberry.field(
        default=None,
        description="Hours a week, 1 to 80 (kept to the minute); null or left out: the "
        "default (the ALUMNET_FACULTY_WEEKLY_HOURS setting).",
    )


def _fields(input: Any) -> faculty_time.EntryFields:
    return faculty_time.EntryFields(
        kind=str(input.kind.value), subject_id=optional_pk(input.subject_id, "Subject"),
        topic_id=optional_pk(input.topic_id, "Topic"),
        student_id=optional_pk(input.student_id, "User"),
        mission_id=optional_pk(input.mission_id, "Mission"), note=input.note,
    )  # fmt: skip


def _kept(value: Any, type_name: str) -> Any:
    """An update's optional id: KEEP if left out, None if null, else its key."""
    if value is UNSET:
        return faculty_time.KEEP
    return optional_pk(value, type_name)


def _payload(found: Any, problems: Any) -> FacultyTimeEntryPayload:
    return FacultyTimeEntryPayload(
        entry=FacultyTimeEntry.from_row(found) if found is not None else None,
        user_errors=user_errors(FacultyTimeError, FacultyTimeErrorCode, problems),
    )


def _entries(
    info: Info,
    faculty_id: int | None,
    start: datetime | None,
    end: datetime | None,
    kind: FacultyTimeKind | None,
) -> KeysetQuery[FacultyTimeEntry]:
    e = EntryModel
    query = select(e.__table__)
    if faculty_id is None or not faculty_time.may_read_faculty(info.context.viewer, faculty_id):
        query = query.where(false())
    else:
        query = query.where(e.faculty_id == faculty_id)
    if start is not None:
        query = query.where(e.started_at >= faculty_time.utc(start))
    if end is not None:
        query = query.where(e.started_at < faculty_time.utc(end))
    if kind is not None:
        query = query.where(e.kind == kind.value)
    sort = [SortKey(e.started_at, descending=True), SortKey(e.id, descending=True)]
    return KeysetQuery(query, sort, FacultyTimeEntry.from_row, info.context.reads)


FROM_TEXT = "Only entries that started at or after this time (UTC)."
TO = "Only entries that started before this time (UTC)."


def _dialect(info: Info) -> str:
    return "sqlite" if info.context.runtime.database.is_sqlite else "postgresql"


def _default_target(info: Info) -> int:
    return faculty_time.default_minutes(info.context.runtime.settings)


@strawberry.type
class FacultyTimeQuery:
    @relay.connection(
        FacultyTimeEntryConnection,
        description="Your own time entries (faculty), newest first; empty for others.",
        max_results=1000,
        extensions=requires(),
    )
    def my_time_entries(
        self,
        info: Info,
        from_: Annotated[
            datetime | None, strawberry.argument(name="from", description=FROM_TEXT)
        ] = None,
        to: Annotated[datetime | None, strawberry.argument(description=TO)] = None,
        kind: Annotated[
            FacultyTimeKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
    ) -> Iterable[FacultyTimeEntry]:
        return _entries(info, info.context.viewer.user_id, from_, to, kind)

    @relay.connection(
        FacultyTimeEntryConnection,
        description="A faculty member's time entries, newest first: your own, or anyone's "
        "for academics managers; empty otherwise.",
        max_results=1000,
        extensions=requires(),
    )
    def faculty_time_entries(
        self,
        info: Info,
        faculty_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The faculty member (`User`).")
        ],
        from_: Annotated[
            datetime | None, strawberry.argument(name="from", description=FROM_TEXT)
        ] = None,
        to: Annotated[datetime | None, strawberry.argument(description=TO)] = None,
        kind: Annotated[
            FacultyTimeKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
    ) -> Iterable[FacultyTimeEntry]:
        return _entries(info, optional_pk(faculty_id, "User"), from_, to, kind)

    @strawberry.field(
        description="A faculty member's time week by week (ISO weeks, Monday 00:00 UTC) "
        "against their target: yours (faculty), or anyone's for academics managers; null "
        "otherwise.",
        extensions=requires(),
    )
    async def faculty_utilisation(
        self,
        info: Info,
        faculty_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="The faculty member (`User`); you if left out."),
        ] = None,
        weeks: Annotated[
            int, strawberry.argument(description="How many weeks, 1 to 52, up to `until`'s.")
        ] = faculty_time.WEEKS_DEFAULT,
        until: Annotated[
            date | None,
            strawberry.argument(description="A day of the last week (UTC); today if left out."),
        ] = None,
    ) -> FacultyUtilisation | None:
        if not 1 <= weeks <= faculty_time.WEEKS_MAX:
            raise bad_input(f"`weeks` is 1 to {faculty_time.WEEKS_MAX}.")
        viewer = info.context.viewer
        who = optional_pk(faculty_id, "User") if faculty_id is not None else viewer.user_id
        if who is None or not faculty_time.may_read_faculty(viewer, who):
            return None
        async with info.context.reads.connect() as conn:
            found = await faculty_time.utilisation(
                conn, _dialect(info), who, weeks=weeks,
                until=until or datetime.now(UTC).date(), default_target=_default_target(info),
            )  # fmt: skip
        total = sum(w.total for w in found)
        target = found[0].target
        return FacultyUtilisation(
            target_minutes=target, total_minutes=total,
            utilisation=total / (target * len(found)), weeks=[FacultyWeek.of(w) for w in found],
            _faculty_id=who,
        )  # fmt: skip

    @strawberry.field(
        description="Every faculty member's time in one ISO week (Monday 00:00 UTC): holders "
        "of the FACULTY role and anyone with entries that week, highest utilisation first "
        "(at most 1,000). Academics managers.",
        extensions=requires(Permission.ACADEMICS_MANAGE),
    )
    async def faculty_workload(
        self,
        info: Info,
        week: Annotated[date, strawberry.argument(description="A day of the week (UTC).")],
    ) -> list[FacultyWeek]:
        async with info.context.reads.connect() as conn:
            found = await faculty_time.workload(
                conn, _dialect(info), week, default_target=_default_target(info)
            )
        return [FacultyWeek.of(w) for w in found]


@strawberry.type
class FacultyTimeMutation:
    @strawberry.mutation(
        extensions=requires(),
        description="Log time already spent: faculty their own, academics managers anyone's "
        "(`facultyId`). Refused TIME_CONFLICT when it overlaps another entry of theirs.",
    )
    async def faculty_time_log(
        self, info: Info, input: Annotated[FacultyTimeLogInput, arg("The time spent.")]
    ) -> FacultyTimeEntryPayload:
        viewer = info.context.viewer
        fields = _fields(input)
        faculty_id = optional_pk(input.faculty_id, "User")
        found, problems = await run_in_transaction(
            info,
            lambda uow: faculty_time.log(
                uow, viewer, fields, input.started_at, input.ended_at, faculty_id=faculty_id
            ),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Start a timer for your own time now (faculty); refused TIMER_RUNNING "
        "when one runs already.",
    )
    async def faculty_timer_start(
        self, info: Info, input: Annotated[FacultyTimerStartInput, arg("What it times.")]
    ) -> FacultyTimeEntryPayload:
        viewer = info.context.viewer
        fields = _fields(input)
        found, problems = await run_in_transaction(
            info, lambda uow: faculty_time.start_timer(uow, viewer, fields)
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Stop a running timer: its minutes are recorded, rounded. One that ran "
        "more than 16 hours ends 16 hours after its start, and its note says so.",
    )
    async def faculty_timer_stop(
        self, info: Info, input: Annotated[FacultyTimerStopInput, arg("Which timer.")]
    ) -> FacultyTimeEntryPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            entry_id = pk_of(input.id, TYPE, "id") if input.id is not None else None
            return await faculty_time.stop_timer(uow, viewer, entry_id)

        found, problems = await run_in_transaction(info, change)
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Change a time entry (yours; academics managers: anyone's), checked as "
        "when it was logged.",
    )
    async def faculty_time_entry_update(
        self, info: Info, input: Annotated[FacultyTimeEntryUpdateInput, arg("The changes.")]
    ) -> FacultyTimeEntryPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            return await faculty_time.update(
                uow, viewer, pk_of(input.id, TYPE, "id"),
                kind=str(input.kind.value) if input.kind is not None else None,
                started_at=input.started_at, ended_at=input.ended_at,
                subject_id=_kept(input.subject_id, "Subject"),
                topic_id=_kept(input.topic_id, "Topic"),
                student_id=_kept(input.student_id, "User"),
                mission_id=_kept(input.mission_id, "Mission"),
                note=faculty_time.KEEP if input.note is UNSET else input.note,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Delete a time entry (yours; academics managers: anyone's).",
    )
    async def faculty_time_entry_delete(
        self, info: Info, input: Annotated[FacultyTimeEntryDeleteInput, arg("The entry.")]
    ) -> FacultyTimeEntryDeletePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: faculty_time.delete(uow, viewer, pk_of(input.id, TYPE, "id"))
        )
        return FacultyTimeEntryDeletePayload(
            deleted_id=optional_gid(TYPE, found),
            user_errors=user_errors(FacultyTimeError, FacultyTimeErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=requires(Permission.ACADEMICS_MANAGE),
        description="Set a faculty member's weekly target of logged time (academics "
        "managers); utilisation is measured against it.",
    )
    async def faculty_target_set(
        self, info: Info, input: Annotated[FacultyTargetSetInput, arg("The target.")]
    ) -> FacultyTargetPayload:
        viewer = info.context.viewer
        default = _default_target(info)

        async def change(uow: Any) -> Any:
            faculty_id = pk_of(input.faculty_id, "User", "facultyId")
            row = await faculty_time.set_target(uow, viewer, faculty_id, input.weekly_hours)
            return FacultyTarget(
                weekly_minutes=row.weekly_minutes if row.weekly_minutes is not None else default,
                is_default=row.weekly_minutes is None,
                updated_at=faculty_time.utc(row.updated_at), _faculty_id=faculty_id,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return FacultyTargetPayload(
            target=found,
            user_errors=user_errors(FacultyTargetError, FacultyTargetErrorCode, problems),
        )


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = [FacultyTimeEntry]
