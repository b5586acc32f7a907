"""Posts, comments and likes: who may read them, writing and changing them, and the
counts kept in the same transaction as the likes and comments that change them.

Mentions are written ``@[Name](user:<User id>)`` (the global id a frontend holds): the
mentioned person is notified when they may read the post, at most ``MENTIONS_MAX`` a
post or comment, and once per post or comment ever (an edit that takes a mention out and
puts it back tells nobody again). A reply to a reply attaches to the top comment (one level
of replies).

Blocks (``userBlock``) stand between people here as in messages: nobody is notified of a
mention, a comment or a reply by someone they blocked or who blocked them, and neither may
comment on the other's posts nor reply to the other's comments (NOT_FOUND, as for a post
one may not comment on). Hidden posts and comments cannot be edited (HIDDEN) and never
notify anyone of a mention.

Texts render as notices do (raw HTML escaped, unsafe links refused) but without images:
an image in Markdown would be fetched by every reader's browser (a tracking pixel) and
would bypass the photo checks and the limit of ``IMAGES_MAX`` images a post.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    delete,
    exists,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from alumnet.domain.communication.announcements import (
    Audience,
    addressed_to,
    check_audience,
    recipients,
    target_values,
)
from alumnet.domain.communication.messages import blocked_between
from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.communication.reminders import mark_once
from alumnet.domain.community import previews
from alumnet.domain.errors import DomainError, Problems, Sent, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import (
    Block,
    Comment,
    CommentLike,
    Photo,
    Post,
    PostImage,
    PostLike,
    PostTarget,
    User,
)
from alumnet.persistence.uow import UnitOfWork

BODY_MAX = 5_000
COMMENT_MAX = 2_000
IMAGES_MAX = 4
MENTIONS_MAX = 20
CLIENT_ID_MAX = 64
LINK_MAX = 2_000
POSTS_CHANNEL = "community:posts"
MENTION = re.compile(r"@\[([^\[\]\n]{1,100})\]\(user:([A-Za-z0-9+/=_-]{1,100})\)")
URL = re.compile(r"https?://[^\s<>\"'()\[\]]+", re.IGNORECASE)
# As notices render (see the module's docstring), less the image rule: ``![x](url)`` is left
# a plain link. Mentions (``[Name](user:…)``) stay links.
_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")
)


def render(markdown: str) -> str:
    """A post's or a comment's Markdown as safe HTML, without images."""
    return str(_MARKDOWN.render(markdown))


def comments_channel(post_id: int) -> str:
    """The pub/sub channel of the comments added to one post."""
    return f"post:{post_id}:comments"


def readable(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the posts the viewer may read. Signed-in people read posts to everyone and
    those whose audience includes them; authors read their own; hidden posts only their
    author and moderators; deleted posts nobody (through the API)."""
    if not viewer.is_authenticated:
        return Post.id < 0
    me = viewer.user_id if viewer.user_id is not None else -1
    alive = Post.deleted_at.is_(None)
    if viewer.can(Permission.COMMUNITY_MODERATE):
        return alive
    shown = and_(Post.hidden_at.is_(None), in_audience(viewer))
    return and_(alive, or_(Post.author_id == me, shown))


def in_audience(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the post is to everyone, or its audience includes the viewer. The audience
    check runs per post, only for the few limited ones (``OFFSET 0`` keeps PostgreSQL from
    hashing every post's targets up front to answer it, which a feed page would pay)."""
    other = aliased(Post)
    t = PostTarget
    audience = (
        select(literal(1))
        .where(other.id == Post.id, addressed_to(viewer, t, t.post_id, other.id))
        .offset(0)
    )
    return or_(~Post.limited, audience.exists())


def open_to(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the posts the viewer may comment on and like: readable, neither hidden nor
    deleted (a hidden post takes no comment or like, even from its author)."""
    return and_(readable(viewer), Post.hidden_at.is_(None))


def comment_shown(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the comments the viewer may read on a post they may read: not deleted; a
    hidden one, or a reply whose top comment is hidden or deleted, only to its author and
    moderators."""
    alive = Comment.deleted_at.is_(None)
    if viewer.can(Permission.COMMUNITY_MODERATE):
        return alive
    me = viewer.user_id if viewer.user_id is not None else -1
    top = aliased(Comment)
    top_shown = or_(
        Comment.parent_id.is_(None),
        exists().where(
            top.id == Comment.parent_id, top.hidden_at.is_(None), top.deleted_at.is_(None)
        ),
    )
    return and_(alive, or_(and_(Comment.hidden_at.is_(None), top_shown), Comment.author_id == me))


def comment_readable(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the comments the viewer may read, their post included."""
    on_readable_post = exists().where(Post.id == Comment.post_id, readable(viewer))
    return and_(comment_shown(viewer), on_readable_post)


def user_pk(global_id: str) -> int | None:
    """The user a mention names (``User:<pk>`` in base64, as the API's ids are)."""
    try:
        decoded = base64.b64decode(global_id + "=" * (-len(global_id) % 4), validate=False)
        kind, _, raw = decoded.decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if kind != "User" or not raw.isdigit() or not 0 < int(raw) < 2**63:
        return None
    return int(raw)


def mentioned(markdown: str) -> list[int]:
    """The users a text mentions, once each, in order."""
    found = (user_pk(m.group(2)) for m in MENTION.finditer(markdown))
    return list(dict.fromkeys(pk for pk in found if pk is not None))


def first_link(markdown: str) -> str | None:
    """The first http(s) URL in a text, without the punctuation that ends a sentence."""
    match = URL.search(markdown)
    if match is None:
        return None
    return match.group(0).rstrip(".,;:!?")[:LINK_MAX] or None


def _check_link(problems: Problems, url: str) -> str | None:
    url = url.strip()
    parts = urlsplit(url) if len(url) <= LINK_MAX else None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ord(c) <= 32 or c in "<>\"'" for c in url)
    ):
        problems.add("INVALID", f"The link must be an http(s) URL of at most {LINK_MAX} "
                     "characters.", "linkUrl")  # fmt: skip
        return None
    return url


def _check_body(problems: Problems, body: str, *, limit: int, label: str) -> str:
    text = check_text(
        problems, body.replace("\r\n", "\n"), field="body", max_length=limit, min_length=1,
        label=label,
    )  # fmt: skip
    markdown = text or ""
    if len(mentioned(markdown)) > MENTIONS_MAX:
        problems.add("TOO_MANY", f"At most {MENTIONS_MAX} people can be mentioned.", "body")
    return markdown


def _check_client_id(problems: Problems, client_id: str | None) -> None:
    if client_id is not None and not 0 < len(client_id) <= CLIENT_ID_MAX:
        problems.add("INVALID", f"clientId must be 1 to {CLIENT_ID_MAX} characters.", "clientId")


def _preview(markdown: str) -> str:
    text = " ".join(MENTION.sub(lambda m: "@" + m.group(1), markdown).split())
    return text if len(text) <= 280 else text[:279] + "…"


async def _audience_of(uow: UnitOfWork, post_id: int) -> Audience:
    rows = (
        await uow.session.execute(select(PostTarget).where(PostTarget.post_id == post_id))
    ).scalars()
    roles, batches, years = [], [], []
    for t in rows:
        if t.role is not None:
            roles.append(t.role)
        elif t.batch_id is not None:
            batches.append(t.batch_id)
        elif t.graduation_year is not None:
            years.append(t.graduation_year)
    return Audience(roles=tuple(roles), batch_ids=tuple(batches), graduation_years=tuple(years))


def unblocked(me: int) -> ColumnElement[bool]:
    """SQL: the users with no block between them and ``me``, either way."""
    return ~exists().where(
        or_(
            and_(Block.blocker_id == me, Block.blocked_id == User.id),
            and_(Block.blocker_id == User.id, Block.blocked_id == me),
        )
    )


async def readers_among(
    uow: UnitOfWork, post: Post, user_ids: Sequence[int], *, writer: int | None = None
) -> list[int]:
    """Those among ``user_ids`` who may read the post now (active people of its audience,
    its author, moderators; only the last two while it is hidden) and, given the
    ``writer`` who would tell them, have no block between them and the writer."""
    if not user_ids:
        return []
    query = select(User.id).where(User.id.in_(list(user_ids)), User.status == "active")
    if writer is not None:
        query = query.where(unblocked(writer))
    moderators = await holders_of(uow, Permission.COMMUNITY_MODERATE, everywhere=True)
    if post.hidden_at is not None or post.deleted_at is not None:
        query = query.where(or_(User.id == post.author_id, User.id.in_(moderators)))
    elif post.limited:
        audience = await _audience_of(uow, post.id)
        query = query.where(
            or_(
                User.id == post.author_id,
                User.id.in_(recipients(audience)),
                User.id.in_(moderators),
            )
        )
    found = set((await uow.session.execute(query)).scalars())
    return [i for i in user_ids if i in found]


async def _notify_mentions(
    uow: UnitOfWork,
    viewer: Viewer,
    post: Post,
    markdown: str,
    *,
    before: str = "",
    skip: Sequence[int] = (),
    subject: tuple[str, int] | None = None,
) -> int:
    """Notify the people ``markdown`` mentions (and ``before`` did not), who may read the
    post and have no block with the writer, except the writer and those in ``skip`` (told
    otherwise), each once per post or comment ever (recorded, with those in ``skip``, as
    reminders are: one statement on a unique index). Nobody, while the post is hidden."""
    if post.hidden_at is not None or post.deleted_at is not None:
        return 0
    earlier = set(mentioned(before))
    wanted = [u for u in mentioned(markdown) if u not in earlier and u != viewer.user_id]
    readers = await readers_among(uow, post, wanted, writer=viewer.user_id)
    if not readers:
        return 0
    kind, pk = subject or ("Post", post.id)
    fresh = await mark_once(
        uow, "mention",
        select(literal(pk, BigInteger), User.id, literal(kind, String))
        .where(User.id.in_(readers)),
    )  # fmt: skip
    first_time = {user for _, user, _ in fresh}
    readers = [u for u in readers if u in first_time and u not in skip]
    if not readers:
        return 0
    where = "a comment" if kind == "Comment" else "a post"
    return await notify(
        uow, readers,
        Event(kind="mention", title=f"{viewer.name or 'Someone'} mentioned you in {where}",
              body=_preview(markdown), subject_type=kind, subject_id=pk),
    )  # fmt: skip


async def _photos(uow: UnitOfWork, problems: Problems, me: int, images: Sequence[Sent]) -> None:
    if len(images) > IMAGES_MAX:
        problems.add("TOO_MANY", f"At most {IMAGES_MAX} images.", "imageIds")
        return
    wanted = [s.pk for s in images if s.pk is not None]
    found: set[int] = set()
    if wanted:
        usable = select(Photo.id).where(
            Photo.id.in_(wanted), Photo.owner_id == me, Photo.purpose == "post",
            Photo.status == "ready",
        )  # fmt: skip
        found = set((await uow.session.execute(usable)).scalars())
    seen: set[int] = set()
    for index, sent in enumerate(images):
        field = ("imageIds", str(index))
        if sent.pk is None or sent.pk not in found:
            problems.add("NOT_FOUND", f"No photo of yours ready for a post: {sent.said}.", field)
        elif sent.pk in seen:
            problems.add("INVALID", "The same photo is given twice.", field)
        seen.add(sent.pk or -1)


def _set_link(post: Post, url: str | None) -> bool:
    """Record the post's link; True when it changed to a new one (to be previewed)."""
    if url == post.link_url:
        return False
    post.link_url = url
    post.link_preview = None
    post.link_status = "pending" if url is not None else None
    return url is not None


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    body: str,
    audience: Audience,
    images: Sequence[Sent] = (),
    link_url: str | None = None,
    client_id: str | None = None,
) -> Post:
    """Post an update. With ``client_id``, posting again returns the first post and
    notifies nobody twice."""
    me = viewer.require_user()
    if client_id is not None:
        earlier = await uow.session.execute(
            select(Post).where(Post.author_id == me, Post.client_id == client_id)
        )
        found = earlier.scalar_one_or_none()
        if found is not None:
            return found
    problems = Problems()
    _check_client_id(problems, client_id)
    markdown = _check_body(problems, body, limit=BODY_MAX, label="The post")
    link = _check_link(problems, link_url) if link_url is not None else first_link(markdown)
    await check_audience(uow, problems, audience)
    await _photos(uow, problems, me, images)
    problems.raise_if_any()
    now = datetime.now(UTC)
    post = Post(
        author_id=me, body_markdown=markdown, body_html=render(markdown),
        limited=not audience.everyone, client_id=client_id, created_at=now,
    )  # fmt: skip
    fetch = _set_link(post, link)
    uow.session.add(post)
    await uow.session.flush()
    uow.session.add_all(
        [PostTarget(post_id=post.id, **values) for values in target_values(audience)]
        + [PostImage(post_id=post.id, position=i, photo_id=s.pk) for i, s in enumerate(images)]
    )
    await uow.session.flush()
    if fetch:
        await previews.request(uow, post)
    await _notify_mentions(uow, viewer, post, markdown)
    uow.publish(POSTS_CHANNEL, {"id": post.id})
    return post


async def _own_post(uow: UnitOfWork, viewer: Viewer, post_id: int, *, moderate: bool) -> Post:
    """The post, locked, if the viewer may change it: NOT_FOUND if they may not read it,
    FORBIDDEN if they read it but it is someone else's (a moderator's, with ``moderate``)."""
    me = viewer.require_user()
    post = (
        await uow.session.execute(
            select(Post).where(Post.id == post_id, readable(viewer)).with_for_update()
        )
    ).scalar_one_or_none()
    if post is None:
        raise DomainError.of("NOT_FOUND", "No such post.", "id")
    if post.author_id != me and not (moderate and viewer.can(Permission.COMMUNITY_MODERATE)):
        raise DomainError.of("FORBIDDEN", "Only its author can change a post.", "id")
    return post


async def edit(
    uow: UnitOfWork, viewer: Viewer, post_id: int, *, body: str, link_url: str | None = None
) -> Post:
    """Correct a post (its author): marked edited; people newly mentioned are notified. A
    hidden post cannot be changed (HIDDEN)."""
    post = await _own_post(uow, viewer, post_id, moderate=False)
    if post.hidden_at is not None:
        raise DomainError.of("HIDDEN", "A moderator hid this post: it cannot be edited.", "id")
    problems = Problems()
    markdown = _check_body(problems, body, limit=BODY_MAX, label="The post")
    link = _check_link(problems, link_url) if link_url is not None else first_link(markdown)
    problems.raise_if_any()
    before = post.body_markdown
    post.body_markdown, post.body_html = markdown, render(markdown)
    post.edited_at = datetime.now(UTC)
    if _set_link(post, link):
        await uow.session.flush()
        await previews.request(uow, post)
    await _notify_mentions(uow, viewer, post, markdown, before=before)
    return post


async def remove(uow: UnitOfWork, viewer: Viewer, post_id: int) -> Post:
    """Delete a post (soft): its author, or a moderator (audited)."""
    me = viewer.require_user()
    post = await _own_post(uow, viewer, post_id, moderate=True)
    post.deleted_at, post.deleted_by_id = datetime.now(UTC), me
    if post.author_id != me:
        audit.record(
            uow, "post.delete", object_type="Post", object_ids=[post.id],
            details={"author": post.author_id},
        )  # fmt: skip
    return post


async def _add(uow: UnitOfWork, model: Any, pk: int, **steps: int) -> None:
    """Add to counters of one row in SQL (``SET n = n + step``): never read in Python and
    written back, so concurrent changes all count."""
    values = {name: getattr(model, name) + step for name, step in steps.items()}
    statement = update(model).where(model.id == pk).values(**values)
    await uow.session.execute(statement.execution_options(synchronize_session=False))


async def _open_post(uow: UnitOfWork, viewer: Viewer, post_id: int, field: str) -> Post:
    post = (
        await uow.session.execute(select(Post).where(Post.id == post_id, open_to(viewer)))
    ).scalar_one_or_none()
    if post is None:
        raise DomainError.of("NOT_FOUND", "No such post.", field)
    return post


async def add_comment(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    post_id: int,
    parent_id: int | None,
    body: str,
    client_id: str | None = None,
) -> Comment:
    """Comment on a post, or reply to a comment (a reply to a reply joins the top
    comment); the post's author (or the comment's) is notified, never oneself."""
    me = viewer.require_user()
    if client_id is not None:
        earlier = (
            await uow.session.execute(
                select(Comment).where(Comment.author_id == me, Comment.client_id == client_id)
            )
        ).scalar_one_or_none()
        if earlier is not None:
            return earlier
    post = await _open_post(uow, viewer, post_id, "postId")
    if post.author_id != me and await blocked_between(uow, me, post.author_id):
        raise DomainError.of("NOT_FOUND", "No such post.", "postId")
    problems = Problems()
    _check_client_id(problems, client_id)
    markdown = _check_body(problems, body, limit=COMMENT_MAX, label="The comment")
    parent: Comment | None = None
    if parent_id is not None:
        parent = (
            await uow.session.execute(
                select(Comment).where(
                    Comment.id == parent_id, Comment.post_id == post.id, comment_shown(viewer),
                    Comment.hidden_at.is_(None),
                )
            )
        ).scalar_one_or_none()  # fmt: skip
        if parent is not None and parent.parent_id is not None:
            parent = await uow.session.get(Comment, parent.parent_id)
        if parent is not None:
            # Locked, so that a reply never lands on a comment being deleted meanwhile
            # (its deletion takes its replies out of the counts).
            parent = await uow.session.get(
                Comment, parent.id, with_for_update=True, populate_existing=True
            )
        if (
            parent is None
            or parent.deleted_at is not None
            or parent.hidden_at is not None
            or (parent.author_id != me and await blocked_between(uow, me, parent.author_id))
        ):
            problems.add("NOT_FOUND", "No such comment on this post.", "parentId")
    problems.raise_if_any()
    comment = Comment(
        post_id=post.id, parent_id=parent.id if parent else None, author_id=me,
        body_markdown=markdown, body_html=render(markdown), client_id=client_id,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(comment)
    await uow.session.flush()
    await _add(uow, Post, post.id, comment_count=1)
    if parent is not None:
        await _add(uow, Comment, parent.id, reply_count=1)
    told = parent.author_id if parent is not None else post.author_id
    skip: list[int] = []
    if told != me:
        readers = await readers_among(uow, post, [told], writer=me)
        if readers:
            skip = readers
            what = "replied to your comment" if parent is not None else "commented on your post"
            await notify(
                uow, readers,
                Event(kind="comment", title=f"{viewer.name or 'Someone'} {what}",
                      body=_preview(markdown), subject_type="Comment", subject_id=comment.id),
            )  # fmt: skip
    await _notify_mentions(uow, viewer, post, markdown, skip=skip, subject=("Comment", comment.id))
    uow.publish(comments_channel(post.id), {"id": comment.id})
    return comment


async def _own_comment(
    uow: UnitOfWork, viewer: Viewer, comment_id: int, *, moderate: bool
) -> Comment:
    me = viewer.require_user()
    comment = (
        await uow.session.execute(
            select(Comment)
            .where(Comment.id == comment_id, comment_readable(viewer))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if comment is None:
        raise DomainError.of("NOT_FOUND", "No such comment.", "id")
    if comment.author_id != me and not (moderate and viewer.can(Permission.COMMUNITY_MODERATE)):
        raise DomainError.of("FORBIDDEN", "Only its author can change a comment.", "id")
    return comment


async def edit_comment(uow: UnitOfWork, viewer: Viewer, comment_id: int, *, body: str) -> Comment:
    """Correct a comment (its author): marked edited; people newly mentioned are notified.
    A hidden comment, one on a hidden post or a reply whose top comment is hidden or
    deleted cannot be changed (HIDDEN)."""
    comment = await _own_comment(uow, viewer, comment_id, moderate=False)
    post = await uow.session.get(Post, comment.post_id)
    assert post is not None
    top = await uow.session.get(Comment, comment.parent_id) if comment.parent_id else None
    if (
        comment.hidden_at is not None
        or post.hidden_at is not None
        or (top is not None and (top.hidden_at is not None or top.deleted_at is not None))
    ):
        raise DomainError.of("HIDDEN", "A moderator hid this comment: it cannot be edited.", "id")
    problems = Problems()
    markdown = _check_body(problems, body, limit=COMMENT_MAX, label="The comment")
    problems.raise_if_any()
    before = comment.body_markdown
    comment.body_markdown, comment.body_html = markdown, render(markdown)
    comment.edited_at = datetime.now(UTC)
    await _notify_mentions(
        uow, viewer, post, markdown, before=before, subject=("Comment", comment.id)
    )
    return comment


async def remove_comment(uow: UnitOfWork, viewer: Viewer, comment_id: int) -> Comment:
    """Delete a comment (soft): its author, or a moderator (audited). A top comment goes
    with its replies (they were answers to it). The counts of its post (and of the comment
    it replies to) go down by as many as went."""
    me = viewer.require_user()
    comment = await _own_comment(uow, viewer, comment_id, moderate=True)
    now = datetime.now(UTC)
    comment.deleted_at, comment.deleted_by_id = now, me
    gone = 1
    if comment.parent_id is None:
        replies = await uow.session.execute(
            update(Comment)
            .where(Comment.parent_id == comment.id, Comment.deleted_at.is_(None))
            .values(deleted_at=now, deleted_by_id=me)
            .returning(Comment.id)
            .execution_options(synchronize_session=False)
        )
        gone += len(replies.all())
    await _add(uow, Post, comment.post_id, comment_count=-gone)
    if comment.parent_id is not None:
        await _add(uow, Comment, comment.parent_id, reply_count=-1)
    if comment.author_id != me:
        audit.record(
            uow, "comment.delete", object_type="Comment", object_ids=[comment.id],
            details={"author": comment.author_id, "post": comment.post_id},
        )  # fmt: skip
    return comment


async def like_post(uow: UnitOfWork, viewer: Viewer, post_id: int, *, liked: bool) -> Post:
    """Like or unlike a post. Liking twice counts once: the count moves only when a like
    row was really added or removed, by one UPDATE in the same transaction."""
    me = viewer.require_user()
    post = await _open_post(uow, viewer, post_id, "postId")
    if liked:
        changed = await insert_or_ignore(
            uow.session, PostLike, {"post_id": post.id, "user_id": me,
                                    "created_at": datetime.now(UTC)},
            ["post_id", "user_id"],
        )  # fmt: skip
        step = 1
    else:
        gone = await uow.session.execute(
            delete(PostLike)
            .where(PostLike.post_id == post.id, PostLike.user_id == me)
            .returning(PostLike.user_id)
        )
        changed, step = gone.first() is not None, -1
    if changed:
        await _add(uow, Post, post.id, like_count=step)
    await uow.session.refresh(post)
    return post


async def like_comment(uow: UnitOfWork, viewer: Viewer, comment_id: int, *, liked: bool) -> Comment:
    """Like or unlike a comment, as ``like_post`` does a post."""
    me = viewer.require_user()
    comment = (
        await uow.session.execute(
            select(Comment).where(
                Comment.id == comment_id, Comment.deleted_at.is_(None),
                Comment.hidden_at.is_(None), comment_shown(viewer),
                exists().where(Post.id == Comment.post_id, open_to(viewer)),
            )
        )
    ).scalar_one_or_none()  # fmt: skip
    if comment is None:
        raise DomainError.of("NOT_FOUND", "No such comment.", "commentId")
    if liked:
        changed = await insert_or_ignore(
            uow.session, CommentLike, {"comment_id": comment.id, "user_id": me,
                                       "created_at": datetime.now(UTC)},
            ["comment_id", "user_id"],
        )  # fmt: skip
        step = 1
    else:
        gone = await uow.session.execute(
            delete(CommentLike)
            .where(CommentLike.comment_id == comment.id, CommentLike.user_id == me)
            .returning(CommentLike.user_id)
        )
        changed, step = gone.first() is not None, -1
    if changed:
        await _add(uow, Comment, comment.id, like_count=step)
    await uow.session.refresh(comment)
    return comment
