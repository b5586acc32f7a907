"""Cohorts queries and subscriptions."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from sqlalchemy import func, or_, select
from strawberry import relay

from alumnet.domain.cohorts import access
from alumnet.domain.cohorts.roster import roster_channel
from alumnet.persistence.db import like_pattern
from alumnet.persistence.loaders.cohorts import BATCH_COLUMNS
from alumnet.persistence.models import Batch as BatchModel
from alumnet.schema.cohorts.types import (
    Batch,
    BatchConnection,
    BatchStatus,
    Mission,
    MissionRosterChange,
    RosterChangeKind,
)
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.nodes import global_pk
from alumnet.schema.pagination import MAX_PAGE, KeysetQuery, SortDirection, SortKey


@strawberry.input(description="Narrows the `batches` list; every condition given must hold.")
class BatchFilter:
    status: list[BatchStatus] | None = strawberry.field(
        default=None,
        description="Only batches in these states. Default: ACTIVE only (archived batches are "
        "hidden unless asked for).",
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the name or code, any letter case."
    )


@strawberry.enum(description="What the `batches` list can be sorted by.")
class BatchOrderField(Enum):
    STARTS_ON = strawberry.enum_value("starts_on", description="Start date.")
    NAME = strawberry.enum_value("name", description="Name.")
    CODE = strawberry.enum_value("code", description="Code.")


@strawberry.input(description="How to sort batches; ties are broken by id.")
class BatchOrder:
    field: BatchOrderField = strawberry.field(
        default=BatchOrderField.STARTS_ON, description="The key to sort by."
    )
    direction: SortDirection = strawberry.field(
        default=SortDirection.DESC, description="Ascending or descending."
    )


@strawberry.type
class CohortsQuery:
    @relay.connection(
        BatchConnection,
        description="The batches you may see (staff: all; mentors and students: their own), "
        "newest first by default.",
        max_results=MAX_PAGE,
    )
    def batches(
        self,
        info: Info,
        filter: Annotated[
            BatchFilter | None, strawberry.argument(description="Which batches.")
        ] = None,
        order_by: Annotated[
            BatchOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[Batch]:
        query = select(*BATCH_COLUMNS)
        statuses = [
            s.value for s in (filter.status if filter and filter.status else [BatchStatus.ACTIVE])
        ]
        query = query.where(BatchModel.status.in_(statuses))
        if filter is not None and filter.search:
            if len(filter.search) > 100:
                raise bad_input("`search` must be at most 100 characters.")
            pattern = like_pattern(filter.search.strip())
            query = query.where(
                or_(
                    func.lower(BatchModel.name).like(pattern, escape="\\"),
                    func.lower(BatchModel.code).like(pattern, escape="\\"),
                )
            )
        missions = access.visible_mission_ids(info.context.viewer)
        if missions is not None:
            from alumnet.persistence.models import Mission as MissionModel

            query = query.where(
                or_(
                    BatchModel.id.in_(
                        select(MissionModel.batch_id).where(MissionModel.id.in_(missions))
                    ),
                    # A coordinator's batches, while they have no mission yet too.
                    BatchModel.id.in_(sorted(access.coordinated(info.context.viewer)[0])),
                )
            )
        order = order_by or BatchOrder()
        descending = order.direction == SortDirection.DESC
        column = {
            BatchOrderField.STARTS_ON: BatchModel.starts_on,
            BatchOrderField.NAME: BatchModel.name,
            BatchOrderField.CODE: BatchModel.code,
        }[order.field]
        return KeysetQuery(
            query,
            [SortKey(column, descending), SortKey(BatchModel.id, descending)],
            Batch.from_row,
            info.context.reads,
        )


@strawberry.type
class CohortsSubscription:
    @strawberry.subscription(
        description="Tells a dashboard each time enrolments or mentor assignments of a mission "
        "change. Staff see every change; a mentor sees changes that concern their mentees, "
        "and a mentor of the whole mission coming or going (no `studentIds`). Ends at once "
        "if you may not see the mission."
    )
    async def mission_roster_changed(
        self,
        info: Info,
        mission_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The mission to watch.")
        ],
    ) -> AsyncGenerator[MissionRosterChange, None]:
        pk = global_pk(mission_id, "Mission")
        if pk is None:
            return
        [mission] = await Mission.resolve_nodes(info=info, node_ids=[str(pk)])
        if mission is None:
            return
        async with info.context.runtime.bus.subscription(roster_channel(pk)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                scope = await info.context.cohort_scope()
                if not scope.sees_mission(pk):
                    return
                students = [
                    sid
                    for sid in event["studentIds"]
                    if scope.sees_whole_mission(pk) or (pk, sid) in scope.mentees
                ]
                # No students named: a mentor of the whole mission came or went, which
                # concerns everyone watching it.
                if not students and event["studentIds"]:
                    continue
                yield MissionRosterChange(
                    mission_id=relay.GlobalID("Mission", str(pk)),
                    kind=RosterChangeKind[event["kind"]],
                    student_ids=[relay.GlobalID("User", str(s)) for s in students],
                    occurred_at=datetime.fromisoformat(event["at"]),
                )
