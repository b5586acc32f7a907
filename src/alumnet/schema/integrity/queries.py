"""Integrity queues: appeals and flags waiting for a decision, for those who decide."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.cohorts import access
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Appeal as AppealModel
from alumnet.persistence.models import IntegrityDecision as DecisionModel
from alumnet.persistence.models import IntegrityFlag as FlagModel
from alumnet.schema.context import Info
from alumnet.schema.integrity.types import Appeal, AppealStatus, FlagKind, IntegrityFlag
from alumnet.schema.nodes import global_pk
from alumnet.schema.pagination import MAX_PAGE, CountedConnection, KeysetQuery, SortKey
from alumnet.schema.permissions import requires


@strawberry.type(description="Appeals, a page at a time.")
class AppealConnection(CountedConnection[Appeal]):
    pass


@strawberry.type(description="Integrity flags, a page at a time.")
class IntegrityFlagConnection(CountedConnection[IntegrityFlag]):
    pass


@strawberry.input(description="Narrows the `appeals` queue; every condition given must hold.")
class AppealFilter:
    status: list[AppealStatus] | None = strawberry.field(
        default=None, description="Only appeals in these states; default: [PENDING]."
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only appeals of decisions in this mission."
    )


@strawberry.input(
    description="Narrows the `integrityFlags` queue; every condition given must hold."
)
class IntegrityFlagFilter:
    decided: bool = strawberry.field(
        default=False, description="False (the default): flags awaiting a decision."
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only flags in this mission."
    )
    kinds: list[FlagKind] | None = strawberry.field(
        default=None, description="Only flags of these kinds."
    )


def _mission(given: relay.GlobalID | None) -> int | None:
    return global_pk(given, "Mission") if given is not None else None


@strawberry.type
class IntegrityQuery:
    @relay.connection(
        AppealConnection,
        description="The appeals queue, oldest first, for those who decide integrity cases "
        "(`integrity:decide`): each with its statement and the decision appealed.",
        max_results=MAX_PAGE,
        extensions=requires(Permission.INTEGRITY_DECIDE, scoped=True),
    )
    def appeals(
        self,
        info: Info,
        filter: Annotated[
            AppealFilter | None, strawberry.argument(description="Which appeals.")
        ] = None,
    ) -> Iterable[Appeal]:
        given = filter or AppealFilter()
        statuses = [s.value for s in given.status] if given.status else ["pending"]
        query = select(AppealModel.__table__).where(AppealModel.status.in_(statuses))
        mission = _mission(given.mission_id)
        if given.mission_id is not None:
            decisions = select(DecisionModel.id).where(DecisionModel.mission_id == (mission or -1))
            query = query.where(AppealModel.decision_id.in_(decisions))
        within = access.missions_where(info.context.viewer, Permission.INTEGRITY_DECIDE)
        if within is not None:
            query = query.where(
                AppealModel.decision_id.in_(
                    select(DecisionModel.id).where(DecisionModel.mission_id.in_(within))
                )
            )
        sort = [SortKey(AppealModel.created_at, False), SortKey(AppealModel.id, False)]
        return KeysetQuery(query, sort, Appeal.from_row, info.context.reads)

    @relay.connection(
        IntegrityFlagConnection,
        description="Integrity flags awaiting a decision (or decided ones), oldest first, "
        "for those who decide integrity cases (`integrity:decide`).",
        max_results=MAX_PAGE,
        extensions=requires(Permission.INTEGRITY_DECIDE, scoped=True),
    )
    def integrity_flags(
        self,
        info: Info,
        filter: Annotated[
            IntegrityFlagFilter | None, strawberry.argument(description="Which flags.")
        ] = None,
    ) -> Iterable[IntegrityFlag]:
        given = filter or IntegrityFlagFilter()
        status = "decided" if given.decided else "open"
        query = select(FlagModel.__table__).where(FlagModel.status == status)
        if given.mission_id is not None:
            query = query.where(FlagModel.mission_id == (_mission(given.mission_id) or -1))
        if given.kinds:
            query = query.where(FlagModel.kind.in_([k.value for k in given.kinds]))
        within = access.missions_where(info.context.viewer, Permission.INTEGRITY_DECIDE)
        if within is not None:
            query = query.where(FlagModel.mission_id.in_(within))
        sort = [SortKey(FlagModel.created_at, False), SortKey(FlagModel.id, False)]
        return KeysetQuery(query, sort, IntegrityFlag.from_row, info.context.reads)
