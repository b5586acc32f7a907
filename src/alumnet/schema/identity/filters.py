"""Typed filters and sort orders for identity lists."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry import relay

from alumnet.schema.identity.types import Role, UserStatus
from alumnet.schema.pagination import SortDirection


@strawberry.input(description="Narrows the `users` list; every condition given must hold.")
class UserFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Part of the name or e-mail address, any letter case (at most 100 characters).",
    )
    roles: list[Role] | None = strawberry.field(
        default=None, description="Users having at least one of these roles."
    )
    status: list[UserStatus] | None = strawberry.field(
        default=None, description="Users in one of these states."
    )


@strawberry.enum(description="What the `users` list can be sorted by.")
class UserOrderField(Enum):
    CREATED_AT = strawberry.enum_value("created_at", description="When the account was created.")
    EMAIL = strawberry.enum_value("email_lower", description="E-mail address, ignoring case.")
    NAME = strawberry.enum_value("name", description="Full name.")


@strawberry.input(description="How to sort the `users` list; ties are broken by id.")
class UserOrder:
    field: UserOrderField = strawberry.field(
        default=UserOrderField.CREATED_AT, description="The key to sort by."
    )
    direction: SortDirection = strawberry.field(
        default=SortDirection.ASC, description="Ascending or descending."
    )


@strawberry.input(description="Narrows the audit log; every condition given must hold.")
class AuditEventFilter:
    actions: list[str] | None = strawberry.field(
        default=None, description='Only these actions, e.g. ["user.create", "session.revoke"].'
    )
    actor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only changes made by this user."
    )
    object_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only changes to this object."
    )
    occurred_after: datetime | None = strawberry.field(
        default=None, description="Only events at or after this time (UTC if no offset is given)."
    )
    occurred_before: datetime | None = strawberry.field(
        default=None, description="Only events before this time (UTC if no offset is given)."
    )
