"""What erasing or merging people does to the community. Erasing: what they wrote is
blanked and leaves every list, their likes are taken back (the counts with them), their
photos and their files go, mentions of them in others' texts lose their name, and their
volunteering keeps its hours (so the reports still add up) without its words. Merging: the
likes both accounts gave count once."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select, update

from alumnet.domain.community import references
from alumnet.domain.community.posts import MENTION, render, user_pk
from alumnet.persistence.models import (
    Comment,
    CommentLike,
    CommunityWarning,
    ContentReport,
    Notification,
    Photo,
    PhotoVariant,
    Post,
    PostLike,
    StoredFile,
    VolunteerEngagement,
)
from alumnet.persistence.uow import UnitOfWork


async def release_person(uow: UnitOfWork, me: int, erased: str) -> None:
    """Erase ``me`` from the community (``erased`` replaces their words)."""
    session = uow.session
    now = datetime.now(UTC)
    # Likes first, so that a like of their own post or comment is counted back too.
    await session.execute(
        update(Post)
        .where(Post.id.in_(select(PostLike.post_id).where(PostLike.user_id == me)))
        .values(like_count=Post.like_count - 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(PostLike).where(PostLike.user_id == me))
    await session.execute(
        update(Comment)
        .where(Comment.id.in_(select(CommentLike.comment_id).where(CommentLike.user_id == me)))
        .values(like_count=Comment.like_count - 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(CommentLike).where(CommentLike.user_id == me))
    # Their comments still counted go (with the replies to their top comments, as a
    # deletion does), and leave the counts of their posts and of the comments they reply
    # to: marked first, so that a deletion meanwhile is not counted twice.
    marked = await session.execute(
        update(Comment)
        .where(Comment.author_id == me, Comment.deleted_at.is_(None))
        .values(deleted_at=now)
        .returning(Comment.id, Comment.post_id, Comment.parent_id)
        .execution_options(synchronize_session=False)
    )
    went = list(marked.all())
    tops = [c.id for c in went if c.parent_id is None]
    if tops:
        replies = await session.execute(
            update(Comment)
            .where(Comment.parent_id.in_(tops), Comment.deleted_at.is_(None))
            .values(deleted_at=now)
            .returning(Comment.id, Comment.post_id, Comment.parent_id)
            .execution_options(synchronize_session=False)
        )
        went += replies.all()
    for model, column, key in (
        (Post, "comment_count", Counter(c.post_id for c in went)),
        (Comment, "reply_count", Counter(c.parent_id for c in went if c.parent_id is not None)),
    ):
        for row_id, n in sorted(key.items()):
            await session.execute(
                update(model)
                .where(model.id == row_id)
                .values({column: getattr(model, column) - n})
                .execution_options(synchronize_session=False)
            )
    # Notifications that quote what they wrote (a comment on someone's post, a mention,
    # a report to the moderators) lose the quote.
    their_posts = select(Post.id).where(Post.author_id == me)
    their_comments = select(Comment.id).where(Comment.author_id == me)
    await session.execute(
        update(Notification)
        .where(
            or_(
                (Notification.subject_type == "Post") & Notification.subject_id.in_(their_posts),
                (Notification.subject_type == "Comment")
                & Notification.subject_id.in_(their_comments),
            )
        )
        .values(title=erased, body=erased)
    )
    blank = {"body_markdown": erased, "body_html": render(erased), "client_id": None}
    await session.execute(
        update(Comment)
        .where(Comment.author_id == me)
        .values(**blank)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Post)
        .where(Post.author_id == me)
        .values(
            **blank, deleted_at=func.coalesce(Post.deleted_at, now), link_url=None,
            link_status=None, link_preview=None,
        )
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    await _forget_mentions(uow, me, erased)
    # Their photos, every size of them, and the files behind them.
    theirs = select(Photo.id).where(Photo.owner_id == me)
    await session.execute(
        delete(StoredFile).where(
            or_(
                StoredFile.id.in_(
                    select(PhotoVariant.file_id).where(PhotoVariant.photo_id.in_(theirs))
                ),
                StoredFile.id.in_(
                    select(Photo.original_file_id).where(
                        Photo.owner_id == me, Photo.original_file_id.is_not(None)
                    )
                ),
            )
        )
    )
    await session.execute(delete(Photo).where(Photo.owner_id == me))
    # What they told the moderators, and the moderators' warnings to them.
    await session.execute(
        update(ContentReport).where(ContentReport.reporter_id == me).values(note=None)
    )
    await session.execute(delete(CommunityWarning).where(CommunityWarning.user_id == me))
    await session.execute(
        update(VolunteerEngagement)
        .where(VolunteerEngagement.user_id == me)
        .values(title=erased, description=None, review_note=None)
    )
    await references.release_person(uow, me)


async def _forget_mentions(uow: UnitOfWork, me: int, erased: str) -> None:
    """Others' posts and comments that mention them: the mention becomes ``erased``."""
    token = base64.b64encode(f"User:{me}".encode()).decode().rstrip("=")
    session = uow.session

    def without(markdown: str) -> str:
        return MENTION.sub(lambda m: erased if user_pk(m.group(2)) == me else m.group(0), markdown)

    for model in (Post, Comment):
        rows = await session.execute(
            select(model.id, model.body_markdown).where(
                model.body_markdown.contains(f"(user:{token}")
            )
        )
        for row_id, markdown in rows.all():
            changed = without(markdown)
            if changed != markdown:
                await session.execute(
                    update(model)
                    .where(model.id == row_id)
                    .values(body_markdown=changed, body_html=render(changed))
                    .execution_options(synchronize_session=False)
                )


async def recount_likes_of(uow: UnitOfWork, user_id: int) -> None:
    """The like counts of everything ``user_id`` likes, counted again from the likes: after
    a merge of two accounts that both liked something, one like of theirs is gone."""
    session = uow.session
    for model, like, key in (
        (Post, PostLike, PostLike.post_id),
        (Comment, CommentLike, CommentLike.comment_id),
    ):
        counted = select(func.count()).where(key == model.id).scalar_subquery()
        await session.execute(
            update(model)
            .where(model.id.in_(select(key).where(like.user_id == user_id)))
            .values(like_count=counted)
            .execution_options(synchronize_session=False)
        )
