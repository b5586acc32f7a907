"""Identity queries: the viewer, the user list, the audit log."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

import strawberry
from sqlalchemy import String, cast, func, or_, select
from strawberry import relay

from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.db import like_pattern
from alumnet.persistence.loaders.identity import AUDIT_COLUMNS, USER_COLUMNS
from alumnet.persistence.models import AuditEvent as AuditModel
from alumnet.persistence.models import User as UserModel
from alumnet.persistence.models import UserRole
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.identity.filters import AuditEventFilter, UserFilter, UserOrder, UserOrderField
from alumnet.schema.identity.types import (
    AuditEvent,
    AuditEventConnection,
    User,
    UserConnection,
)
from alumnet.schema.nodes import global_pk
from alumnet.schema.pagination import MAX_PAGE, KeysetQuery, SortDirection, SortKey
from alumnet.schema.permissions import requires

SEARCH_MAX = 100


def utc(moment: datetime) -> datetime:
    """An input timestamp in UTC (naive ones are taken as UTC); out of range is bad input."""
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise bad_input("That timestamp is out of range.") from exc


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The signed-in user, or null without a valid token. Start here.")
    async def viewer(self, info: Info) -> User | None:
        user_id = info.context.viewer.user_id
        if user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(user_id)
        return User.from_row(row) if row is not None else None

    @relay.connection(
        UserConnection,
        description="Every user, for admins and managers. Default order: oldest account first.",
        max_results=MAX_PAGE,
        extensions=requires(Permission.USERS_READ),
    )
    def users(
        self,
        info: Info,
        filter: Annotated[
            UserFilter | None, strawberry.argument(description="Which users to include.")
        ] = None,
        order_by: Annotated[
            UserOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[User]:
        query = select(*USER_COLUMNS, UserModel.email_lower)
        if filter is not None:
            if filter.search is not None:
                if len(filter.search) > SEARCH_MAX:
                    raise bad_input(f"`search` must be at most {SEARCH_MAX} characters.")
                pattern = like_pattern(filter.search.strip())
                query = query.where(
                    or_(
                        UserModel.email_lower.like(pattern, escape="\\"),
                        func.lower(UserModel.name).like(pattern, escape="\\"),
                    )
                )
            if filter.roles:
                query = query.where(
                    UserModel.id.in_(
                        select(UserRole.user_id).where(
                            UserRole.role.in_([r.value for r in filter.roles])
                        )
                    )
                )
            if filter.status:
                query = query.where(UserModel.status.in_([s.value for s in filter.status]))
        order = order_by or UserOrder()
        descending = order.direction == SortDirection.DESC
        column = {
            UserOrderField.CREATED_AT: UserModel.created_at,
            UserOrderField.EMAIL: UserModel.email_lower,
            UserOrderField.NAME: UserModel.name,
        }[order.field]
        sort = [
            SortKey(column, descending),
            SortKey(UserModel.id, descending),
        ]
        return KeysetQuery(query, sort, User.from_row, info.context.reads)

    @relay.connection(
        AuditEventConnection,
        description="The audit log, newest first, for holders of `audit:read`.",
        max_results=MAX_PAGE,
        extensions=requires(Permission.AUDIT_READ),
    )
    def audit_events(
        self,
        info: Info,
        filter: Annotated[
            AuditEventFilter | None, strawberry.argument(description="Which events to include.")
        ] = None,
    ) -> Iterable[AuditEvent]:
        query = select(*AUDIT_COLUMNS)
        if filter is not None:
            if filter.actions:
                query = query.where(AuditModel.action.in_(filter.actions))
            if filter.actor_id is not None:
                query = query.where(AuditModel.actor_id == global_pk(filter.actor_id, "User"))
            if filter.object_id is not None:
                query = query.where(
                    AuditModel.object_type == filter.object_id.type_name,
                    cast(AuditModel.object_ids, String).like(
                        f'%"{filter.object_id.node_id.replace("%", "")}"%'
                    ),
                )
            if filter.occurred_after is not None:
                query = query.where(AuditModel.occurred_at >= utc(filter.occurred_after))
            if filter.occurred_before is not None:
                query = query.where(AuditModel.occurred_at < utc(filter.occurred_before))
        sort = [
            SortKey(AuditModel.occurred_at, descending=True),
            SortKey(AuditModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, AuditEvent.from_row, info.context.reads)
