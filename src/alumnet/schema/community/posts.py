"""Posts, comments and likes: the nodes, the feed, writing and changing them, and
`postCreated` and `commentAdded`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry import relay

from alumnet.domain.community import posts
from alumnet.persistence.models import Post as PostModel
from alumnet.schema.context import Info
from alumnet.schema.nodes import int_ids, readable_rows, visible_user

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

IDENTITY = "alumnet.schema.identity.types"


@strawberry.type(description="A short update posted to everyone or to an audience.")
class Post(relay.Node):
    id: relay.NodeID[int]
    body_markdown: str = strawberry.field(description="The text as written (Markdown).")
    body_html: str = strawberry.field(
        description="The text rendered to HTML, safe to insert (raw HTML escaped)."
    )
    created_at: datetime = strawberry.field(description="When it was posted (UTC).")
    edited_at: datetime | None = strawberry.field(
        description='When it was last edited (UTC); null if never: show an "edited" mark.'
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, body_markdown=row.body_markdown, body_html=row.body_html,
            created_at=row.created_at, edited_at=row.edited_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = posts.readable(info.context.viewer)
        found = await readable_rows(info, PostModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who posted it (if you may see them).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.author_id)  # type: ignore[no-any-return]


@strawberry.type
class PostQuery:
    pass


@strawberry.type
class PostMutation:
    pass


@strawberry.type
class PostSubscription:
    pass
