"""Moderation: reports of posts and comments, the queue staff work through (hide, restore,
warn, dismiss), warnings to authors, and the link preview shown with a post."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.community import moderation, posts
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Comment as CommentModel
from alumnet.persistence.models import ContentReport as ContentReportModel
from alumnet.persistence.models import Post as PostModel
from alumnet.persistence.models import User as UserModel
from alumnet.persistence.models.community import CommunityWarning as WarningModel
from alumnet.persistence.uow import UnitOfWork
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.community.posts import Comment, Post
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
POSTS = "alumnet.schema.community.posts"


@strawberry.enum(description="Why something was reported.")
class ContentReportReason(Enum):
    SPAM = ev("spam", description="Advertising, scams or repeated unwanted posts.")
    HARASSMENT = ev("harassment", description="Attacks, threats or bullying of a person.")
    INAPPROPRIATE = ev(
        "inappropriate", description="Offensive, explicit or otherwise out of place."
    )
    OTHER = ev("other", description="Something else (say what in the note).")


@strawberry.enum(description="Where a report stands.")
class ContentReportStatus(Enum):
    OPEN = ev("open", description="Waiting for a moderator's decision.")
    RESOLVED = ev("resolved", description="A moderator decided (see the action).")


@strawberry.enum(description="A moderator's decision on a reported post or comment.")
class ModerationAction(Enum):
    HIDE = ev(
        "hide",
        description="Hide it: it leaves every list and the feed; its author still sees it, "
        "marked hidden. The author is notified.",
    )
    RESTORE = ev("restore", description="Show it again after a hide. The author is notified.")
    WARN = ev(
        "warn",
        description="Record a warning to its author (they see it in `communityWarnings`) "
        "and notify them; it stays shown.",
    )
    DISMISS = ev("dismiss", description="Close the reports: nothing is wrong with it.")


@strawberry.enum(description="What a moderation queue item is.")
class ModerationItemKind(Enum):
    POST = ev("POST", description="A post.")
    COMMENT = ev("COMMENT", description="A comment or a reply.")


def _moderator(info: Info) -> bool:
    return moderation.is_moderator(info.context.viewer)


def _rows(info: Info, name: str, table: Any, condition: Any) -> Any:
    """The request's loader of ``table``'s rows by id that meet ``condition``."""

    async def load(reads: Any, ids: Any) -> list[Any]:
        query = select(table).where(table.c.id.in_(list(ids)), condition)
        async with reads.connect() as conn:
            found = {row.id: row for row in (await conn.execute(query)).all()}
        return [found.get(i) for i in ids]

    return reads_loader(info, ("moderation", name), load)


async def _name(info: Info, user_id: int | None) -> str | None:
    """A person's name as shown, for moderators (who may not see users' profiles), batched."""
    if user_id is None:
        return None

    async def load(reads: Any, ids: Any) -> list[Any]:
        query = select(UserModel.id, UserModel.name).where(UserModel.id.in_(list(ids)))
        async with reads.connect() as conn:
            found = {row.id: row.name for row in (await conn.execute(query)).all()}
        return [found.get(i) for i in ids]

    return await reads_loader(info, ("moderation", "names"), load).load(user_id)  # type: ignore[no-any-return]


async def _post(info: Info, post_id: int | None) -> Any:
    """The post if the viewer may read it (a moderator: hidden ones too), batched."""
    if post_id is None:
        return None
    from alumnet.schema.community.posts import Post

    condition = posts.readable(info.context.viewer)
    row = await _rows(info, "posts", PostModel.__table__, condition).load(post_id)
    return Post.from_row(row) if row is not None else None


async def _comment(info: Info, comment_id: int | None) -> Any:
    """The comment if the viewer may read it (a moderator: hidden ones too), batched."""
    if comment_id is None:
        return None
    from alumnet.schema.community.posts import Comment

    condition = posts.comment_readable(info.context.viewer)
    row = await _rows(info, "comments", CommentModel.__table__, condition).load(comment_id)
    return Comment.from_row(row) if row is not None else None


@strawberry.type(description="A report of a post or a comment, by someone who read it.")
class ContentReport(relay.Node):
    id: relay.NodeID[int]
    reason: ContentReportReason = strawberry.field(description="Why it was reported.")
    note: str | None = strawberry.field(description="What the reporter added, if anything.")
    status: ContentReportStatus = strawberry.field(description="Open, or resolved.")
    action: ModerationAction | None = strawberry.field(
        description="The moderator's decision that resolved it; null while open."
    )
    created_at: datetime = strawberry.field(description="When it was reported (UTC).")
    resolved_at: datetime | None = strawberry.field(
        description="When a moderator resolved it (UTC); null while open."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, reason=ContentReportReason(row.reason), note=row.note,
            status=ContentReportStatus(row.status),
            action=ModerationAction(row.action) if row.action else None,
            created_at=row.created_at, resolved_at=row.resolved_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = moderation.reports_readable(info.context.viewer)
        found = await readable_rows(info, ContentReportModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who reported it: for moderators, and for the reporter.")
    async def reporter(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.reporter_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The reporter's name as shown (for moderators, who may not see every "
        "person's profile, and for the reporter)."
    )
    async def reporter_name(self, info: Info) -> str | None:
        viewer = info.context.viewer
        if not (_moderator(info) or viewer.user_id == self._row.reporter_id):
            return None
        return await _name(info, self._row.reporter_id)

    @strawberry.field(description="The moderator's note on the decision (moderators only).")
    def resolution_note(self, info: Info) -> str | None:
        return self._row.resolution_note if _moderator(info) else None  # type: ignore[no-any-return]

    @strawberry.field(description="The moderator who resolved it (moderators only).")
    async def resolved_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        if not _moderator(info):
            return None
        return await visible_user(info, self._row.resolved_by_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The post reported, if you may read it; null for a comment.")
    async def post(self, info: Info) -> Annotated[Post, strawberry.lazy(POSTS)] | None:
        return await _post(info, self._row.post_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The comment reported, if you may read it; null for a post.")
    async def comment(self, info: Info) -> Annotated[Comment, strawberry.lazy(POSTS)] | None:
        return await _comment(info, self._row.comment_id)  # type: ignore[no-any-return]


@strawberry.type(description="Reports, a page at a time.")
class ContentReportConnection(CountedConnection[ContentReport]):
    pass


@strawberry.type(description="How many of an item's reports give one reason.")
class ContentReportReasonCount:
    reason: ContentReportReason = strawberry.field(description="The reason.")
    count: int = strawberry.field(description="How many reports give it.")


@strawberry.type(
    description="A reported post or comment in the moderation queue, with its reports "
    "(for holders of `community:moderate`)."
)
class ModerationItem(relay.Node):
    id: relay.NodeID[int]
    kind: ModerationItemKind = strawberry.field(description="A post or a comment.")
    report_count: int = strawberry.field(
        description="How many reports it has of the status it is listed with."
    )
    first_reported_at: datetime = strawberry.field(
        description="When the first of those reports came (UTC)."
    )
    last_reported_at: datetime = strawberry.field(
        description="When the latest of those reports came (UTC)."
    )
    resolved_at: datetime | None = strawberry.field(
        description="When a moderator last resolved its reports (UTC); null if never."
    )
    hidden_at: datetime | None = strawberry.field(
        description="When it was hidden (UTC); null while it is shown."
    )
    reasons: list[ContentReportReasonCount] = strawberry.field(
        description="The reasons given, each with how many reports give it (most first)."
    )
    _row: strawberry.Private[Any]
    _status: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        counts = [
            ContentReportReasonCount(reason=ContentReportReason(r), count=int(n))
            for r in moderation.REASONS
            if (n := getattr(row, f"n_{r}") or 0)
        ]
        counts.sort(key=lambda c: -c.count)
        return cls(
            id=row.id,
            kind=ModerationItemKind.POST if row.post_id is not None else ModerationItemKind.COMMENT,
            report_count=int(row.report_count), first_reported_at=row.first_reported_at,
            last_reported_at=row.last_reported_at, resolved_at=row.last_resolved_at,
            hidden_at=row.hidden_at, reasons=counts, _row=row, _status=str(row.status),
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        wanted = [i for i in ids if i]
        if not wanted or not _moderator(info):
            return [None for _ in ids]
        found: dict[int, Any] = {}
        async with info.context.reads.connect() as conn:
            for status in (moderation.OPEN, moderation.RESOLVED):
                missing = [i for i in wanted if i not in found]
                if not missing:
                    break
                query, _ = moderation.queue(status, missing)
                found.update({row.id: row for row in (await conn.execute(query)).all()})
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Whether it is hidden now.")
    def hidden(self) -> bool:
        return self.hidden_at is not None

    @strawberry.field(
        description="The post reported, or the post the reported comment is on (shown to "
        "moderators even when hidden); null if it was deleted."
    )
    async def post(self, info: Info) -> Annotated[Post, strawberry.lazy(POSTS)] | None:
        return await _post(info, self._row.on_post_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The comment reported (shown to moderators even when hidden); null for a "
        "post, or if it was deleted."
    )
    async def comment(self, info: Info) -> Annotated[Comment, strawberry.lazy(POSTS)] | None:
        return await _comment(info, self._row.comment_id)  # type: ignore[no-any-return]

    @strawberry.field(description="Who wrote it (if you may see their profile).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.author_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The name of who wrote it, as shown to others.")
    async def author_name(self, info: Info) -> str | None:
        return await _name(info, self._row.author_id)

    @relay.connection(
        ContentReportConnection,
        description="Its reports of the status it is listed with, oldest first.",
        max_results=1000,
    )
    def reports(self, info: Info) -> Iterable[ContentReport]:
        reports = moderation.reports_of(self._status)
        return KeysetQuery(
            select(reports),
            [SortKey(reports.c.created_at), SortKey(reports.c.id)],
            ContentReport.from_row,
            info.context.reads,
            partition=(reports.c.item_key, self.id),
            batch_key=("ModerationItem.reports", self._status),
        )


@strawberry.type(description="Reported posts and comments, a page at a time.")
class ModerationItemConnection(CountedConnection[ModerationItem]):
    pass


@strawberry.type(
    description="A moderator's warning to the author of a post or comment: seen by the "
    "author and by moderators."
)
class CommunityWarning(relay.Node):
    id: relay.NodeID[int]
    note: str | None = strawberry.field(description="What the moderator wrote, if anything.")
    created_at: datetime = strawberry.field(description="When it was given (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, note=row.note, created_at=row.created_at, _row=row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = moderation.warnings_readable(info.context.viewer)
        found = await readable_rows(info, WarningModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who was warned.")
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.user_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The moderator who gave it (moderators only).")
    async def issued_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        if not _moderator(info):
            return None
        return await visible_user(info, self._row.issued_by_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The post it is about (or the post of the comment it is about), if it "
        "still exists and you may read it."
    )
    async def post(self, info: Info) -> Annotated[Post, strawberry.lazy(POSTS)] | None:
        return await _post(info, self._row.post_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The comment it is about, if it still exists and you may read it; null "
        "for a post."
    )
    async def comment(self, info: Info) -> Annotated[Comment, strawberry.lazy(POSTS)] | None:
        return await _comment(info, self._row.comment_id)  # type: ignore[no-any-return]


@strawberry.type(description="Warnings, a page at a time.")
class CommunityWarningConnection(CountedConnection[CommunityWarning]):
    pass


# -- mutations -------------------------------------------------------------------------------


@strawberry.enum(description="Why a report could not be made.")
class ContentReportErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such post or comment that you may read.")
    REQUIRED = ev("REQUIRED", description="Name a post or a comment (exactly one).")
    OWN_CONTENT = ev("OWN_CONTENT", description="You cannot report what you wrote.")
    TOO_MANY = ev(
        "TOO_MANY", description="You made too many reports in the last 24 hours: try later."
    )
    TOO_LONG = ev("TOO_LONG", description="The note is longer than allowed.")
    CONFLICT = ev("CONFLICT", description="The same report was made at the same moment.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a report.")
class ContentReportError(UserError):
    code: ContentReportErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A report of a post or a comment: name exactly one.")
class ContentReportInput:
    post_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The post (or leave it out and name a comment)."
    )
    comment_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The comment or reply (or leave it out and name a post)."
    )
    reason: ContentReportReason = strawberry.field(description="Why.")
    note: str | None = strawberry.field(
        default=None, description="Anything moderators should know (at most 1,000 characters)."
    )


@strawberry.type(description="The report, or why there is none.")
class ContentReportPayload:
    report: ContentReport | None = strawberry.field(
        description="Your report (the one already open, if you had reported it before)."
    )
    user_errors: list[ContentReportError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why a moderation decision could not be made.")
class ModerationErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such post or comment (or it was deleted).")
    REQUIRED = ev("REQUIRED", description="Name a post or a comment (exactly one).")
    TOO_LONG = ev("TOO_LONG", description="The note is longer than allowed.")
    CONFLICT = ev("CONFLICT", description="Someone changed it at the same moment; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a moderation decision.")
class ModerationError(UserError):
    code: ModerationErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A moderator's decision on a post or a comment: name exactly one.")
class ModerationResolveInput:
    post_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The post (or leave it out and name a comment)."
    )
    comment_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The comment or reply (or leave it out and name a post)."
    )
    action: ModerationAction = strawberry.field(description="The decision.")
    note: str | None = strawberry.field(
        default=None,
        description="Why (at most 1,000 characters): kept with the reports, and sent to the "
        "author with a hide, a restore or a warning.",
    )


@strawberry.type(description="The decision's outcome, or why there is none.")
class ModerationResolvePayload:
    item: ModerationItem | None = strawberry.field(
        description="The item as it is now, with the reports the decision resolved; null "
        "when it had no reports."
    )
    reports_closed: int = strawberry.field(description="How many open reports it closed.")
    changed: bool = strawberry.field(
        description="Whether it changed anything besides the reports (false: hiding what "
        "was hidden, restoring what was shown, or a dismissal)."
    )
    warning: CommunityWarning | None = strawberry.field(description="The warning given (WARN).")
    user_errors: list[ModerationError] = strawberry.field(description="Empty on success.")


def _target_ids(post_id: relay.GlobalID | None, comment_id: relay.GlobalID | None) -> Any:
    """The keys behind the ids given (-1 for an id of another type: it names nothing)."""
    post = (global_pk(post_id, "Post") or -1) if post_id is not None else None
    comment = (global_pk(comment_id, "Comment") or -1) if comment_id is not None else None
    return post, comment


@strawberry.type
class ModerationQuery:
    @relay.connection(
        ModerationItemConnection,
        description="The moderation queue (holders of `community:moderate`): posts and "
        "comments with open reports, each once with its reports, the longest waiting first; "
        "or, with `status: RESOLVED`, those whose reports were resolved, the latest first.",
        max_results=1000,
        extensions=requires(Permission.COMMUNITY_MODERATE),
    )
    def moderation_queue(
        self,
        info: Info,
        status: Annotated[
            ContentReportStatus,
            strawberry.argument(description="Open reports (the default) or resolved ones."),
        ] = ContentReportStatus.OPEN,
    ) -> Iterable[ModerationItem]:
        query, items = moderation.queue(str(status.value))
        if status == ContentReportStatus.OPEN:
            sort = [SortKey(items.c.first_reported_at), SortKey(items.c.id)]
        else:
            sort = [
                SortKey(items.c.last_resolved_at, descending=True),
                SortKey(items.c.id, descending=True),
            ]
        return KeysetQuery(query, sort, ModerationItem.from_row, info.context.reads)

    @relay.connection(
        CommunityWarningConnection,
        description="Warnings moderators gave for posts and comments, newest first: yours, "
        "or (for moderators) a person's.",
        max_results=1000,
        extensions=requires(),
    )
    def community_warnings(
        self,
        info: Info,
        user_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Whose (moderators only); leave it out for yours."),
        ] = None,
    ) -> Iterable[CommunityWarning]:
        viewer = info.context.viewer
        whose = viewer.user_id if user_id is None else (global_pk(user_id, "User") or -1)
        query = select(WarningModel.__table__).where(WarningModel.user_id == whose)
        condition = moderation.warnings_readable(viewer)
        if condition is not None:
            query = query.where(condition)
        sort = [
            SortKey(WarningModel.created_at, descending=True),
            SortKey(WarningModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, CommunityWarning.from_row, info.context.reads)


@strawberry.type
class ModerationMutation:
    @strawberry.mutation(
        description="Report a post or a comment you may read, for moderators to look at. "
        "Reporting it again while your report is open changes nothing."
    )
    async def content_report(
        self, info: Info, input: Annotated[ContentReportInput, arg("The report.")]
    ) -> ContentReportPayload:
        viewer = info.context.viewer
        post_id, comment_id = _target_ids(input.post_id, input.comment_id)
        found, problems = await run_in_transaction(
            info,
            lambda uow: moderation.report(
                uow, viewer, post_id=post_id, comment_id=comment_id,
                reason=str(input.reason.value), note=input.note,
            ),
        )  # fmt: skip
        return ContentReportPayload(
            report=ContentReport.from_row(found) if found is not None else None,
            user_errors=user_errors(ContentReportError, ContentReportErrorCode, problems),
        )

    @strawberry.mutation(
        description="Decide on a reported (or any) post or comment (holders of "
        "`community:moderate`): hide, restore, warn its author or dismiss; its open reports "
        "are closed with the decision.",
        extensions=requires(Permission.COMMUNITY_MODERATE),
    )
    async def moderation_resolve(
        self, info: Info, input: Annotated[ModerationResolveInput, arg("The decision.")]
    ) -> ModerationResolvePayload:
        viewer = info.context.viewer
        post_id, comment_id = _target_ids(input.post_id, input.comment_id)

        async def change(uow: UnitOfWork) -> tuple[moderation.Resolution, Any]:
            done = await moderation.resolve(
                uow, viewer, post_id=post_id, comment_id=comment_id,
                action=str(input.action.value), note=input.note,
            )  # fmt: skip
            # The item as this transaction leaves it (a replica may not have it yet).
            status = moderation.RESOLVED if done.reports_closed else moderation.OPEN
            query, _ = moderation.queue(status, [done.target.key])
            return done, (await uow.session.execute(query)).first()

        outcome, problems = await run_in_transaction(info, change)
        errors = user_errors(ModerationError, ModerationErrorCode, problems)
        if outcome is None:
            return ModerationResolvePayload(
                item=None, reports_closed=0, changed=False, warning=None, user_errors=errors
            )
        done, row = outcome
        return ModerationResolvePayload(
            item=ModerationItem.from_row(row) if row is not None else None,
            reports_closed=done.reports_closed, changed=done.changed,
            warning=CommunityWarning.from_row(done.warning) if done.warning else None,
            user_errors=errors,
        )  # fmt: skip
