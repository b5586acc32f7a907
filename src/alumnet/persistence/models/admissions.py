"""Admissions: inquiries from prospective students, the counselling pipeline they move
through (new → contacted → counselled → applied → enrolled, or lost), each stage change,
the activity timeline (calls, e-mails, meetings, notes), follow-up tasks, and the lead
score with its reasons.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Inquiry(Base):
    """A prospective student's inquiry. ``source``: web_form, walk_in, referral, campaign.
    ``stage``: new, contacted, counselled, applied, enrolled, lost (``lost_reason``).
    ``furthest`` is the rank of the furthest stage it reached (1 new … 5 enrolled), so that
    the funnel is one scan; ``score`` and ``score_reasons`` are the lead score and the rules
    that made it, kept by ``alumnet.domain.admissions.scoring``."""

    __tablename__ = "inquiries"
    __table_args__ = (
        Index("ix_inquiries_stage", "stage", "score", "id"),
        Index("ix_inquiries_counsellor", "counsellor_id", "stage"),
        Index("ix_inquiries_created", "created_at", "id"),
        Index("ix_inquiries_email_key", "email_key"),
        Index("ix_inquiries_programme", "programme_id"),
    )

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    source_detail: Mapped[str | None] = mapped_column(String(200))  # who referred, which campaign
    programme_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("programmes.id", ondelete="SET NULL")
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    stage: Mapped[str] = mapped_column(String(16), default="new")
    furthest: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    counsellor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    score_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scored_at: Mapped[datetime | None]
    # The student account it became (inquiryConvert).
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InquiryStageChange(Base):
    """An inquiry's move from one stage to another (``from_stage`` null for its first),
    so that time in each stage can be measured."""

    __tablename__ = "inquiry_stage_changes"
    __table_args__ = (
        Index("ix_inquiry_stage_changes_inquiry", "inquiry_id", "changed_at"),
        Index("ix_inquiry_stage_changes_to", "to_stage", "changed_at"),
    )

    id: Mapped[IdPK]
    inquiry_id: Mapped[int] = mapped_column(BigId, ForeignKey("inquiries.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    changed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class InquiryActivity(Base):
    """One entry of an inquiry's timeline: a call, an e-mail, a meeting or a note logged by
    a counsellor, or what the system did (stage, assignment, task, conversion)."""

    __tablename__ = "inquiry_activities"
    __table_args__ = (Index("ix_inquiry_activities_inquiry", "inquiry_id", "occurred_at", "id"),)

    id: Mapped[IdPK]
    inquiry_id: Mapped[int] = mapped_column(BigId, ForeignKey("inquiries.id", ondelete="CASCADE"))
    # call, email, meeting, note, stage, assigned, task, converted, submitted
    kind: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(200))
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InquiryTask(Base):
    """A follow-up to do on an inquiry by a date, assigned to a counsellor; reminded once
    when it falls due."""

    __tablename__ = "inquiry_tasks"
    __table_args__ = (
        Index("ix_inquiry_tasks_inquiry", "inquiry_id", "due_at"),
        Index("ix_inquiry_tasks_assignee", "assignee_id", "done_at", "due_at"),
        Index("ix_inquiry_tasks_due", "done_at", "reminded_at", "due_at"),
        UniqueConstraint("created_by_id", "idempotency_key"),
    )

    id: Mapped[IdPK]
    inquiry_id: Mapped[int] = mapped_column(BigId, ForeignKey("inquiries.id", ondelete="CASCADE"))
    assignee_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    # Its creator's key: creating again with it returns the first task.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
