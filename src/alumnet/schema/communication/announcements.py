"""Announcements: the feed, the node, and posting and changing them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.communication import announcements
from alumnet.domain.identity.permissions import Permission, Role
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import Announcement as AnnouncementModel
from alumnet.persistence.models import AnnouncementTarget
from alumnet.schema.communication.types import NoticePriority
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.types import Role as RoleEnum
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_id, global_pk, int_ids, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"


@strawberry.type(description="Who an announcement is for; all lists empty means everyone.")
class AnnouncementAudience:
    everyone: bool = strawberry.field(description="True when it is institution-wide.")
    roles: list[RoleEnum] = strawberry.field(description="People with any of these roles.")
    batch_ids: list[strawberry.ID] = strawberry.field(
        description="People of any of these batches (active students and mentors)."
    )
    graduation_years: list[int] = strawberry.field(
        description="People graduating (or graduated) in any of these years."
    )


def audience_of_targets(targets: list[Any]) -> AnnouncementAudience:
    """An audience from its target rows (an announcement's, an event's)."""
    return AnnouncementAudience(
        everyone=not targets,
        roles=[RoleEnum(t.role) for t in targets if t.role in Role.__members__],
        batch_ids=[strawberry.ID(global_id("Batch", t.batch_id)) for t in targets
                   if t.batch_id is not None],
        graduation_years=[t.graduation_year for t in targets if t.graduation_year is not None],
    )  # fmt: skip


async def _targets_of(reads: Any, ids: Any) -> list[list[Any]]:
    query = select(AnnouncementTarget.__table__).where(
        AnnouncementTarget.announcement_id.in_(list(ids))
    )
    return await grouped(reads, query, "announcement_id", ids)


@strawberry.type(description="An announcement from the institution, to everyone or to an audience.")
class Announcement(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="The title.")
    body_markdown: str = strawberry.field(description="The body as written (Markdown).")
    body_html: str = strawberry.field(
        description="The body rendered to HTML, safe to insert (raw HTML escaped)."
    )
    priority: NoticePriority = strawberry.field(description="How prominent.")
    pinned: bool = strawberry.field(description="Pinned announcements come first in the feed.")
    expires_at: datetime | None = strawberry.field(
        description="When it leaves the feed (UTC); null if it stays."
    )
    posted_at: datetime = strawberry.field(description="When (UTC).")
    updated_at: datetime = strawberry.field(description="Last changed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, title=row.title, body_markdown=row.body_markdown,
            body_html=row.body_html, priority=NoticePriority(row.priority), pinned=row.pinned,
            expires_at=row.expires_at, posted_at=row.created_at, updated_at=row.updated_at,
            _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = announcements.readable(info.context.viewer)
        found = await readable_rows(info, AnnouncementModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who posted it (if you may see them).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.author_id)  # type: ignore[no-any-return]

    @strawberry.field(description="Who it is for.")
    async def audience(self, info: Info) -> AnnouncementAudience:
        targets = await reads_loader(info, ("announcement", "targets"), _targets_of).load(self.id)
        return audience_of_targets(targets)


@strawberry.type(description="Announcements, a page at a time.")
class AnnouncementConnection(CountedConnection[Announcement]):
    pass


@strawberry.enum(description="Why an announcement mutation failed.")
class AnnouncementErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such announcement or batch.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="The expiry has passed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many audience values.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an announcement mutation's input.")
class AnnouncementError(UserError):
    code: AnnouncementErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Who an announcement is for; leave it out for everyone.")
class AnnouncementAudienceInput:
    roles: list[RoleEnum] = strawberry.field(
        default_factory=list, description="People with any of these roles."
    )
    batch_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="People of any of these batches."
    )
    graduation_years: list[int] = strawberry.field(
        default_factory=list, description="People graduating in any of these years."
    )


@strawberry.input(description="A new announcement.")
class AnnouncementPostInput:
    title: str = strawberry.field(description="Title (at most 200 characters).")
    body: str = strawberry.field(description="Markdown (at most 20,000 characters).")
    priority: NoticePriority = strawberry.field(
        default=NoticePriority.NORMAL, description="Priority."
    )
    pinned: bool = strawberry.field(default=False, description="Pin it to the top of the feed.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it leaves the feed (UTC); omit to keep it."
    )
    audience: AnnouncementAudienceInput | None = strawberry.field(
        default=None, description="Who it is for; omit for everyone."
    )
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): posting again with it "
        "returns the first announcement and notifies nobody twice.",
    )


@strawberry.input(description="Changes to an announcement; omitted fields stay as they are.")
class AnnouncementUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The announcement.")
    title: str | None = strawberry.field(default=None, description="New title.")
    body: str | None = strawberry.field(default=None, description="New Markdown body.")
    pinned: bool | None = strawberry.field(default=None, description="Pin or unpin.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="New expiry (UTC); one in the past takes it down now."
    )
    clear_expiry: bool = strawberry.field(
        default=False, description="Remove the expiry, so that it stays."
    )


@strawberry.type(description="The announcement, or why there is none.")
class AnnouncementPayload:
    announcement: Announcement | None = strawberry.field(description="The announcement.")
    user_errors: list[AnnouncementError] = strawberry.field(description="Empty on success.")


def audience_of_input(given: AnnouncementAudienceInput | None) -> announcements.Audience:
    if given is None:
        return announcements.Audience()
    return announcements.Audience(
        roles=tuple(str(r.value) for r in given.roles),
        batch_ids=tuple(global_pk(b, "Batch") or -1 for b in given.batch_ids),
        graduation_years=tuple(given.graduation_years),
    )


@strawberry.type
class AnnouncementQuery:
    @relay.connection(
        AnnouncementConnection,
        description="Announcements addressed to you, pinned first, then newest first; "
        "expired ones only if asked for (by those who post announcements).",
        max_results=1000,
    )
    def announcements(
        self,
        info: Info,
        include_expired: Annotated[
            bool,
            strawberry.argument(description="Include expired ones (for those who post them)."),
        ] = False,
    ) -> Iterable[Announcement]:
        viewer = info.context.viewer
        query = select(AnnouncementModel.__table__)
        if not viewer.is_authenticated:
            query = query.where(AnnouncementModel.id < 0)
        condition = announcements.readable(viewer)
        if condition is not None:
            query = query.where(condition)
        if not (include_expired and viewer.can(Permission.ANNOUNCEMENTS_POST)):
            query = query.where(announcements.current(datetime.now(UTC)))
        sort = [
            SortKey(AnnouncementModel.pinned, descending=True),
            SortKey(AnnouncementModel.created_at, descending=True),
            SortKey(AnnouncementModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, Announcement.from_row, info.context.reads)


@strawberry.type
class AnnouncementMutation:
    @strawberry.mutation(
        description="Post an announcement to everyone or to an audience (holders of "
        "`announcements:post`); the audience is notified as each prefers."
    )
    async def announcement_post(
        self, info: Info, input: Annotated[AnnouncementPostInput, arg("The announcement.")]
    ) -> AnnouncementPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: announcements.post(
                uow, viewer, title=input.title, body=input.body,
                priority=str(input.priority.value), pinned=input.pinned,
                expires_at=input.expires_at, audience=audience_of_input(input.audience),
                client_id=input.client_id,
            ),
        )  # fmt: skip
        return AnnouncementPayload(
            announcement=Announcement.from_row(found) if found is not None else None,
            user_errors=user_errors(AnnouncementError, AnnouncementErrorCode, problems),
        )

    @strawberry.mutation(description="Pin, unpin, expire or correct an announcement.")
    async def announcement_update(
        self, info: Info, input: Annotated[AnnouncementUpdateInput, arg("The changes.")]
    ) -> AnnouncementPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: announcements.update(
                uow, viewer, pk_of(input.id, "Announcement", "id"), pinned=input.pinned,
                expires_at=input.expires_at, clear_expiry=input.clear_expiry,
                title=input.title, body=input.body,
            ),
        )  # fmt: skip
        return AnnouncementPayload(
            announcement=Announcement.from_row(found) if found is not None else None,
            user_errors=user_errors(AnnouncementError, AnnouncementErrorCode, problems),
        )
