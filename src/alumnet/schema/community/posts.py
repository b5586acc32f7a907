"""Posts, comments and likes: the nodes, the feed, writing and changing them, and
`postCreated` and `commentAdded`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, Self

import orjson
import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.community import feed, posts
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import Comment as CommentModel
from alumnet.persistence.models import CommentLike, PostImage, PostLike, PostTarget
from alumnet.persistence.models import Post as PostModel
from alumnet.schema.communication.announcements import (
    AnnouncementAudience,
    AnnouncementAudienceInput,
    audience_of_input,
    audience_of_targets,
)
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, bad_input, user_errors
from alumnet.schema.mutations import (
    CODE_DESCRIPTION,
    INVALID,
    arg,
    pk_of,
    run_in_transaction,
    sent_ids,
)
from alumnet.schema.nodes import global_pk, int_ids, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.community.photos import Photo
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
PHOTOS = "alumnet.schema.community.photos"
MENTIONS = (
    "Markdown (at most {limit:,} characters; raw HTML is shown as text). Mention someone "
    "with `@[Their Name](user:<their User id>)` (a frontend inserts it from a people "
    "picker): they are notified if they may read the post, at most 20 people a text; in "
    '`bodyHtml` a mention reads `@<a href="user:<User id>">Their Name</a>`.'
)
FEED_PAGE = 20
FEED_MAX = 100
COMMENTS_MAX = 100


async def _liked(model: Any, column: str, me: int, reads: Any, ids: list[int]) -> list[bool]:
    key = getattr(model, column)
    query = select(key).where(model.user_id == me, key.in_(list(ids)))
    async with reads.connect() as conn:
        found = set((await conn.execute(query)).scalars())
    return [i in found for i in ids]


async def _targets_of(reads: Any, ids: Any) -> list[list[Any]]:
    query = select(PostTarget.__table__).where(PostTarget.post_id.in_(list(ids)))
    return await grouped(reads, query, "post_id", ids)


async def _images_of(reads: Any, ids: Any) -> list[list[int]]:
    query = (
        select(PostImage.post_id, PostImage.photo_id)
        .where(PostImage.post_id.in_(list(ids)))
        .order_by(PostImage.post_id, PostImage.position)
    )
    rows = await grouped(reads, query, "post_id", ids)
    return [[r.photo_id for r in found] for found in rows]


# What a post read with a feed page carries (PostgreSQL, `feed.page`) and others do not.
UNKNOWN: Any = object()


class _Target(NamedTuple):
    role: str | None
    batch_id: int | None
    graduation_year: int | None


def _viewer_liked(info: Info, kind: str, model: Any, column: str, pk: int) -> Any:
    me = info.context.viewer.user_id
    if me is None:
        return None
    loader = reads_loader(info, (kind, "viewerHasLiked", me), partial(_liked, model, column, me))
    return loader.load(pk)


@strawberry.enum(description="Where a post's link preview stands.")
class PostLinkStatus(Enum):
    PENDING = ev("pending", description="Being fetched by a background job.")
    READY = ev("ready", description="Fetched: the title and the rest are filled in.")
    FAILED = ev("failed", description="Could not be fetched (or had no Open Graph tags).")


@strawberry.type(description="A post's link and its preview, from the page's Open Graph tags.")
class PostLink:
    url: str = strawberry.field(description="The link as posted.")
    status: PostLinkStatus = strawberry.field(description="Whether the preview is ready.")
    title: str | None = strawberry.field(description="The page's title (og:title).")
    description: str | None = strawberry.field(description="The page's summary (og:description).")
    image_url: str | None = strawberry.field(description="The page's image (og:image), if any.")
    site_name: str | None = strawberry.field(description="The site's name (og:site_name).")


def _link_of(row: Any) -> PostLink | None:
    if row.link_url is None or row.link_status not in ("pending", "ready", "failed"):
        return None
    preview = row.link_preview if isinstance(row.link_preview, dict) else {}

    def text(key: str) -> str | None:
        value = preview.get(key)
        return value if isinstance(value, str) else None

    return PostLink(
        url=row.link_url, status=PostLinkStatus(row.link_status), title=text("title"),
        description=text("description"), image_url=text("image"), site_name=text("siteName"),
    )  # fmt: skip


@strawberry.type(description="A comment on a post, or a reply to a comment (one level).")
class Comment(relay.Node):
    id: relay.NodeID[int]
    body_markdown: str = strawberry.field(description="The text as written (Markdown).")
    body_html: str = strawberry.field(
        description="The text rendered to HTML, safe to insert (raw HTML escaped)."
    )
    created_at: datetime = strawberry.field(description="When it was written (UTC).")
    edited_at: datetime | None = strawberry.field(
        description='When it was last edited (UTC); null if never: show an "edited" mark.'
    )
    like_count: int = strawberry.field(description="How many people like it.")
    reply_count: int = strawberry.field(
        description="How many replies it has (deleted ones not counted); 0 for a reply."
    )
    hidden: bool = strawberry.field(
        description="Hidden by moderators: shown only to its author and moderators."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, body_markdown=row.body_markdown, body_html=row.body_html,
            created_at=row.created_at, edited_at=row.edited_at, like_count=row.like_count,
            reply_count=row.reply_count, hidden=row.hidden_at is not None, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = posts.comment_readable(info.context.viewer)
        found = await readable_rows(info, CommentModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who wrote it (if you may see them).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.author_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The post it is on.")
    async def post(self, info: Info) -> Post | None:
        return (await Post.resolve_nodes(info=info, node_ids=[str(self._row.post_id)]))[0]

    @strawberry.field(description="The comment it replies to; null for a top-level comment.")
    async def parent(self, info: Info) -> Comment | None:
        if self._row.parent_id is None:
            return None
        return (await Comment.resolve_nodes(info=info, node_ids=[str(self._row.parent_id)]))[0]

    @strawberry.field(description="Whether you like it.")
    async def viewer_has_liked(self, info: Info) -> bool:
        found = _viewer_liked(info, "Comment", CommentLike, "comment_id", self.id)
        return bool(await found) if found is not None else False

    @relay.connection(
        Annotated["CommentConnection", strawberry.lazy("alumnet.schema.community.posts")],
        description="The replies to this comment, oldest first (none for a reply).",
        max_results=COMMENTS_MAX,
    )
    def replies(self, info: Info) -> Iterable[Any]:
        query = _shown_comments(feed.viewer_shape(info.context.viewer))
        return KeysetQuery(
            query, COMMENT_ORDER, Comment.from_row, info.context.reads,
            partition=(CommentModel.parent_id, self.id), batch_key="Comment.replies",
        )  # fmt: skip


COMMENT_ORDER = [SortKey(CommentModel.created_at), SortKey(CommentModel.id)]


@lru_cache(maxsize=1024)
def _shown_comments(viewer: Viewer) -> Any:
    """The comments the viewer may read (built once per viewer: `_top_comments`)."""
    return select(CommentModel.__table__).where(posts.comment_shown(viewer))


@lru_cache(maxsize=1024)
def _top_comments(viewer: Viewer) -> Any:
    """The top-level comments the viewer may read: built once per viewer (its shape:
    `feed.viewer_shape`), not once per post of a page."""
    return select(CommentModel.__table__).where(
        CommentModel.parent_id.is_(None), posts.comment_shown(viewer)
    )


@strawberry.type(description="Comments, a page at a time.")
class CommentConnection(CountedConnection[Comment]):
    pass


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
    like_count: int = strawberry.field(description="How many people like it.")
    comment_count: int = strawberry.field(
        description="How many comments and replies it has (deleted ones not counted)."
    )
    hidden: bool = strawberry.field(
        description="Hidden by moderators: shown only to its author and moderators, and "
        "never in the feed."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, body_markdown=row.body_markdown, body_html=row.body_html,
            created_at=row.created_at, edited_at=row.edited_at, like_count=row.like_count,
            comment_count=row.comment_count, hidden=row.hidden_at is not None, _row=row,
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

    # The next three are sync when the row carries what they show (read with a feed page,
    # `feed.page`): an awaitable otherwise, which GraphQL awaits (a field resolved by a
    # coroutine costs more, on each of a page's posts).
    @strawberry.field(description="Who may read it (everyone signed in, or an audience).")
    def audience(self, info: Info) -> AnnouncementAudience:
        if not self._row.limited:
            return audience_of_targets([])
        found = getattr(self._row, "feed_targets", UNKNOWN)
        if found is not UNKNOWN:
            return audience_of_targets([_Target(*values) for values in found or ()])
        return self._audience_later(info)  # type: ignore[return-value]

    async def _audience_later(self, info: Info) -> AnnouncementAudience:
        targets = await reads_loader(info, ("post", "targets"), _targets_of).load(self.id)
        return audience_of_targets(targets)

    @strawberry.field(description="Its images, in the order they were given (up to four).")
    def images(self, info: Info) -> list[Annotated[Photo, strawberry.lazy(PHOTOS)]]:
        ids = getattr(self._row, "feed_image_ids", UNKNOWN)
        if ids is not UNKNOWN and not ids:
            return []
        return self._images_later(info, ids)  # type: ignore[return-value]

    async def _images_later(self, info: Info, ids: Any) -> list[Photo]:
        from alumnet.schema.community.photos import Photo

        if ids is UNKNOWN:
            ids = await reads_loader(info, ("post", "images"), _images_of).load(self.id)
        if not ids:
            return []
        # The post is readable, so are the photos shown with it.
        return [found for found in await Photo.load_many(info, ids) if found is not None]

    @strawberry.field(description="The link it shares and its preview; null if none.")
    def link(self) -> PostLink | None:
        return _link_of(self._row)

    @strawberry.field(description="Whether you like it.")
    def viewer_has_liked(self, info: Info) -> bool:
        liked = getattr(self._row, "feed_viewer_liked", None)
        if liked is not None:
            return bool(liked)
        return self._liked_later(info)  # type: ignore[return-value]

    async def _liked_later(self, info: Info) -> bool:
        found = _viewer_liked(info, "Post", PostLike, "post_id", self.id)
        return bool(await found) if found is not None else False

    @relay.connection(
        CommentConnection,
        description="Its top-level comments, oldest first (replies are under each comment).",
        max_results=COMMENTS_MAX,
    )
    def comments(self, info: Info) -> Iterable[Comment]:
        query = _top_comments(feed.viewer_shape(info.context.viewer))
        return KeysetQuery(
            query, COMMENT_ORDER, Comment.from_row, info.context.reads,
            partition=(CommentModel.post_id, self.id), batch_key="Post.comments",
        )  # fmt: skip


@strawberry.type(description="Posts, a page at a time (the feed: no total, it is endless).")
class PostConnection(relay.Connection[Post]):
    pass


FEED_CURSOR = "f1:"


def _feed_cursor(row: Any) -> str:
    raw = FEED_CURSOR + orjson.dumps([row.tier, row.created_at.isoformat(), row.id]).decode()
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _feed_position(cursor: str) -> feed.Position:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not raw.startswith(FEED_CURSOR):
            raise ValueError
        tier, moment, pk = orjson.loads(raw[len(FEED_CURSOR) :])
        when = datetime.fromisoformat(moment)
        if tier not in (feed.CIRCLE, feed.OTHERS) or type(pk) is not int or not 0 < pk < 2**63:
            raise ValueError
        return feed.Position(tier, when if when.tzinfo else when.replace(tzinfo=UTC), pk)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, orjson.JSONDecodeError):
        raise bad_input("This cursor is not valid for the feed; start again without it.") from None


@strawberry.enum(description="Why a post mutation failed.")
class PostErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such post (or one you may not read), photo or batch."
    )
    FORBIDDEN = ev("FORBIDDEN", description="Only its author (or a moderator, to delete) may.")
    REQUIRED = ev("REQUIRED", description="The text is empty.")
    TOO_LONG = ev("TOO_LONG", description="The text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many images, mentions or audience values.")
    HIDDEN = ev("HIDDEN", description="Hidden by a moderator: it cannot be edited.")
    CONFLICT = ev("CONFLICT", description="Changed by someone else at the same time: try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a post mutation's input: nothing was changed.")
class PostError(UserError):
    code: PostErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.enum(description="Why a comment mutation failed.")
class CommentErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND",
        description="No such post or comment, or one you may not read, hidden or deleted.",
    )
    FORBIDDEN = ev("FORBIDDEN", description="Only its author (or a moderator, to delete) may.")
    REQUIRED = ev("REQUIRED", description="The text is empty.")
    TOO_LONG = ev("TOO_LONG", description="The text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many mentions.")
    HIDDEN = ev(
        "HIDDEN",
        description="Hidden by a moderator (or on a hidden post or comment): it cannot be edited.",
    )
    CONFLICT = ev("CONFLICT", description="Changed by someone else at the same time: try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a comment mutation's input: nothing was changed.")
class CommentError(UserError):
    code: CommentErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new post.")
class PostCreateInput:
    body: str = strawberry.field(description=MENTIONS.format(limit=posts.BODY_MAX))
    audience: AnnouncementAudienceInput | None = strawberry.field(
        default=None,
        description="Who may read it, by the announcements' rules (roles AND batches AND "
        "graduation years; any value within one); omit for everyone signed in.",
    )
    image_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list,
        description="Up to four of your photos (uploaded for a post, processed and ready), "
        "shown in this order.",
    )
    link_url: str | None = strawberry.field(
        default=None,
        description="The http(s) link to preview; omitted, the first link in the body is "
        "taken. The preview is fetched in the background.",
    )
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): posting again with it "
        "returns the first post and notifies nobody twice.",
    )


@strawberry.input(description="A post's corrected text.")
class PostUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The post (yours).")
    body: str = strawberry.field(
        description="The new text (as for postCreate); only people newly mentioned are notified."
    )
    link_url: str | None = strawberry.field(
        default=None, description="The link to preview; omitted, the first link in the body."
    )


@strawberry.input(description="The post to delete.")
class PostDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The post (yours, or any for moderators).")


@strawberry.input(description="Like or unlike a post.")
class PostLikeInput:
    post_id: relay.GlobalID = strawberry.field(description="The post.")
    liked: bool = strawberry.field(
        default=True, description="True to like it, false to take the like back."
    )


@strawberry.type(description="The post, or why there is none.")
class PostPayload:
    post: Post | None = strawberry.field(description="The post as it is now.")
    user_errors: list[PostError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new comment, or a reply to one.")
class CommentCreateInput:
    post_id: relay.GlobalID = strawberry.field(description="The post.")
    parent_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The comment it replies to; a reply to a reply joins the top comment "
        "(one level of replies).",
    )
    body: str = strawberry.field(description=MENTIONS.format(limit=posts.COMMENT_MAX))
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): sending again with it "
        "returns the first comment.",
    )


@strawberry.input(description="A comment's corrected text.")
class CommentUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The comment (yours).")
    body: str = strawberry.field(description="The new text; only people newly mentioned are "
                                 "notified.")  # fmt: skip


@strawberry.input(description="The comment to delete.")
class CommentDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The comment (yours, or any for moderators).")


@strawberry.input(description="Like or unlike a comment.")
class CommentLikeInput:
    comment_id: relay.GlobalID = strawberry.field(description="The comment.")
    liked: bool = strawberry.field(
        default=True, description="True to like it, false to take the like back."
    )


@strawberry.type(description="The comment, or why there is none.")
class CommentPayload:
    comment: Comment | None = strawberry.field(description="The comment as it is now.")
    user_errors: list[CommentError] = strawberry.field(description="Empty on success.")


def _post_payload(found: Any, problems: Any) -> PostPayload:
    return PostPayload(
        post=Post.from_row(found) if found is not None else None,
        user_errors=user_errors(PostError, PostErrorCode, problems),
    )


def _comment_payload(found: Any, problems: Any) -> CommentPayload:
    return CommentPayload(
        comment=Comment.from_row(found) if found is not None else None,
        user_errors=user_errors(CommentError, CommentErrorCode, problems),
    )


@strawberry.type
class PostQuery:
    @strawberry.field(
        description="Your news feed: the posts of your circle (people you follow, the "
        "people of your batches, and yourself) newest first, then all other posts you may "
        "read newest first. Hidden and deleted posts are never in it. Signed in only.",
        extensions=requires(),
    )
    async def feed(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description=f"How many posts (at most {FEED_MAX}).")
        ] = FEED_PAGE,
        after: Annotated[
            str | None, strawberry.argument(description="The `endCursor` of the page before.")
        ] = None,
    ) -> PostConnection:
        if not 0 <= first <= FEED_MAX:
            raise bad_input(f"`first` must be between 0 and {FEED_MAX}.")
        viewer: Viewer = info.context.viewer
        position = _feed_position(after) if after else None
        rows: list[Any] = []
        if first > 0:
            me = viewer.user_id if viewer.user_id is not None else -1
            async with info.context.reads.connect() as conn:
                authors = await feed.circle_of(info.context.runtime, conn, me)
                rows = await feed.read_page(conn, viewer, position, first + 1, authors)
        more = len(rows) > first
        rows = rows[:first]
        edges = [relay.Edge(cursor=_feed_cursor(r), node=Post.from_row(r)) for r in rows]
        return PostConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=more, has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )  # fmt: skip


@strawberry.type
class PostMutation:
    @strawberry.mutation(
        description="Post an update (anyone signed in): to everyone, or to an audience. "
        "People mentioned who may read it are notified; subscribers of `postCreated` who "
        "may read it hear of it."
    )
    async def post_create(
        self, info: Info, input: Annotated[PostCreateInput, arg("The post.")]
    ) -> PostPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: posts.create(
                uow, viewer, body=input.body, audience=audience_of_input(input.audience),
                images=sent_ids(input.image_ids, "Photo"), link_url=input.link_url,
                client_id=input.client_id,
            ),
        )  # fmt: skip
        return _post_payload(found, problems)

    @strawberry.mutation(description="Correct your post; it is marked edited.")
    async def post_update(
        self, info: Info, input: Annotated[PostUpdateInput, arg("The correction.")]
    ) -> PostPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: posts.edit(
                uow, viewer, pk_of(input.id, "Post", "id"), body=input.body,
                link_url=input.link_url,
            ),
        )  # fmt: skip
        return _post_payload(found, problems)

    @strawberry.mutation(
        description="Delete a post (yours, or any for holders of `community:moderate`, "
        "audited). It leaves every list; its comments go with it."
    )
    async def post_delete(
        self, info: Info, input: Annotated[PostDeleteInput, arg("The post.")]
    ) -> PostPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: posts.remove(uow, viewer, pk_of(input.id, "Post", "id"))
        )
        return _post_payload(found, problems)

    @strawberry.mutation(
        description="Like a post you may read, or take your like back; liking twice counts "
        "once. Hidden and deleted posts answer NOT_FOUND."
    )
    async def post_like(
        self, info: Info, input: Annotated[PostLikeInput, arg("The post and the choice.")]
    ) -> PostPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: posts.like_post(
                uow, viewer, pk_of(input.post_id, "Post", "postId"), liked=input.liked
            ),
        )
        return _post_payload(found, problems)

    @strawberry.mutation(
        description="Comment on a post you may read, or reply to a comment. Its author "
        "(the post's, or the comment's for a reply) is notified, and the people mentioned. "
        "Hidden and deleted posts answer NOT_FOUND."
    )
    async def comment_create(
        self, info: Info, input: Annotated[CommentCreateInput, arg("The comment.")]
    ) -> CommentPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            post_id = pk_of(input.post_id, "Post", "postId")
            parent = (
                pk_of(input.parent_id, "Comment", "parentId")
                if input.parent_id is not None
                else None
            )
            return await posts.add_comment(
                uow, viewer, post_id=post_id, parent_id=parent, body=input.body,
                client_id=input.client_id,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return _comment_payload(found, problems)

    @strawberry.mutation(description="Correct your comment; it is marked edited.")
    async def comment_update(
        self, info: Info, input: Annotated[CommentUpdateInput, arg("The correction.")]
    ) -> CommentPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: posts.edit_comment(
                uow, viewer, pk_of(input.id, "Comment", "id"), body=input.body
            ),
        )
        return _comment_payload(found, problems)

    @strawberry.mutation(
        description="Delete a comment (yours, or any for holders of `community:moderate`, "
        "audited). Its replies leave the lists with it."
    )
    async def comment_delete(
        self, info: Info, input: Annotated[CommentDeleteInput, arg("The comment.")]
    ) -> CommentPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: posts.remove_comment(uow, viewer, pk_of(input.id, "Comment", "id")),
        )
        return _comment_payload(found, problems)

    @strawberry.mutation(
        description="Like a comment, or take your like back; liking twice counts once."
    )
    async def comment_like(
        self, info: Info, input: Annotated[CommentLikeInput, arg("The comment and the choice.")]
    ) -> CommentPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: posts.like_comment(
                uow, viewer, pk_of(input.comment_id, "Comment", "commentId"), liked=input.liked
            ),
        )
        return _comment_payload(found, problems)


@strawberry.type
class PostSubscription:
    @strawberry.subscription(
        description="New posts, as they are posted: only those you may read (an audience's "
        "posts reach only its people). Ends at once for an anonymous connection."
    )
    async def post_created(self, info: Info) -> AsyncGenerator[Post, None]:
        if info.context.viewer.user_id is None:
            return
        async with info.context.runtime.bus.subscription(posts.POSTS_CHANNEL) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await Post.resolve_nodes(info=info, node_ids=[str(event["id"])])
                if found is not None:
                    yield found

    @strawberry.subscription(
        description="New comments and replies on one post, as they are written. Ends at "
        "once if you may not read the post (or are not signed in)."
    )
    async def comment_added(
        self,
        info: Info,
        post_id: Annotated[relay.GlobalID, strawberry.argument(description="The post.")],
    ) -> AsyncGenerator[Comment, None]:
        pk = global_pk(post_id, "Post")
        if info.context.viewer.user_id is None or pk is None:
            return
        if (await Post.resolve_nodes(info=info, node_ids=[str(pk)]))[0] is None:
            return
        async with info.context.runtime.bus.subscription(posts.comments_channel(pk)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await Comment.resolve_nodes(info=info, node_ids=[str(event["id"])])
                if found is not None and found._row.post_id == pk:
                    yield found
