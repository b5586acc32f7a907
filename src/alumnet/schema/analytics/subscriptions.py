"""Scheduled reports in GraphQL: one's report subscriptions (a connection), and creating,
changing and deleting them (domain/analytics/scheduled.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.analytics import reports, scheduled
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import ReportSubscription as SubscriptionModel
from alumnet.schema.analytics.reports import ReportFilter, filters_of
from alumnet.schema.cohorts.types import Batch, Mission
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.types import User
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, readable_rows, visible_user
from alumnet.schema.ops.types import Job
from alumnet.schema.pagination import MAX_PAGE, CountedConnection, KeysetQuery, SortKey

ev = strawberry.enum_value
TYPE = "ReportSubscription"


@strawberry.enum(description="A report that can be sent on a schedule (as its query answers it).")
class ReportName(Enum):
    ATTENDANCE = ev("attendance", description="Attendance (`attendanceReport`).")
    SUBMISSIONS = ev("submissions", description="Submissions and grades.")
    MENTORS = ev("mentors", description="Mentor effectiveness.")
    NOTICES = ev("notices", description="Notice acknowledgements.")
    ENGAGEMENT = ev("engagement", description="Platform engagement.")
    ALUMNI = ev("alumni", description="Alumni: events, jobs and mentorship.")


@strawberry.enum(description="How often a scheduled report is sent.")
class ReportFrequency(Enum):
    WEEKLY = ev(
        "weekly",
        description="On Mondays from 12:00 UTC, for the week before (Monday to Sunday).",
    )
    MONTHLY = ev(
        "monthly",
        description="On the first of each month from 12:00 UTC, for the calendar month before.",
    )


@strawberry.type(description="A report's filters as a subscription keeps them.")
class ReportSubscriptionFilterValue:
    group_by: str | None = strawberry.field(
        description="How rows are grouped: the value of the report query's `groupBy` "
        "(`WEEK` …), the report's default when none was given."
    )
    _mission_id: strawberry.Private[int | None]
    _batch_id: strawberry.Private[int | None]

    @strawberry.field(description="Only this mission, if one was named (null if you may no "
                      "longer see it).")  # fmt: skip
    async def mission(self, info: Info) -> Mission | None:
        if self._mission_id is None:
            return None
        return (await Mission.resolve_nodes(info=info, node_ids=[str(self._mission_id)]))[0]

    @strawberry.field(description="Only this batch's missions, if one was named (null if you "
                      "may no longer see it).")  # fmt: skip
    async def batch(self, info: Info) -> Batch | None:
        if self._batch_id is None:
            return None
        return (await Batch.resolve_nodes(info=info, node_ids=[str(self._batch_id)]))[0]


def _may_list_everyone(info: Info) -> bool:
    return info.context.viewer.can(Permission.USERS_MANAGE)


@strawberry.type(
    description="A standing order for a report: built as an Excel workbook (with charts) and "
    "a CSV, as its owner may see the figures when it runs, and e-mailed to them as links."
)
class ReportSubscription(relay.Node):
    id: relay.NodeID[int]
    report: ReportName = strawberry.field(description="Which report.")
    frequency: ReportFrequency = strawberry.field(description="How often.")
    active: bool = strawberry.field(
        description="False once paused by its owner, or stopped by alumnet (`stoppedReason`)."
    )
    stopped_reason: str | None = strawberry.field(
        description="Why alumnet stopped it (its owner may no longer read the report, or the "
        "mission named is out of their reach); null while active or when paused."
    )
    next_run_at: datetime = strawberry.field(
        description="When it is next sent, once active (UTC; the hourly scheduler sends it "
        "within the hour)."
    )
    last_sent_at: datetime | None = strawberry.field(
        description="When the last report was made and e-mailed (UTC)."
    )
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    _user_id: strawberry.Private[int]
    _filters: strawberry.Private[dict[str, Any]]
    _last_job_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, report=ReportName(row.report), frequency=ReportFrequency(row.frequency),
            active=row.active, stopped_reason=row.stopped_reason, next_run_at=row.next_run_at,
            last_sent_at=row.last_run_at, created_at=row.created_at, _user_id=row.user_id,
            _filters=dict(row.filters or {}), _last_job_id=row.last_job_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        mine = (
            None
            if _may_list_everyone(info)
            else SubscriptionModel.user_id == (info.context.viewer.user_id or -1)
        )
        found = await readable_rows(info, SubscriptionModel.__table__, ids, mine)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The report's title.")
    def title(self) -> str:
        name = str(self.report.value)
        return reports.REPORTS.get(name, name)

    @strawberry.field(description="What the report covers (a mission or batch, the grouping).")
    def filter(self) -> ReportSubscriptionFilterValue:
        group = self._filters.get("group_by")
        return ReportSubscriptionFilterValue(
            group_by=str(group).upper() if group else None,
            _mission_id=self._filters.get("mission_id"),
            _batch_id=self._filters.get("batch_id"),
        )

    @strawberry.field(description="Whose it is (as `node(id:)` shows users to you).")
    async def owner(self, info: Info) -> User | None:
        return await visible_user(info, self._user_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The job that made (or is making) the last report: its status, attempts "
        "and error. Null before the first, and for anyone but its owner and job readers."
    )
    async def last_job(self, info: Info) -> Job | None:
        if self._last_job_id is None:
            return None
        return (await Job.resolve_nodes(info=info, node_ids=[str(self._last_job_id)]))[0]


@strawberry.type(description="Report subscriptions, a page at a time.")
class ReportSubscriptionConnection(CountedConnection[ReportSubscription]):
    pass


@strawberry.input(description="Which report subscriptions to list.")
class ReportSubscriptionFilter:
    everyone: bool = strawberry.field(
        default=False,
        description="Everyone's, not only yours (holders of `users:manage`; for anyone else "
        "this changes nothing).",
    )
    report: ReportName | None = strawberry.field(default=None, description="Only this report.")
    active: bool | None = strawberry.field(
        default=None, description="Only active ones (true) or paused and stopped ones (false)."
    )


@strawberry.type
class ReportSubscriptionQuery:
    @relay.connection(
        ReportSubscriptionConnection,
        description="Your report subscriptions (holders of `users:manage` may list "
        "everyone's), newest first.",
        max_results=MAX_PAGE,
    )
    def report_subscriptions(
        self,
        info: Info,
        filter: Annotated[
            ReportSubscriptionFilter | None, strawberry.argument(description="Which ones.")
        ] = None,
    ) -> Iterable[ReportSubscription]:
        wanted = filter or ReportSubscriptionFilter()
        query = select(SubscriptionModel.__table__)
        if not (wanted.everyone and _may_list_everyone(info)):
            query = query.where(SubscriptionModel.user_id == (info.context.viewer.user_id or -1))
        if wanted.report is not None:
            query = query.where(SubscriptionModel.report == wanted.report.value)
        if wanted.active is not None:
            query = query.where(SubscriptionModel.active.is_(wanted.active))
        sort = [SortKey(SubscriptionModel.created_at, True), SortKey(SubscriptionModel.id, True)]
        return KeysetQuery(query, sort, ReportSubscription.from_row, info.context.reads)


# -- mutations ----------------------------------------------------------------------------------


@strawberry.enum(description="Why a report subscription mutation failed.")
class ReportSubscriptionErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND",
        description="No such subscription of yours, or a mission or batch outside your reach.",
    )
    UNKNOWN_REPORT = ev("UNKNOWN_REPORT", description="No report has this name.")
    REPORT_NOT_ALLOWED = ev(
        "REPORT_NOT_ALLOWED", description="You may not read this report, so you cannot receive it."
    )
    TOO_MANY = ev("TOO_MANY", description="You hold the most subscriptions a person may (20).")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a report subscription mutation's input.")
class ReportSubscriptionError(UserError):
    code: ReportSubscriptionErrorCode = strawberry.field(description=CODE_DESCRIPTION)


GROUP_HELP = (
    "How rows are grouped, as the report query's `groupBy` says it (`WEEK` for "
    "`attendanceReport(groupBy: WEEK)`); the report's default when omitted."
)


@strawberry.input(description="A report to receive on a schedule.")
class ReportSubscriptionCreateInput:
    report: ReportName = strawberry.field(description="Which report.")
    frequency: ReportFrequency = strawberry.field(description="How often.")
    filter: ReportFilter | None = strawberry.field(
        default=None,
        description="One mission or batch within your reach (programme reports; default: "
        "all within your reach when it runs).",
    )
    group_by: str | None = strawberry.field(default=None, description=GROUP_HELP)


@strawberry.input(description="A change to one of your report subscriptions; what is omitted "
                  "stays as it is.")  # fmt: skip
class ReportSubscriptionUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The subscription.")
    frequency: ReportFrequency | None = strawberry.field(default=None, description="How often.")
    filter: ReportFilter | None = strawberry.field(
        default=None, description="New filters (replacing the mission or batch named)."
    )
    group_by: str | None = strawberry.field(default=None, description=GROUP_HELP)
    active: bool | None = strawberry.field(
        default=None,
        description="False pauses it; true starts it again (checked as a new one is), from "
        "the next Monday or first of the month.",
    )


@strawberry.input(description="A report subscription to delete.")
class ReportSubscriptionDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The subscription.")


@strawberry.type(description="The subscription made or changed, or why not.")
class ReportSubscriptionPayload:
    report_subscription: ReportSubscription | None = strawberry.field(
        description="The subscription; null on failure."
    )
    user_errors: list[ReportSubscriptionError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The subscription deleted, or why not.")
class ReportSubscriptionDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(
        description="The id of the subscription deleted; null on failure."
    )
    user_errors: list[ReportSubscriptionError] = strawberry.field(description="Empty on success.")


def _places(given: ReportFilter | None) -> dict[str, Any]:
    """The mission and batch a filter names, as the report takes them (primary keys). An
    id of another kind is NOT_FOUND, as the report queries answer it."""
    try:
        return filters_of(given, None)
    except GraphQLError as exc:
        field = tuple(str(f) for f in (exc.extensions or {}).get("field") or ())
        raise DomainError.of("NOT_FOUND", exc.message, field) from None


def _group(group_by: str | None) -> str | None:
    return group_by.strip().lower() if group_by is not None else None


def _payload(found: Any, problems: list[Any]) -> ReportSubscriptionPayload:
    return ReportSubscriptionPayload(
        report_subscription=ReportSubscription.from_row(found) if found is not None else None,
        user_errors=user_errors(ReportSubscriptionError, ReportSubscriptionErrorCode, problems),
    )


@strawberry.type
class ReportSubscriptionMutation:
    @strawberry.mutation(
        description="Receive a report weekly or monthly (`analytics:read`, or a mentor for the "
        "reports mentors read): an Excel workbook with charts and a CSV, e-mailed as links. At "
        "most 20 a person; the same report, frequency and filters again is the one you hold."
    )
    async def report_subscription_create(
        self, info: Info, input: Annotated[ReportSubscriptionCreateInput, arg("The report.")]
    ) -> ReportSubscriptionPayload:
        viewer = info.context.viewer
        report = str(input.report.value)

        async def create(uow: Any) -> Any:
            scheduled.require_subscriber(viewer)
            filters = {**_places(input.filter), "group_by": _group(input.group_by)}
            return await scheduled.subscribe(
                uow, viewer, report=report, frequency=str(input.frequency.value), filters=filters
            )

        found, problems = await run_in_transaction(info, create)
        return _payload(found, problems)

    @strawberry.mutation(
        description="Change one of your report subscriptions: how often, what it covers, or "
        "pause it and start it again."
    )
    async def report_subscription_update(
        self, info: Info, input: Annotated[ReportSubscriptionUpdateInput, arg("The change.")]
    ) -> ReportSubscriptionPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            viewer.require_user()  # signed in before anything is looked up
            pk = pk_of(input.id, TYPE, "id")
            changes: dict[str, Any] = {}
            if input.filter is not None:
                places = _places(input.filter)
                changes.update(mission_id=places.get("mission_id"),
                               batch_id=places.get("batch_id"))  # fmt: skip
            if input.group_by is not None:
                changes["group_by"] = _group(input.group_by)
            return await scheduled.change(
                uow, viewer, pk,
                frequency=str(input.frequency.value) if input.frequency else None,
                filters=changes or None, active=input.active,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return _payload(found, problems)

    @strawberry.mutation(description="Delete one of your report subscriptions.")
    async def report_subscription_delete(
        self, info: Info, input: Annotated[ReportSubscriptionDeleteInput, arg("Which one.")]
    ) -> ReportSubscriptionDeletePayload:
        viewer = info.context.viewer

        async def delete(uow: Any) -> Any:
            viewer.require_user()  # signed in before anything is looked up
            return await scheduled.unsubscribe(uow, viewer, pk_of(input.id, TYPE, "id"))

        found, problems = await run_in_transaction(info, delete)
        return ReportSubscriptionDeletePayload(
            deleted_id=input.id if found is not None else None,
            user_errors=user_errors(ReportSubscriptionError, ReportSubscriptionErrorCode, problems),
        )


__all__ = ["ReportSubscriptionMutation", "ReportSubscriptionQuery"]
