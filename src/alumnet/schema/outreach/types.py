"""Outreach types and queries (outreach staff only): at-risk students, call lists,
follow-ups and the SRE dashboard."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import func, or_, select
from strawberry import relay

from alumnet.domain.cohorts import access
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders import integrity as loaders
from alumnet.persistence.models import AtRisk as AtRiskModel
from alumnet.persistence.models import CallList as CallListModel
from alumnet.persistence.models import CallLog as CallLogModel
from alumnet.persistence.models import Enrollment as EnrollmentModel
from alumnet.persistence.models import FollowUp as FollowUpModel
from alumnet.persistence.models import Mission as MissionModel
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.integrity.types import CallOutcome, _by_id
from alumnet.schema.nodes import enrollment_object, global_pk, load_visible, visible_user
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)
from alumnet.schema.permissions import may_in_mission, requires

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Enrollment, Mission
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
COHORTS = "alumnet.schema.cohorts.types"
IDENTITY = "alumnet.schema.identity.types"


@strawberry.type(description="A student marked at risk in a mission, with the reasons.")
class AtRiskStudent:
    attendance_percent: int = strawberry.field(description="Attendance over the rule's window.")
    missed_submissions: int = strawberry.field(description="Assignments due, not handed in.")
    reasons: list[str] = strawberry.field(description="Why, in words.")
    score: int = strawberry.field(description="Higher is more urgent.")
    computed_at: datetime = strawberry.field(description="When the list was refreshed (UTC).")
    _enrollment_id: strawberry.Private[int]

    @strawberry.field(description="The enrolment (student in mission).")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


async def mission_at_risk(info: Info, mission_id: int, first: int) -> list[AtRiskStudent] | None:
    if not await may_in_mission(info, Permission.OUTREACH, mission_id):
        return None
    if not 0 <= first <= 1000:
        raise bad_input("`first` must be between 0 and 1000.")
    query = (
        select(AtRiskModel.__table__)
        .where(AtRiskModel.mission_id == mission_id)
        .order_by(AtRiskModel.score.desc(), AtRiskModel.id)
        .limit(first)
    )
    async with info.context.reads.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        AtRiskStudent(
            attendance_percent=r.attendance_percent, missed_submissions=r.missed_submissions,
            reasons=list(r.reasons), score=r.score, computed_at=r.computed_at,
            _enrollment_id=r.enrollment_id,
        )
        for r in rows
    ]  # fmt: skip


@strawberry.enum(description="Which students a generated call list takes.")
class CallListSource(Enum):
    RULES = ev(
        "rules",
        description="The mission's at-risk list by its rules (`Mission.atRisk`), most urgent "
        "first.",
    )
    PREDICTION = ev(
        "prediction",
        description="Active students the early-warning model predicts at least "
        "`minProbability` likely to finish below the mission's bar (`Enrollment.risk`), "
        "highest first; needs a trained model (`riskModel`).",
    )
    BOTH = ev(
        "both",
        description="Those predicted (highest first), then the rules' other at-risk "
        "students (most urgent first); a student on both lists carries both reasons.",
    )


@strawberry.type(description="A student on a call list.")
class CallListEntry:
    priority: int = strawberry.field(description="1 is called first.")
    reasons: list[str] = strawberry.field(description="Why they are on the list.")
    script: str = strawberry.field(description="A suggested script for the call.")
    called: bool = strawberry.field(description="Whether a call was logged.")
    _enrollment_id: strawberry.Private[int]
    _student_id: strawberry.Private[int]

    @strawberry.field(description="The student.")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._student_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The student's phone number, if known.")
    async def phone(self, info: Info) -> str | None:
        row = await info.context.loaders.user_by_id.load(self._student_id)
        return getattr(row, "phone", None) if row is not None else None

    @strawberry.field(description="The enrolment, with its mentors.")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="A prioritised list of students for an SRE to call.")
class CallList(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="What it is called.")
    created_at: datetime = strawberry.field(description="When it was generated (UTC).")
    _assigned_to_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            title=row.title,
            created_at=row.created_at,
            _assigned_to_id=row.assigned_to_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        covered = await info.context.missions_within(Permission.OUTREACH)
        batches = info.context.viewer.scoped_batches(Permission.OUTREACH)
        return await load_visible(
            _by_id(info, CallListModel), node_ids,
            lambda viewer, row: covered is None or row.mission_id in covered
            or row.batch_id in batches,
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The SRE it is assigned to.")
    async def assigned_to(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._assigned_to_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The students to call, in order.")
    async def entries(self, info: Info) -> list[CallListEntry]:
        rows = await reads_loader(
            info, ("outreach", "entries"), loaders.entries_by_call_list_id
        ).load(self.id)
        return [
            CallListEntry(priority=r.priority, reasons=list(r.reasons), script=r.script,
                          called=r.status == "called", _enrollment_id=r.enrollment_id,
                          _student_id=r.student_id)
            for r in rows
        ]  # fmt: skip


@strawberry.type(description="Call lists, a page at a time.")
class CallListConnection(CountedConnection[CallList]):
    pass


@strawberry.enum(description="What call lists can be sorted by.")
class CallListOrderField(Enum):
    CREATED_AT = ev("created_at", description="When it was generated (natural: newest first).")
    TITLE = ev("title", description="Its title (natural: A first).")


@strawberry.input(description="How to sort call lists; ties are broken by id.")
class CallListOrder:
    field: CallListOrderField = strawberry.field(
        default=CallListOrderField.CREATED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.enum(description="Where a follow-up stands.")
class FollowUpStatus(Enum):
    OPEN = ev("open", description="To do.")
    DONE = ev("done", description="Done.")
    MISSED = ev("missed", description="Not done in time.")


@strawberry.type(description="A call to make again, or a promise to check, by a due day.")
class FollowUp(relay.Node):
    id: relay.NodeID[int]
    due_on: date = strawberry.field(description="The day it is due.")
    note: str = strawberry.field(description="What to follow up on.")
    status: FollowUpStatus = strawberry.field(description="Open, done or missed.")
    overdue: bool = strawberry.field(description="Open and past its due day.")
    _student_id: strawberry.Private[int]
    _assigned_to_id: strawberry.Private[int | None]
    _enrollment_id: strawberry.Private[int] = 0

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, due_on=row.due_on, note=row.note, status=FollowUpStatus(row.status),
            overdue=row.status == "open" and row.due_on < datetime.now(UTC).date(),
            _student_id=row.student_id, _assigned_to_id=row.assigned_to_id,
            _enrollment_id=row.enrollment_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        covered = await info.context.missions_within(Permission.OUTREACH)
        found = await load_visible(
            _by_id(info, FollowUpModel), node_ids,
            lambda viewer, row: bool(covered) or viewer.can(Permission.OUTREACH),
            info.context.viewer, cls.from_row,
        )  # fmt: skip
        if covered is None:
            return found
        # Outreach held within some batches or missions: the follow-ups of enrolments there.
        enrolments = await info.context.loaders.enrollment_by_id.load_many(
            [f._enrollment_id if f is not None else 0 for f in found]
        )
        return [
            f if f is not None and e is not None and e.mission_id in covered else None
            for f, e in zip(found, enrolments, strict=True)
        ]

    @strawberry.field(description="The student.")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._student_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The SRE responsible.")
    async def assigned_to(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._assigned_to_id)  # type: ignore[no-any-return]


@strawberry.type(description="Follow-ups, a page at a time.")
class FollowUpConnection(CountedConnection[FollowUp]):
    pass


@strawberry.enum(description="What follow-ups can be sorted by.")
class FollowUpOrderField(Enum):
    DUE_ON = ev("due_on", description="The day it is due (natural: soonest first).")
    CREATED_AT = ev("created_at", description="When it was made (natural: newest first).")


@strawberry.input(description="How to sort follow-ups; ties are broken by id.")
class FollowUpOrder:
    field: FollowUpOrderField = strawberry.field(
        default=FollowUpOrderField.DUE_ON, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.enum(description="Which follow-ups.")
class FollowUpWhen(Enum):
    OVERDUE = ev("overdue", description="Open and past due.")
    UPCOMING = ev("upcoming", description="Open and due today or later.")
    ALL_OPEN = ev("all_open", description="Every open one.")


@strawberry.type(description="How many calls had one outcome.")
class OutcomeCount:
    outcome: CallOutcome = strawberry.field(description="The outcome.")
    count: int = strawberry.field(description="How many calls.")


@strawberry.type(description="At-risk students in one mission.")
class MissionRiskCount:
    count: int = strawberry.field(description="Students at risk.")
    _mission_id: strawberry.Private[int]

    @strawberry.field(description="The mission.")
    async def mission(self, info: Info) -> Annotated[Mission, strawberry.lazy(COHORTS)] | None:
        from alumnet.schema.cohorts.types import Mission as MissionNode

        row = await info.context.loaders.mission_by_id.load(self._mission_id)
        return MissionNode.from_row(row) if row is not None else None


@strawberry.type(description="The SRE dashboard's figures, computed in SQL.")
class OutreachDashboard:
    at_risk_by_mission: list[MissionRiskCount] = strawberry.field(description="Per mission.")
    calls_today: int = strawberry.field(description="Calls logged today (UTC).")
    outcome_mix: list[OutcomeCount] = strawberry.field(description="Outcomes of today's calls.")
    overdue_follow_ups: int = strawberry.field(description="Open follow-ups past due.")
    not_reached: int = strawberry.field(
        description="At-risk students nobody has spoken to (a call picked up) in the last "
        "`notReachedDays` days."
    )


@strawberry.type
class OutreachQuery:
    @relay.connection(
        CallListConnection,
        description="Call lists (outreach staff): yours, or everyone's; newest first unless "
        "`orderBy` says otherwise.",
        max_results=1000,
        extensions=requires(Permission.OUTREACH, scoped=True),
    )
    def call_lists(
        self,
        info: Info,
        mine: Annotated[
            bool, strawberry.argument(description="Only those assigned to you.")
        ] = True,
        order_by: Annotated[
            CallListOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[CallList]:
        query = select(CallListModel.__table__)
        if mine:
            query = query.where(CallListModel.assigned_to_id == info.context.viewer.user_id)
        within = access.missions_where(info.context.viewer, Permission.OUTREACH)
        if within is not None:
            batches = info.context.viewer.scoped_batches(Permission.OUTREACH)
            query = query.where(
                or_(CallListModel.mission_id.in_(within), CallListModel.batch_id.in_(batches))
            )
        order = order_by or CallListOrder()
        column: Any
        if order.field == CallListOrderField.TITLE:
            down = descending(order.direction, SortDirection.ASC)
            column = CallListModel.title
        else:
            down = descending(order.direction, SortDirection.DESC)
            column = CallListModel.created_at
        sort = [SortKey(column, down), SortKey(CallListModel.id, down)]
        return KeysetQuery(query, sort, CallList.from_row, info.context.reads)

    @relay.connection(
        FollowUpConnection,
        description="Open follow-ups (outreach staff): overdue, upcoming or all open; yours or "
        "everyone's; by due day unless `orderBy` says otherwise.",
        max_results=1000,
        extensions=requires(Permission.OUTREACH, scoped=True),
    )
    def follow_ups(
        self,
        info: Info,
        when: Annotated[
            FollowUpWhen, strawberry.argument(description="Which.")
        ] = FollowUpWhen.ALL_OPEN,
        mine: Annotated[bool, strawberry.argument(description="Only yours.")] = True,
        order_by: Annotated[
            FollowUpOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[FollowUp]:
        today = datetime.now(UTC).date()
        query = select(FollowUpModel.__table__).where(FollowUpModel.status == "open")
        if when == FollowUpWhen.OVERDUE:
            query = query.where(FollowUpModel.due_on < today)
        elif when == FollowUpWhen.UPCOMING:
            query = query.where(FollowUpModel.due_on >= today)
        if mine:
            query = query.where(FollowUpModel.assigned_to_id == info.context.viewer.user_id)
        within = access.missions_where(info.context.viewer, Permission.OUTREACH)
        if within is not None:
            query = query.where(
                FollowUpModel.enrollment_id.in_(
                    select(EnrollmentModel.id).where(EnrollmentModel.mission_id.in_(within))
                )
            )
        order = order_by or FollowUpOrder()
        column: Any
        if order.field == FollowUpOrderField.CREATED_AT:
            down = descending(order.direction, SortDirection.DESC)
            column = FollowUpModel.created_at
        else:
            down = descending(order.direction, SortDirection.ASC)
            column = FollowUpModel.due_on
        sort = [SortKey(column, down), SortKey(FollowUpModel.id, down)]
        return KeysetQuery(query, sort, FollowUp.from_row, info.context.reads)

    @strawberry.field(
        description="The SRE dashboard (outreach staff), for a mission, a batch, or the "
        "whole programme (within the batches or missions you do outreach for, if only "
        "some).",
        extensions=requires(Permission.OUTREACH, scoped=True),
    )
    async def outreach_dashboard(
        self,
        info: Info,
        mission_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="One mission.")
        ] = None,
        batch_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="One batch.")
        ] = None,
        not_reached_days: Annotated[int, strawberry.argument(description="1 to 365.")] = 7,
    ) -> OutreachDashboard:
        if not 1 <= not_reached_days <= 365:
            raise bad_input("`notReachedDays` must be between 1 and 365.")
        missions = select(MissionModel.id)
        if mission_id is not None:
            missions = missions.where(MissionModel.id == (global_pk(mission_id, "Mission") or -1))
        if batch_id is not None:
            missions = missions.where(MissionModel.batch_id == (global_pk(batch_id, "Batch") or -1))
        within = access.missions_where(info.context.viewer, Permission.OUTREACH)
        if within is not None:
            missions = missions.where(MissionModel.id.in_(within))
        now = datetime.now(UTC)
        start_of_day = datetime.combine(now.date(), datetime.min.time(), UTC)
        reached = select(CallLogModel.enrollment_id).where(
            CallLogModel.outcome == "picked_up",
            CallLogModel.created_at >= now - timedelta(days=not_reached_days),
        )
        async with info.context.reads.connect() as conn:
            at_risk = (
                await conn.execute(
                    select(AtRiskModel.mission_id, func.count())
                    .where(AtRiskModel.mission_id.in_(missions))
                    .group_by(AtRiskModel.mission_id)
                    .order_by(AtRiskModel.mission_id)
                )
            ).all()
            today = (
                await conn.execute(
                    select(CallLogModel.outcome, func.count())
                    .where(
                        CallLogModel.created_at >= start_of_day,
                        CallLogModel.mission_id.in_(missions),
                    )
                    .group_by(CallLogModel.outcome)
                )
            ).all()
            overdue = (
                await conn.execute(
                    select(func.count())
                    .select_from(FollowUpModel)
                    .where(
                        FollowUpModel.status == "open",
                        FollowUpModel.due_on < now.date(),
                        FollowUpModel.enrollment_id.in_(
                            select(EnrollmentModel.id).where(
                                EnrollmentModel.mission_id.in_(missions)
                            )
                        ),
                    )
                )
            ).scalar_one()
            not_reached = (
                await conn.execute(
                    select(func.count()).where(
                        AtRiskModel.mission_id.in_(missions),
                        AtRiskModel.enrollment_id.not_in(reached),
                    )
                )
            ).scalar_one()
        return OutreachDashboard(
            at_risk_by_mission=[MissionRiskCount(count=int(n), _mission_id=m) for m, n in at_risk],
            calls_today=sum(int(n) for _, n in today),
            outcome_mix=[OutcomeCount(outcome=CallOutcome(o), count=int(n)) for o, n in today],
            overdue_follow_ups=int(overdue),
            not_reached=int(not_reached),
        )
