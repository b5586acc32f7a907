"""Communication: notices to a batch or a mission, and who acknowledged them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Notice(Base):
    """A notice or guideline posted to the students of a batch or of a mission."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_mission_created", "mission_id", "created_at"),
        Index("ix_notices_batch_created", "batch_id", "created_at"),
    )

    id: Mapped[IdPK]
    mission_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE")
    )
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("batches.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16), default="notice")  # notice, guideline
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    # Rendered once, when posted: raw HTML in the Markdown is escaped, unsafe links dropped.
    body_html: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    ack_deadline: Mapped[datetime | None]
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeAck(Base):
    """A student's acknowledgement of a notice, with an optional reaction."""

    __tablename__ = "notice_acks"
    __table_args__ = (UniqueConstraint("notice_id", "user_id"),)

    id: Mapped[IdPK]
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("notices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    reaction: Mapped[str | None] = mapped_column(String(16))
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)
