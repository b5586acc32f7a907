"""Operations: the job outbox and the e-mail outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Job(Base):
    """A background job, written in the transaction that asked for it.

    The row is the source of truth for status and progress; the queue only carries
    its id, so that a rolled-back transaction never runs a job and a crash after
    commit never loses one.
    """

    __tablename__ = "jobs"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(32), default="default")
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=4)
    progress: Mapped[float] = mapped_column(default=0.0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class OutboundEmail(Base):
    """An e-mail to send; jobs carry only its id, never the address or the body."""

    __tablename__ = "outbound_emails"

    id: Mapped[IdPK]
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    # The HTML alternative, when the e-mail has one (the plain text is always there).
    html_body: Mapped[str | None] = mapped_column(Text)
    # The notification kind an unsubscribe link in this e-mail turns off (None: no link,
    # for e-mails a user cannot opt out of, such as a password reset).
    unsubscribe_kind: Mapped[str | None] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    # A stored file sent along as an attachment (a certificate), if any.
    attachment_file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class PersistedOperation(Base):
    """A GraphQL document registered with `alumnet operations register`: clients send its
    SHA-256 (hex) instead of its text, and in ALUMNET_PERSISTED_ONLY mode only these run."""

    __tablename__ = "persisted_operations"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    # The operations the document defines, comma-separated (for listing).
    names: Mapped[str] = mapped_column(String(500), default="")
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
