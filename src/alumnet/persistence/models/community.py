"""Community: posts with comments and likes, their audience, images and link previews;
reports for moderation; reference requests; volunteering; editable public pages with their
revisions; and uploaded photos with their resized variants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Photo(Base):
    """An uploaded image: kept as sent until a job has checked, re-encoded and resized it
    (status pending → ready, or failed with a reason); then only its variants remain.
    Purpose: profile or post."""

    __tablename__ = "photos"

    id: Mapped[IdPK]
    owner_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # profile, post
    status: Mapped[str] = mapped_column(String(16), default="pending")
    original_file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    width: Mapped[int | None]
    height: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class PhotoVariant(Base):
    """One resized copy of a photo (WebP or JPEG), metadata stripped."""

    __tablename__ = "photo_variants"

    photo_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True
    )
    size: Mapped[str] = mapped_column(String(16), primary_key=True)  # e.g. small, medium, large
    file_id: Mapped[int] = mapped_column(BigId, ForeignKey("stored_files.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int]
    height: Mapped[int]
    bytes: Mapped[int]


class Post(Base):
    """A short update. ``like_count`` and ``comment_count`` are kept by the statements that
    add and remove likes and comments, in their transaction. Deleted (soft) and hidden
    (by moderators) posts leave every list but stay for the record."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_recent", "created_at", "id"),
        Index("ix_posts_author_recent", "author_id", "created_at", "id"),
        UniqueConstraint("author_id", "client_id"),
    )

    id: Mapped[IdPK]
    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # True when it has an audience (post_targets); False: everyone signed in.
    limited: Mapped[bool] = mapped_column(default=False, server_default=false())
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    comment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    link_url: Mapped[str | None] = mapped_column(String(2000))
    # pending, ready, failed, none (no link)
    link_status: Mapped[str | None] = mapped_column(String(16))
    # {"url", "title", "description", "image", "siteName"} from Open Graph tags.
    link_preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    hidden_at: Mapped[datetime | None]
    hidden_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )


class PostTarget(Base):
    """One value of a post's audience, as an announcement's: exactly one of role, batch or
    graduation year (roles AND batches AND years; any value within a kind)."""

    __tablename__ = "post_targets"

    id: Mapped[IdPK]
    post_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("batches.id", ondelete="CASCADE")
    )
    graduation_year: Mapped[int | None]


class PostImage(Base):
    """A photo shown with a post, in order (at most four)."""

    __tablename__ = "post_images"

    post_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("photos.id", ondelete="CASCADE"), index=True
    )


class Comment(Base):
    """A comment on a post, or a reply to one (``parent_id``; one level only)."""

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_post", "post_id", "created_at", "id"),
        Index("ix_comments_parent", "parent_id", "created_at", "id"),
        UniqueConstraint("author_id", "client_id"),
    )

    id: Mapped[IdPK]
    post_id: Mapped[int] = mapped_column(BigId, ForeignKey("posts.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="CASCADE")
    )
    author_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    hidden_at: Mapped[datetime | None]
    hidden_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )


class PostLike(Base):
    __tablename__ = "post_likes"
    __table_args__ = (Index("ix_post_likes_user", "user_id", "post_id"),)

    post_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommentLike(Base):
    __tablename__ = "comment_likes"
    __table_args__ = (Index("ix_comment_likes_user", "user_id", "comment_id"),)

    comment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContentReport(Base):
    """Someone reported a post or a comment (exactly one of the two) for moderation.
    Status: open, then resolved with the moderator's action (hide, restore, warn, dismiss)."""

    __tablename__ = "content_reports"
    __table_args__ = (
        Index("ix_content_reports_queue", "status", "created_at", "id"),
        # One open report per person per post or comment (a second is the first again).
        Index(
            "uq_content_reports_open_post",
            "reporter_id",
            "post_id",
            unique=True,
            postgresql_where=text("status = 'open' AND post_id IS NOT NULL"),
            sqlite_where=text("status = 'open' AND post_id IS NOT NULL"),
        ),
        Index(
            "uq_content_reports_open_comment",
            "reporter_id",
            "comment_id",
            unique=True,
            postgresql_where=text("status = 'open' AND comment_id IS NOT NULL"),
            sqlite_where=text("status = 'open' AND comment_id IS NOT NULL"),
        ),
    )

    id: Mapped[IdPK]
    post_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    comment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(String(32))  # spam, harassment, inappropriate, other
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    action: Mapped[str | None] = mapped_column(String(16))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class CommunityWarning(Base):
    """A moderator's warning to the author of a post or comment (which may since have been
    deleted): seen by the author and by moderators."""

    __tablename__ = "community_warnings"
    __table_args__ = (Index("ix_community_warnings_user", "user_id", "created_at", "id"),)

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("posts.id", ondelete="SET NULL"))
    comment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    issued_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferenceRequest(Base):
    """A student or alumnus asks an alumnus or a mentor for a reference. Status: pending,
    accepted, declined, sent, cancelled, expired. The text is the writer's: the requester
    reads it only when ``shared``."""

    __tablename__ = "reference_requests"
    __table_args__ = (
        Index("ix_reference_requests_writer", "writer_id", "status", "deadline"),
        Index("ix_reference_requests_requester", "requester_id", "created_at"),
        UniqueConstraint("requester_id", "client_id"),
    )

    id: Mapped[IdPK]
    requester_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    writer_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date]
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    job_posting_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_postings.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decline_reason: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_at: Mapped[datetime | None]
    written_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]


class VolunteerEngagement(Base):
    """An alumnus's volunteering: speaking, training, judging, mentoring at an event,
    hosting a visit, other. Offered by the alumnus (status offered, until staff confirm or
    decline it) or recorded by staff (confirmed). Hours are kept in hundredths of an hour
    (exact on both databases, summed in SQL without rounding)."""

    __tablename__ = "volunteer_engagements"
    __table_args__ = (
        Index("ix_volunteer_engagements_person", "user_id", "occurred_on", "id"),
        Index("ix_volunteer_engagements_when", "occurred_on", "id"),
        Index("ix_volunteer_engagements_queue", "status", "occurred_on", "id"),
        UniqueConstraint("recorded_by_id", "client_id"),
    )

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    occurred_on: Mapped[date]
    # 1.5 hours is 150.
    hours_hundredths: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="SET NULL")
    )
    mission_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="SET NULL")
    )
    # offered, confirmed, declined
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    # Who entered it: the alumnus (an offer) or a member of staff (a record).
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]
    # Why staff declined an offer (or a note on confirming it), shown to the alumnus.
    review_note: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Page(Base):
    """An editable public page (about, contacts, quick links, feature cards); its content
    is its latest revision."""

    __tablename__ = "pages"

    id: Mapped[IdPK]
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PageRevision(Base):
    """One saved version of a page: its title and ordered sections
    ([{"key", "heading", "markdown", "html"}]), who saved it and when; a revert is a new
    revision copying an old one (``reverted_to``)."""

    __tablename__ = "page_revisions"
    __table_args__ = (UniqueConstraint("page_id", "number"),)

    id: Mapped[IdPK]
    page_id: Mapped[int] = mapped_column(BigId, ForeignKey("pages.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    reverted_to: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
