"""Integrity and outreach types, and their fields on enrolments and missions.

Who sees what: flags are for staff who may flag, decide or do outreach, and for the
student's mentors; the student sees that a flag exists but never its evidence.
Decisions, appeals and the access history are for whoever may see the enrolment (the
student included). Call logs are for outreach staff and the student's mentors, never for
the student. At-risk lists, call lists and follow-ups are for outreach staff."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders import integrity as loaders
from alumnet.persistence.models import Appeal as AppealModel
from alumnet.persistence.models import CallLog as CallLogModel
from alumnet.persistence.models import IntegrityDecision as DecisionModel
from alumnet.persistence.models import IntegrityFlag as FlagModel
from alumnet.schema.context import Info
from alumnet.schema.nodes import enrollment_object, int_ids, load_visible, visible_user
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)
from alumnet.schema.permissions import may_in_mission

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Enrollment
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
COHORTS = "alumnet.schema.cohorts.types"
IDENTITY = "alumnet.schema.identity.types"


def _by_id(info: Info, model: Any) -> Any:
    async def load(reads: Any, ids: Any) -> Any:
        return await loaders.of_model_by_id(reads, model, ids)

    return reads_loader(info, ("integrity", f"{model.__tablename__}.by_id"), load)


def is_staff_for_integrity(info: Info) -> bool:
    viewer = info.context.viewer
    return any(
        viewer.can(p)
        for p in (Permission.INTEGRITY_FLAG, Permission.INTEGRITY_DECIDE, Permission.OUTREACH)
    )


INTEGRITY_STAFF = (Permission.INTEGRITY_FLAG, Permission.INTEGRITY_DECIDE, Permission.OUTREACH)


async def staff_for_integrity_in(info: Info, mission_id: int) -> bool:
    """Staff for integrity everywhere, or within this mission or its batch."""
    for permission in INTEGRITY_STAFF:
        if await may_in_mission(info, permission, mission_id):
            return True
    return False


async def integrity_staff_missions(info: Info) -> frozenset[int]:
    """The missions a viewer who is staff for integrity only within some sees flags of."""
    covered: set[int] = set()
    for permission in INTEGRITY_STAFF:
        covered |= await info.context.missions_within(permission) or frozenset()
    return frozenset(covered)


async def mentors(info: Info, mission_id: int, student_id: int) -> bool:
    scope = await info.context.cohort_scope()
    return (mission_id, student_id) in scope.mentees


@strawberry.enum(description="What a flag is about.")
class FlagKind(Enum):
    CHEATING = ev("cheating", description="Cheating.")
    PLAGIARISM = ev("plagiarism", description="Plagiarism.")
    REPEATED_LATE_WORK = ev("repeated_late_work", description="Repeatedly late work.")
    OTHER = ev("other", description="Something else (see the evidence).")


@strawberry.enum(description="What a manager decided.")
class DecisionKind(Enum):
    WARN = ev("warn", description="A warning; access unchanged.")
    BAN = ev("ban", description="Banned until an end date, or indefinitely.")
    DELIST = ev("delist", description="Removed from the mission.")


@strawberry.enum(description="Whether a decision still holds.")
class DecisionStatus(Enum):
    IN_FORCE = ev("in_force", description="In force.")
    REVERSED = ev("reversed", description="Reversed by an accepted appeal.")


@strawberry.enum(description="Where an appeal stands.")
class AppealStatus(Enum):
    PENDING = ev("pending", description="Waiting for a manager.")
    ACCEPTED = ev("accepted", description="Accepted: access restored, penalty reversed.")
    REJECTED = ev("rejected", description="Rejected, with a reason.")


@strawberry.type(description="A concern about a student's work in a mission.")
class IntegrityFlag(relay.Node):
    id: relay.NodeID[int]
    kind: FlagKind = strawberry.field(description="What it is about.")
    evidence: str | None = strawberry.field(
        description="What was seen; null for the student it concerns."
    )
    decided: bool = strawberry.field(description="Whether a decision was made on it.")
    raised_at: datetime = strawberry.field(description="When (UTC).")
    _raised_by_id: strawberry.Private[int | None]
    _enrollment_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any, *, with_evidence: bool = True) -> Self:
        return cls(
            id=row.id, kind=FlagKind(row.kind), evidence=row.evidence if with_evidence else None,
            decided=row.status == "decided", raised_at=row.created_at,
            _raised_by_id=row.raised_by_id, _enrollment_id=row.enrollment_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        if not is_staff_for_integrity(info):
            scope = await info.context.cohort_scope()
            covered = await integrity_staff_missions(info)
            check = lambda viewer, row: (  # noqa: E731
                row.mission_id in covered or (row.mission_id, row.student_id) in scope.mentees
            )
        else:
            check = lambda viewer, row: True  # noqa: E731
        return await load_visible(
            _by_id(info, FlagModel), node_ids, check, info.context.viewer, cls.from_row
        )

    @strawberry.field(description="Who raised it (staff and mentors only).")
    async def raised_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        if self.evidence is None:
            return None
        return await visible_user(info, self._raised_by_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The enrolment it concerns (student in mission).")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="A student's appeal of a decision.")
class Appeal(relay.Node):
    id: relay.NodeID[int]
    statement: str = strawberry.field(description="The student's statement.")
    status: AppealStatus = strawberry.field(description="Pending, accepted or rejected.")
    review_reason: str | None = strawberry.field(description="The manager's reason, once reviewed.")
    submitted_at: datetime = strawberry.field(description="When (UTC).")
    reviewed_at: datetime | None = strawberry.field(description="When it was reviewed (UTC).")
    _decision_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, statement=row.statement, status=AppealStatus(row.status),
            review_reason=row.review_reason, submitted_at=row.created_at,
            reviewed_at=row.reviewed_at, _decision_id=row.decision_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        viewer = info.context.viewer
        staff = viewer.can(Permission.INTEGRITY_DECIDE)
        # A decider within some batches or missions: the appeals of decisions made there.
        missions: dict[int, int] = {}
        covered: frozenset[int] = frozenset()
        if not staff and viewer.holds_somewhere(Permission.INTEGRITY_DECIDE):
            covered = await info.context.missions_within(Permission.INTEGRITY_DECIDE) or covered
            appeals = await _by_id(info, AppealModel).load_many(
                [i for i in int_ids(node_ids) if i is not None]
            )
            decisions = await _by_id(info, DecisionModel).load_many(
                [a.decision_id for a in appeals if a is not None]
            )
            missions = {d.id: d.mission_id for d in decisions if d is not None}
        return await load_visible(
            _by_id(info, AppealModel), node_ids,
            lambda v, row: staff or row.student_id == v.user_id
            or missions.get(row.decision_id) in covered,
            viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The decision appealed.")
    async def decision(self, info: Info) -> IntegrityDecision | None:
        row = await _by_id(info, DecisionModel).load(self._decision_id)
        return IntegrityDecision.from_row(row) if row is not None else None


@strawberry.type(description="A manager's integrity decision on an enrolment.")
class IntegrityDecision(relay.Node):
    id: relay.NodeID[int]
    kind: DecisionKind = strawberry.field(description="Warn, ban or delist.")
    reason: str = strawberry.field(description="Why.")
    ban_ends_on: date | None = strawberry.field(
        description="A ban's last day (mission time); null for an indefinite ban or others."
    )
    penalty_points: int = strawberry.field(description="Points taken away (0 for none).")
    status: DecisionStatus = strawberry.field(description="In force or reversed.")
    appeal_until: datetime = strawberry.field(description="Last moment to appeal (UTC).")
    decided_at: datetime = strawberry.field(description="When (UTC).")
    _enrollment_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=DecisionKind(row.kind), reason=row.reason,
            ban_ends_on=row.ban_ends_on, penalty_points=row.penalty_points,
            status=DecisionStatus(row.status), appeal_until=row.appeal_until,
            decided_at=row.created_at, _enrollment_id=row.enrollment_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            _by_id(info, DecisionModel), node_ids,
            lambda viewer, row: scope.sees_enrollment(row.enrollment_id),
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The student's appeal, if any.")
    async def appeal(self, info: Info) -> Appeal | None:
        row = await reads_loader(
            info, ("integrity", "appeal"), loaders.appeals_by_decision_id
        ).load(self.id)
        return Appeal.from_row(row) if row is not None else None

    @strawberry.field(description="The enrolment it concerns.")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="A change of an enrolment's access: who, when, why.")
class AccessChange:
    from_status: str = strawberry.field(description="The status before (e.g. `active`).")
    to_status: str = strawberry.field(description="The status after (e.g. `banned`).")
    reason: str = strawberry.field(description="Why.")
    changed_at: datetime = strawberry.field(description="When (UTC).")
    _changed_by_id: strawberry.Private[int | None]

    @strawberry.field(description="Who changed it; null for the system (a ban's end).")
    async def changed_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._changed_by_id)  # type: ignore[no-any-return]


@strawberry.enum(description="How a call went.")
class CallOutcome(Enum):
    PICKED_UP = ev("picked_up", description="The student answered.")
    NO_ANSWER = ev("no_answer", description="No answer.")
    PHONE_OFF = ev("phone_off", description="The phone was off.")
    BUSY = ev("busy", description="Busy.")
    WRONG_NUMBER = ev("wrong_number", description="Wrong number.")
    RESCHEDULE = ev("reschedule", description="Call again on an agreed day (a follow-up).")


@strawberry.type(description="One call to a student and what came of it.")
class CallLog:
    outcome: CallOutcome = strawberry.field(description="How it went.")
    notes: str = strawberry.field(description="The caller's notes.")
    student_response: str = strawberry.field(description="What the student said or promised.")
    called_at: datetime = strawberry.field(description="When (UTC).")
    _caller_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            outcome=CallOutcome(row.outcome), notes=row.notes,
            student_response=row.student_response, called_at=row.created_at,
            _caller_id=row.caller_id,
        )  # fmt: skip

    @strawberry.field(description="Who called.")
    async def caller(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._caller_id)  # type: ignore[no-any-return]


@strawberry.type(description="Calls, a page at a time.")
class CallLogConnection(CountedConnection[CallLog]):  # type: ignore[type-var]
    @classmethod
    async def resolve_connection(  # type: ignore[override]
        cls, nodes: KeysetQuery[Any] | None, **kwargs: Any
    ) -> Self | None:
        # None: the viewer may not read these calls at all (not an empty list).
        if nodes is None:
            return None
        return await super().resolve_connection(nodes, **kwargs)


@strawberry.enum(description="What calls can be sorted by.")
class CallLogOrderField(Enum):
    CALLED_AT = ev("called_at", description="When the call was made (natural: latest first).")
    OUTCOME = ev("outcome", description="How it went, by the outcome's name (natural: A first).")


@strawberry.input(description="How to sort calls; ties are broken by the order they were logged.")
class CallLogOrder:
    field: CallLogOrderField = strawberry.field(
        default=CallLogOrderField.CALLED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


# --- the fields on enrolments ----------------------------------------------------------------


async def enrollment_flags(info: Info, enrollment: Any) -> list[IntegrityFlag]:
    rows = await reads_loader(info, ("integrity", "flags"), loaders.flags_by_enrollment_id).load(
        enrollment.id
    )
    viewer = info.context.viewer
    if await staff_for_integrity_in(info, enrollment._mission_id) or await mentors(
        info, enrollment._mission_id, enrollment._student_id
    ):
        return [IntegrityFlag.from_row(r) for r in rows]
    if viewer.user_id == enrollment._student_id:
        return [IntegrityFlag.from_row(r, with_evidence=False) for r in rows]
    return []


async def enrollment_decisions(info: Info, enrollment: Any) -> list[IntegrityDecision]:
    rows = await reads_loader(
        info, ("integrity", "decisions"), loaders.decisions_by_enrollment_id
    ).load(enrollment.id)
    return [IntegrityDecision.from_row(r) for r in rows]


async def enrollment_access_history(info: Info, enrollment: Any) -> list[AccessChange]:
    rows = await reads_loader(
        info, ("integrity", "access"), loaders.access_changes_by_enrollment_id
    ).load(enrollment.id)
    return [
        AccessChange(from_status=r.from_status, to_status=r.to_status, reason=r.reason,
                     changed_at=r.created_at, _changed_by_id=r.changed_by_id)
        for r in rows
    ]  # fmt: skip


async def enrollment_call_logs(
    info: Info, enrollment: Any, order_by: CallLogOrder | None
) -> KeysetQuery[Any] | None:
    """An enrolment's calls, or None for whoever may not read them: the pages of every
    enrolment in the response together."""
    if not await may_in_mission(info, Permission.OUTREACH, enrollment._mission_id) and not (
        await mentors(info, enrollment._mission_id, enrollment._student_id)
    ):
        return None
    order = order_by or CallLogOrder()
    sort = []
    if order.field == CallLogOrderField.OUTCOME:
        down = descending(order.direction, SortDirection.ASC)
        sort.append(SortKey(CallLogModel.outcome, down))
    else:
        down = descending(order.direction, SortDirection.DESC)
    # Calls are logged in the order of their ids.
    sort.append(SortKey(CallLogModel.id, down))
    return KeysetQuery(  # type: ignore[type-var]
        select(CallLogModel.__table__), sort, CallLog.from_row, info.context.reads,
        partition=(CallLogModel.enrollment_id, enrollment.id),
        batch_key=("Enrollment.callLogs", order.field, down),
    )  # fmt: skip
