"""Cohorts types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, Self

import strawberry
from sqlalchemy import JSON, Row, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased
from strawberry import relay

from alumnet.domain.cohorts import access, roster
from alumnet.domain.errors import DomainError
from alumnet.persistence.loaders import cohorts as cohort_loaders
from alumnet.persistence.loaders import engagement as engagement_loaders
from alumnet.persistence.loaders import identity as identity_loaders
from alumnet.persistence.loaders.cohorts import ENROLLMENT_COLUMNS, MISSION_COLUMNS
from alumnet.persistence.loaders.identity import USER_COLUMNS
from alumnet.persistence.models import AttendanceDay as AttendanceModel
from alumnet.persistence.models import Enrollment as EnrollmentModel
from alumnet.persistence.models import MentorAssignment as MentorAssignmentModel
from alumnet.persistence.models import Mission as MissionModel
from alumnet.persistence.models import User as UserModel
from alumnet.schema import fastpath
from alumnet.schema.analytics import risk as early_warning
from alumnet.schema.communication import types as communication
from alumnet.schema.context import Info
from alumnet.schema.engagement import types as engagement
from alumnet.schema.identity.types import User, UserConnection
from alumnet.schema.integrity import types as integrity
from alumnet.schema.nodes import load_visible
from alumnet.schema.outreach import types as outreach
from alumnet.schema.pagination import (
    MAX_PAGE,
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
    selects,
)

ev = strawberry.enum_value


@strawberry.enum(description="Whether a batch is current.")
class BatchStatus(Enum):
    ACTIVE = ev("active", description="Running or about to run; shown in default lists.")
    ARCHIVED = ev("archived", description="Finished and put away: readable, hidden by default.")


@strawberry.enum(description="Where a mission is in its life.")
class MissionStatus(Enum):
    DRAFT = ev("draft", description="Being prepared; students may already be enrolled.")
    ACTIVE = ev("active", description="Running.")
    COMPLETED = ev("completed", description="Finished.")


@strawberry.enum(description="A student's standing in a mission.")
class EnrollmentStatus(Enum):
    ACTIVE = ev("active", description="Taking part.")
    COMPLETED = ev("completed", description="Finished the mission.")
    DROPPED = ev("dropped", description="Left the mission.")
    BANNED = ev(
        "banned", description="Banned by an integrity decision (for a time or indefinitely)."
    )
    DELISTED = ev("delisted", description="Removed from the mission by an integrity decision.")


# --- students, through their enrolments --------------------------------------------------

STUDENT_COLUMNS = (
    UserModel.name.label("student_name"),
    UserModel.email.label("student_email"),
    UserModel.status.label("student_status"),
    UserModel.email_verified_at.label("student_email_verified_at"),
    UserModel.created_at.label("student_created_at"),
    UserModel.last_sign_in_at.label("student_last_sign_in_at"),
    UserModel.phone.label("student_phone"),
)


def _student_from(row: Row[Any]) -> User:
    return User(
        id=row.student_id,
        name=row.student_name,
        email=row.student_email,
        email_verified=row.student_email_verified_at is not None,
        created_at=row.student_created_at,
        _status=row.student_status,
        _last_sign_in_at=row.student_last_sign_in_at,
        _phone=row.student_phone,
    )


@strawberry.enum(description="What a list of enrolments can be sorted by.")
class EnrollmentOrderField(Enum):
    STUDENT_NAME = ev("student_name", description="The student's name.")
    STUDENT_EMAIL = ev("student_email", description="The student's e-mail address.")
    ENROLLED_AT = ev("created_at", description="When the student was enrolled.")


@strawberry.input(description="How to sort enrolments; ties are broken by enrolment id.")
class EnrollmentOrder:
    field: EnrollmentOrderField = strawberry.field(
        default=EnrollmentOrderField.STUDENT_NAME, description="The key to sort by."
    )
    direction: SortDirection = strawberry.field(
        default=SortDirection.ASC, description="Ascending or descending."
    )


@strawberry.enum(description="What a mentor's list of mentees can be sorted by.")
class MenteeOrderField(Enum):
    NAME = ev("name", description="The student's name (natural: A first).")
    POINTS = ev("points", description="Their points in the mission (natural: most first).")
    ATTENDANCE = ev(
        "attendance",
        description="Days they attended in the mission, corrections counted (natural: most first).",
    )


@strawberry.input(description="How to sort mentees; ties are broken by the student's name, "
                  "then by enrolment id.")  # fmt: skip
class MenteeOrder:
    field: MenteeOrderField = strawberry.field(
        default=MenteeOrderField.NAME, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


def _mentee_sort(query: Any, order: MenteeOrder) -> tuple[Any, list[SortKey], bool]:
    name = SortKey(UserModel.name, attr="student_name")
    if order.field == MenteeOrderField.NAME:
        down = descending(order.direction, SortDirection.ASC)
        return query, [SortKey(UserModel.name, down, attr="student_name")], down
    down = descending(order.direction, SortDirection.DESC)
    if order.field == MenteeOrderField.POINTS:
        return query, [SortKey(EnrollmentModel.points, down), name], down
    attended = (
        select(func.count())
        .where(AttendanceModel.enrollment_id == EnrollmentModel.id,
               AttendanceModel.status == "present")
        .scalar_subquery()
    )  # fmt: skip
    query = query.add_columns(attended.label("days_attended"))
    return query, [SortKey(attended, down, attr="days_attended"), name], down


@strawberry.input(description="Narrows a list of enrolments; every condition given must hold.")
class EnrollmentFilter:
    status: list[EnrollmentStatus] | None = strawberry.field(
        default=None, description="Only enrolments in one of these states."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Part of the student's name or e-mail address, any letter case (at most "
        "100 characters).",
    )


def enrollment_query(
    info: Info,
    *,
    where: Any = None,
    filter: EnrollmentFilter | None,
    order_by: EnrollmentOrder | MenteeOrder | None,
    partition: tuple[Any, int] | None,
    batch_key: Any,
) -> KeysetQuery[Enrollment]:
    """Enrolments with their students in the same statement, as a dashboard wants them."""
    from alumnet.schema.errors import bad_input

    query = select(*ENROLLMENT_COLUMNS, *STUDENT_COLUMNS).join(
        UserModel, UserModel.id == EnrollmentModel.student_id
    )
    if where is not None:
        query = query.where(where)
    visible = access.visible_enrollments(info.context.viewer)
    if visible is not None:
        query = query.where(visible)
    key: tuple[Any, ...] = (batch_key,)
    if filter is not None:
        statuses = tuple(str(s.value) for s in filter.status or ())
        try:
            query = query.where(*roster.enrollment_conditions(statuses, filter.search))
        except DomainError as exc:
            raise bad_input(exc.problems[0].message) from None
        key += (statuses, filter.search)
    if isinstance(order_by, MenteeOrder):
        query, sort, down = _mentee_sort(query, order_by)
        field: Any = order_by.field
    else:
        order = order_by or EnrollmentOrder()
        down = order.direction == SortDirection.DESC
        column, attr = {
            EnrollmentOrderField.STUDENT_NAME: (UserModel.name, "student_name"),
            EnrollmentOrderField.STUDENT_EMAIL: (UserModel.email, "student_email"),
            EnrollmentOrderField.ENROLLED_AT: (EnrollmentModel.created_at, "created_at"),
        }[order.field]
        sort = [SortKey(column, down, attr=attr)]
        field = order.field
    sort.append(SortKey(EnrollmentModel.id, down))
    key += (field, down, info.context.viewer.user_id)
    return KeysetQuery(
        query,
        sort,
        Enrollment.from_row,
        info.context.reads,
        partition=partition,
        batch_key=key if partition else None,
        prefetch=_prefetch_mentors if selects(info, "edges", "node", "mentors") else None,
    )


async def _prefetch_mentors(info: Info, enrollments: list[Enrollment]) -> None:
    loader = reads_loader(info, ("objects", "enrollment.mentors"), _mentors_by_enrollment)
    groups = await loader.load_many([e.id for e in enrollments])
    for enrollment, mentors in zip(enrollments, groups, strict=True):
        enrollment._mentors = mentors


@strawberry.type(description="A student in a mission (and so in the mission's batch).")
class Enrollment(relay.Node):
    id: relay.NodeID[int]
    status: EnrollmentStatus = strawberry.field(description="The student's standing.")
    enrolled_at: datetime = strawberry.field(description="When the student was enrolled (UTC).")
    _mission_id: strawberry.Private[int]
    _student_id: strawberry.Private[int]
    _student: strawberry.Private[User | None] = None
    _mentors: strawberry.Private[list[User] | None] = None
    _points: strawberry.Private[int] = 0

    @classmethod
    def from_row(cls, row: Any) -> Self:
        student = _student_from(row) if hasattr(row, "student_name") else None
        return cls(
            id=row.id,
            status=EnrollmentStatus(row.status),
            enrolled_at=row.created_at,
            _mission_id=row.mission_id,
            _student_id=row.student_id,
            _student=student,
            _points=getattr(row, "points", 0),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            info.context.loaders.enrollment_by_id,
            node_ids,
            lambda viewer, row: scope.sees_enrollment(row.id),
            info.context.viewer,
            cls.from_row,
        )

    # Roster fields resolve synchronously (returning a loader's future when they must
    # wait): thousands of enrolments per response make every coroutine count.
    @strawberry.field(description="The student.")
    def student(self, info: Info) -> User:
        if self._student is not None:
            return self._student
        return reads_loader(info, ("objects", "user"), _users_by_id).load(self._student_id)  # type: ignore[return-value]

    @strawberry.field(description="The mission.")
    def mission(self, info: Info) -> Mission:
        return reads_loader(info, ("objects", "mission"), _missions_by_id).load(self._mission_id)  # type: ignore[return-value]

    @strawberry.field(description="The student's mentors in this mission, by name.")
    def mentors(self, info: Info) -> list[User]:
        if self._mentors is not None:
            return self._mentors
        return reads_loader(info, ("objects", "enrollment.mentors"), _mentors_by_enrollment).load(
            self.id
        )  # type: ignore[return-value]

    @strawberry.field(
        description="The student's certificate of completion, once the mission is completed "
        "and they met its rule; null otherwise."
    )
    async def certificate(self, info: Info) -> engagement.Certificate | None:
        return await engagement.enrollment_certificate(info, self.id)

    @strawberry.field(description="The student's standing: attendance, submissions, points, rank.")
    async def progress(self, info: Info) -> engagement.StudentProgress | None:
        return await engagement.enrollment_progress(info, self.id)

    @strawberry.field(description="The student's points in this mission (the ledger's sum).")
    def points(self) -> int:
        return self._points

    @relay.connection(
        engagement.PointEntryConnection,
        description="The ledger of the student's points in this mission, latest first unless "
        "`orderBy` says otherwise: every award, correction and penalty with its reason.",
        max_results=MAX_PAGE,
    )
    def point_entries(
        self,
        info: Info,
        order_by: Annotated[
            engagement.PointEntryOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[engagement.PointEntry]:
        return engagement.enrollment_point_entries(info, self.id, order_by)

    @relay.connection(
        engagement.AttendanceConnection,
        description="The student's attendance in this mission, latest day first.",
        max_results=MAX_PAGE,
    )
    def attendance(
        self,
        info: Info,
        filter: Annotated[
            engagement.AttendanceFilter | None, strawberry.argument(description="Which days.")
        ] = None,
    ) -> Iterable[engagement.AttendanceRecord]:
        return engagement.attendance_query(
            info, partition=(AttendanceModel.enrollment_id, self.id), filter=filter
        )

    @strawberry.field(description="The student's submissions in this mission, oldest first.")
    async def submissions(self, info: Info) -> list[engagement.Submission]:
        return await engagement.enrollment_submissions(info, self.id)

    @strawberry.field(
        description="Integrity flags on this enrolment, latest first: staff and the "
        "student's mentors see the evidence; the student sees the flags without it."
    )
    async def integrity_flags(self, info: Info) -> list[integrity.IntegrityFlag]:
        return await integrity.enrollment_flags(info, self)

    @strawberry.field(description="Integrity decisions on this enrolment, latest first.")
    async def decisions(self, info: Info) -> list[integrity.IntegrityDecision]:
        return await integrity.enrollment_decisions(info, self)

    @strawberry.field(description="Every change of this enrolment's access: who, when, why.")
    async def access_history(self, info: Info) -> list[integrity.AccessChange]:
        return await integrity.enrollment_access_history(info, self)

    @relay.connection(
        integrity.CallLogConnection | None,
        description="Calls to the student about this mission, latest first unless `orderBy` "
        "says otherwise: outreach staff and the student's mentors; null for anyone else (the "
        "student included).",
        max_results=MAX_PAGE,
    )
    async def call_logs(
        self,
        info: Info,
        order_by: Annotated[
            integrity.CallLogOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[integrity.CallLog] | None:
        return await integrity.enrollment_call_logs(info, self, order_by)

    @strawberry.field(
        description="The student's predicted chance of finishing this mission below its bar, "
        "with the factors behind it (docs/EARLY_WARNING.md): for outreach staff and cohort "
        "managers within reach and the student's mentors; null for anyone else (the student "
        "included), and when there is no prediction (not active, or no trained model)."
    )
    async def risk(self, info: Info) -> early_warning.EnrollmentRisk | None:
        return await early_warning.enrollment_risk(info, self)


async def _users_by_id(reads: Any, ids: Sequence[int]) -> list[User | None]:
    rows = await identity_loaders.users_by_id(reads, ids)
    return [User.from_row(r) if r is not None else None for r in rows]


async def _missions_by_id(reads: Any, ids: Sequence[int]) -> list[Mission | None]:
    rows = await cohort_loaders.missions_by_id(reads, ids)
    return [Mission.from_row(r) if r is not None else None for r in rows]


async def _mentors_by_enrollment(reads: Any, ids: Sequence[int]) -> list[list[User]]:
    groups = await cohort_loaders.mentors_by_enrollment_id(reads, ids)
    return [[User.from_row(r) for r in rows] for rows in groups]


@strawberry.type(description="Enrolments, a page at a time.")
class EnrollmentConnection(CountedConnection[Enrollment]):
    fast_node: ClassVar[str | None] = "Enrollment"


def _student_source(enrollment: fastpath.Source) -> fastpath.Source:
    return {
        "id": enrollment["student_id"],
        "name": enrollment["student_name"],
        "email": enrollment["student_email"],
        "email_verified_at": enrollment["student_email_verified_at"],
        "created_at": enrollment["student_created_at"],
    }


_MENTOR = aliased(UserModel, name="mentor")  # not the student's `users` of the enclosing page
# Each assignment's mentor by primary key. The OFFSET 0 fence keeps PostgreSQL from
# flattening the lookup into a merge join that walks the users' index from its start for
# every enrolment (measured: half the page statement's time).
_MENTOR_OF_ASSIGNMENT = (
    select(_MENTOR.id, _MENTOR.name, _MENTOR.email, _MENTOR.email_verified_at, _MENTOR.created_at)
    .where(_MENTOR.id == MentorAssignmentModel.mentor_id)
    .offset(literal_column("0"))
    .lateral("mentor_of_assignment")
)


def _mentors_json(enrollment: fastpath.Source, mentor_json: fastpath.ObjectJson) -> Any:
    mentor = _MENTOR_OF_ASSIGNMENT.c
    ordered = aggregate_order_by(mentor_json(mentor), mentor.name, mentor.id)  # type: ignore[arg-type]
    mentors = (
        select(func.json_agg(ordered))
        .select_from(MentorAssignmentModel)
        .join(_MENTOR_OF_ASSIGNMENT, true())
        .where(MentorAssignmentModel.enrollment_id == enrollment["id"])
        .scalar_subquery()
    )
    return func.coalesce(mentors, fastpath.sql_string("[]").cast(JSON))


fastpath.register(
    "Enrollment",
    {
        "id": fastpath.node_id("Enrollment"),
        "status": fastpath.enum_name("status", EnrollmentStatus),
        "enrolledAt": fastpath.iso_datetime("created_at"),
        "student": (lambda e, user_json: user_json(_student_source(e)), "User"),
        "mentors": (_mentors_json, "User"),
    },
)
# Only the User fields every viewer who may see the user sees alike.
fastpath.register(
    "User",
    {
        "id": fastpath.node_id("User"),
        "name": fastpath.column("name"),
        "email": fastpath.column("email"),
        "emailVerified": (lambda u, _: u["email_verified_at"].is_not(None), None),
        "createdAt": fastpath.iso_datetime("created_at"),
    },
)


@strawberry.type(description="A mentor of a mission and how many of its students they mentor.")
class MentorLoad:
    mentor: User = strawberry.field(description="The mentor.")
    mentee_count: int | None = strawberry.field(
        description="How many students of the mission they mentor; null unless you are staff "
        "or this mentor."
    )
    whole_mission: bool = strawberry.field(
        default=False,
        description="They mentor the whole mission (every student enrolled), not students "
        "one by one.",
    )


@strawberry.type(description="A programme of work inside a batch, with its own dates and mentors.")
class Mission(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="What the mission is called.")
    code: str = strawberry.field(description="Short unique code, upper case, e.g. `B24-WEB`.")
    description: str = strawberry.field(description="What the mission is about (plain text).")
    status: MissionStatus = strawberry.field(description="Draft, active or completed.")
    starts_on: date = strawberry.field(description="First day (the mission's local date).")
    ends_on: date = strawberry.field(description="Last day (the mission's local date).")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    _batch_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            title=row.title,
            code=row.code,
            description=row.description,
            status=MissionStatus(row.status),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            created_at=row.created_at,
            _batch_id=row.batch_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            info.context.loaders.mission_by_id,
            node_ids,
            lambda viewer, row: scope.sees_mission(row.id),
            info.context.viewer,
            cls.from_row,
        )

    @strawberry.field(description="The batch this mission belongs to.")
    async def batch(self, info: Info) -> Batch:
        row = await info.context.loaders.batch_by_id.load(self._batch_id)
        assert row is not None
        return Batch.from_row(row)

    @relay.connection(
        EnrollmentConnection,
        description="The students of this mission (those you may see), by name by default.",
        max_results=MAX_PAGE,
    )
    def enrollments(
        self,
        info: Info,
        filter: Annotated[
            EnrollmentFilter | None, strawberry.argument(description="Which enrolments.")
        ] = None,
        order_by: Annotated[
            EnrollmentOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[Enrollment]:
        return enrollment_query(
            info,
            filter=filter,
            order_by=order_by,
            partition=(EnrollmentModel.mission_id, self.id),
            batch_key="Mission.enrollments",
        )

    @strawberry.field(
        description="The mentors of this mission with their mentee counts (mentor load), by "
        "name. Mentors see themselves; students see their own mentors."
    )
    async def mentors(self, info: Info) -> list[MentorLoad]:
        rows = await info.context.loaders.mentor_loads_by_mission_id.load(self.id)
        scope = await info.context.cohort_scope()
        me = info.context.viewer.user_id
        loads = []
        for row in rows:
            if scope.sees_whole_mission(self.id) or row.id == me:
                loads.append(MentorLoad(mentor=User.from_row(row), mentee_count=row.mentee_count,
                                        whole_mission=bool(row.whole_mission)))  # fmt: skip
            elif (self.id, row.id) in scope.my_mentors:
                loads.append(MentorLoad(mentor=User.from_row(row), mentee_count=None,
                                        whole_mission=bool(row.whole_mission)))  # fmt: skip
        return loads

    @strawberry.field(
        description="Students at risk by the last refresh, most urgent first (outreach "
        "staff; null for others)."
    )
    async def at_risk(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (at most 1,000).")] = 100,
    ) -> list[outreach.AtRiskStudent] | None:
        return await outreach.mission_at_risk(info, self.id, first)

    @relay.connection(
        communication.NoticeConnection,
        description="Notices to this mission you may read, newest first unless `orderBy` says "
        "otherwise.",
        max_results=1000,
    )
    def notices(
        self,
        info: Info,
        order_by: Annotated[
            communication.NoticeOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[communication.Notice]:
        return communication.notices_for(info, mission_id=self.id, batch_id=None, order_by=order_by)

    @strawberry.field(description="Time zone, attendance asked for, and point rules.")
    async def engagement_rules(self, info: Info) -> engagement.EngagementRules:
        return engagement.EngagementRules.of(await engagement.rules_for(info, self.id))

    @strawberry.field(
        description="Its documents and links, by folder and title: for its active students, "
        "its mentors and staff (empty for others, and for a restricted student)."
    )
    async def resources(
        self,
        info: Info,
        folder: Annotated[
            str | None, strawberry.argument(description='Only this folder ("" for none).')
        ] = None,
    ) -> list[engagement.Resource]:
        return await engagement.mission_resources(info, self.id, folder)

    @strawberry.field(description="Its assignments, by due time.")
    async def assignments(self, info: Info) -> list[engagement.Assignment]:
        rows = await reads_loader(
            info,
            ("engagement", "mission.assignments"),
            engagement_loaders.assignments_by_mission_id,
        ).load(self.id)
        return [engagement.Assignment.from_row(r) for r in rows]

    @relay.connection(
        engagement.MeetingConnection,
        description="Its meetings, earliest first unless `orderBy` says otherwise.",
        max_results=MAX_PAGE,
    )
    def meetings(
        self,
        info: Info,
        order_by: Annotated[
            engagement.MeetingOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[engagement.Meeting]:
        return engagement.mission_meetings(info, self.id, order_by)

    @relay.connection(
        engagement.AttendanceConnection,
        description="Attendance records of the students you may see, latest day first.",
        max_results=MAX_PAGE,
    )
    def attendance(
        self,
        info: Info,
        filter: Annotated[
            engagement.AttendanceFilter | None, strawberry.argument(description="Which records.")
        ] = None,
    ) -> Iterable[engagement.AttendanceRecord]:
        return engagement.attendance_query(
            info, partition=(AttendanceModel.mission_id, self.id), filter=filter
        )

    @strawberry.field(
        description="Active students by points, with rank (ranked over everyone; you see the "
        "entries of the students you may see)."
    )
    async def leaderboard(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (at most 1,000).")] = 50,
    ) -> list[engagement.LeaderboardEntry]:
        return await engagement.mission_leaderboard(info, self.id, first)

    @strawberry.field(
        description="Each active student's work for the assignments due so far (handed in, "
        "missing, late, graded, waiting), most missing first: staff, and the mission's "
        "mentors for their mentees; null for others."
    )
    async def work_by_student(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (at most 1,000).")] = 100,
    ) -> list[engagement.StudentWork] | None:
        return await engagement.mission_work(info, self.id, first)

    @strawberry.field(
        description="Submissions waiting to be graded, per mentor, most first: staff see every "
        "mentor of the mission, a mentor their own; null for others."
    )
    async def grading_backlog(self, info: Info) -> list[engagement.MentorBacklog] | None:
        return await engagement.mission_backlog(info, self.id)

    @strawberry.field(
        description="Attendance per day: students present of those enrolled. Staff and the "
        "mission's mentors; null for others."
    )
    async def attendance_by_day(
        self,
        info: Info,
        from_: engagement.FromDay = None,
        to: engagement.ToDay = None,
    ) -> list[engagement.DayRate] | None:
        return await engagement.rates(info, [self.id], from_, to, self.starts_on, self.ends_on)

    @strawberry.field(description="Attendance per week (Monday to Sunday); as attendanceByDay.")
    async def attendance_by_week(
        self,
        info: Info,
        from_: engagement.FromDay = None,
        to: engagement.ToDay = None,
    ) -> list[engagement.WeekRate] | None:
        days = await engagement.rates(info, [self.id], from_, to, self.starts_on, self.ends_on)
        return engagement.week_rates(days) if days is not None else None


@strawberry.type(description="Missions, a page at a time.")
class MissionConnection(CountedConnection[Mission]):
    pass


@strawberry.type(description="An intake of students, with the missions that run inside it.")
class Batch(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="What the batch is called, e.g. `Spring 2026`.")
    code: str = strawberry.field(description="Short unique code, upper case, e.g. `B2026S`.")
    description: str = strawberry.field(description="About the batch (plain text).")
    status: BatchStatus = strawberry.field(description="Active or archived.")
    starts_on: date = strawberry.field(description="First day of the batch.")
    ends_on: date = strawberry.field(description="Last day of the batch.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    archived_at: datetime | None = strawberry.field(
        description="When it was archived (UTC); null while active."
    )

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            code=row.code,
            description=row.description,
            status=BatchStatus(row.status),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            created_at=row.created_at,
            archived_at=row.archived_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            info.context.loaders.batch_by_id,
            node_ids,
            lambda viewer, row: scope.sees_batch(row.id),
            info.context.viewer,
            cls.from_row,
        )

    @relay.connection(
        MissionConnection,
        description="The missions of this batch you may see, by start date.",
        max_results=MAX_PAGE,
    )
    def missions(self, info: Info) -> Iterable[Mission]:
        query = select(*MISSION_COLUMNS)
        visible = access.visible_missions(info.context.viewer)
        if visible is not None:
            query = query.where(visible)
        return KeysetQuery(
            query,
            [SortKey(MissionModel.starts_on), SortKey(MissionModel.id)],
            Mission.from_row,
            info.context.reads,
            partition=(MissionModel.batch_id, self.id),
            batch_key=("Batch.missions", info.context.viewer.user_id),
        )

    @relay.connection(
        communication.NoticeConnection,
        description="Notices to this batch you may read, newest first unless `orderBy` says "
        "otherwise.",
        max_results=1000,
    )
    def notices(
        self,
        info: Info,
        order_by: Annotated[
            communication.NoticeOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[communication.Notice]:
        return communication.notices_for(info, mission_id=None, batch_id=self.id, order_by=order_by)

    async def _mission_ids(self, info: Info) -> list[int]:
        async with info.context.reads.connect() as conn:
            rows = await conn.execute(
                select(MissionModel.id).where(MissionModel.batch_id == self.id)
            )
            return [int(i) for i in rows.scalars()]

    @strawberry.field(
        description="Attendance per day over all the batch's missions. Staff only (or a mentor "
        "of one of its missions); null for others."
    )
    async def attendance_by_day(
        self,
        info: Info,
        from_: engagement.FromDay = None,
        to: engagement.ToDay = None,
    ) -> list[engagement.DayRate] | None:
        ids = await self._mission_ids(info)
        return await engagement.rates(info, ids, from_, to, self.starts_on, self.ends_on)

    @strawberry.field(description="Attendance per week over all its missions; as attendanceByDay.")
    async def attendance_by_week(
        self,
        info: Info,
        from_: engagement.FromDay = None,
        to: engagement.ToDay = None,
    ) -> list[engagement.WeekRate] | None:
        ids = await self._mission_ids(info)
        days = await engagement.rates(info, ids, from_, to, self.starts_on, self.ends_on)
        return engagement.week_rates(days) if days is not None else None

    @relay.connection(
        UserConnection,
        description="The students enrolled in any mission of this batch (those you may see), "
        "by name.",
        max_results=MAX_PAGE,
    )
    def students(self, info: Info) -> Iterable[User]:
        query = (
            select(*USER_COLUMNS, MissionModel.batch_id)
            .join(EnrollmentModel, EnrollmentModel.student_id == UserModel.id)
            .join(MissionModel, MissionModel.id == EnrollmentModel.mission_id)
        )
        visible = access.visible_enrollments(info.context.viewer)
        if visible is not None:
            query = query.where(visible)
        inner = query.distinct().subquery()
        return KeysetQuery(
            select(inner),
            [SortKey(inner.c.name), SortKey(inner.c.id)],
            User.from_row,
            info.context.reads,
            partition=(inner.c.batch_id, self.id),
            batch_key=("Batch.students", info.context.viewer.user_id),
        )


@strawberry.type(description="Batches, a page at a time.")
class BatchConnection(CountedConnection[Batch]):
    pass


@strawberry.type(description="A mentor assigned to one student in one mission.")
class MentorAssignment(relay.Node):
    id: relay.NodeID[int]
    assigned_at: datetime = strawberry.field(description="When the mentor was assigned (UTC).")
    _mission_id: strawberry.Private[int]
    _student_id: strawberry.Private[int]
    _mentor_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            assigned_at=row.created_at,
            _mission_id=row.mission_id,
            _student_id=row.student_id,
            _mentor_id=row.mentor_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            info.context.loaders.assignment_by_id,
            node_ids,
            lambda viewer, row: (
                scope.sees_whole_mission(row.mission_id)
                or viewer.user_id in (row.mentor_id, row.student_id)
            ),
            info.context.viewer,
            cls.from_row,
        )

    @strawberry.field(description="The mission.")
    async def mission(self, info: Info) -> Mission:
        row = await info.context.loaders.mission_by_id.load(self._mission_id)
        assert row is not None
        return Mission.from_row(row)

    @strawberry.field(description="The student.")
    async def student(self, info: Info) -> User:
        row = await info.context.loaders.user_by_id.load(self._student_id)
        assert row is not None
        return User.from_row(row)

    @strawberry.field(description="The mentor.")
    async def mentor(self, info: Info) -> User:
        row = await info.context.loaders.user_by_id.load(self._mentor_id)
        assert row is not None
        return User.from_row(row)


@strawberry.enum(description="What changed in a mission's roster.")
class RosterChangeKind(Enum):
    ENROLLED = ev("ENROLLED", description="Students were enrolled.")
    STATUS_CHANGED = ev("STATUS_CHANGED", description="An enrolment's status changed.")
    MENTOR_ASSIGNED = ev("MENTOR_ASSIGNED", description="A mentor was assigned.")
    MENTOR_UNASSIGNED = ev("MENTOR_UNASSIGNED", description="A mentor was unassigned.")
    MENTOR_REASSIGNED = ev("MENTOR_REASSIGNED", description="Students moved to another mentor.")


@strawberry.type(description="A change to a mission's enrolments or mentor assignments.")
class MissionRosterChange:
    mission_id: relay.GlobalID = strawberry.field(description="The mission that changed.")
    kind: RosterChangeKind = strawberry.field(description="What changed.")
    student_ids: list[relay.GlobalID] = strawberry.field(
        description="The students concerned (those you may see)."
    )
    occurred_at: datetime = strawberry.field(description="When it was committed (UTC).")
