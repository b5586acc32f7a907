"""What erasing a person does to the community: what they wrote is blanked and leaves
every list, their likes are taken back (the counts with them), their photos and their files
go, mentions of them in others' texts lose their name, and their volunteering keeps its
hours (so the reports still add up) without its words."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select, update

from alumnet.domain.communication.notices import render
from alumnet.domain.community import references
from alumnet.domain.community.posts import MENTION, user_pk
from alumnet.persistence.models import (
    Comment,
    CommentLike,
    CommunityWarning,
    ContentReport,
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
    # Their comments still counted leave the counts of their posts and of the comments
    # they reply to, as a deletion does.
    live = select(Comment.id).where(Comment.author_id == me, Comment.deleted_at.is_(None))
    gone = (
        select(Comment.post_id, func.count().label("n"))
        .where(Comment.id.in_(live))
        .group_by(Comment.post_id)
    )
    for post_id, n in (await session.execute(gone)).all():
        await session.execute(
            update(Post)
            .where(Post.id == post_id)
            .values(comment_count=Post.comment_count - n)
            .execution_options(synchronize_session=False)
        )
    replies = (
        select(Comment.parent_id, func.count().label("n"))
        .where(Comment.id.in_(live), Comment.parent_id.is_not(None))
        .group_by(Comment.parent_id)
    )
    for parent_id, n in (await session.execute(replies)).all():
        await session.execute(
            update(Comment)
            .where(Comment.id == parent_id)
            .values(reply_count=Comment.reply_count - n)
            .execution_options(synchronize_session=False)
        )
    blank = {"body_markdown": erased, "body_html": render(erased), "client_id": None}
    await session.execute(
        update(Comment)
        .where(Comment.author_id == me)
        .values(**blank, deleted_at=func.coalesce(Comment.deleted_at, now))
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
