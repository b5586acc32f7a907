"""Mentorship: alumni's (and staff's) offers to mentor, with their topics, capacity and
availability; requests from students and alumni; the mentorships that accepted requests
become; and the weights of the matching that suggests mentors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class MentorOffer(Base):
    """One person's offer to mentor (one each). ``active_mentees`` counts their active
    mentorships, kept under the offer's row lock by whoever changes it, so that two
    acceptances cannot pass ``capacity``."""

    __tablename__ = "mentor_offers"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    headline: Mapped[str | None] = mapped_column(String(200))
    # What they offer: career_advice, cv_review, mock_interviews, …
    offers: Mapped[list[str]] = mapped_column(JSON, default=list)
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 639-1
    # [{"weekday": 0-6 (Monday 0), "start": "18:00", "end": "20:00"}] in ``time_zone``
    availability: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    time_zone: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int]
    active_mentees: Mapped[int] = mapped_column(default=0, server_default="0")
    preferred_mentee: Mapped[str] = mapped_column(String(16))  # students, alumni, both
    paused: Mapped[bool] = mapped_column(default=False)
    # Topics (the skill names, for the text search), kept with the skill rows.
    topics_text: Mapped[str] = mapped_column(Text, default="")
    # The lists above as ",offer:cv_review,industry:fintech,language:en," for filtering
    # the same way on every database; kept with them.
    tags: Mapped[str] = mapped_column(Text, default="")
    # How well the windows fit a mentee's day, for each UTC offset from -12:00 to +14:00
    # in half hours: 53 numbers of three digits (999ths), so that suggestions score the
    # time zone in SQL with a substring. Kept with the windows (``matching.zone_fit``).
    zone_fit: Mapped[str] = mapped_column(String(159), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentorOfferSkill(Base):
    """A topic of an offer: a skill of the profiles' vocabulary."""

    __tablename__ = "mentor_offer_skills"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("mentor_offers.user_id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MentorshipRequest(Base):
    """A request to a mentor. Status: pending, accepted, declined, withdrawn, expired.
    One open (pending) request per mentee and mentor."""

    __tablename__ = "mentorship_requests"
    __table_args__ = (
        Index("ix_mentorship_requests_mentor", "mentor_id", "status", "created_at"),
        Index("ix_mentorship_requests_mentee", "mentee_id", "created_at"),
        Index("ix_mentorship_requests_expiring", "status", "expires_at"),
        Index(
            "uq_mentorship_requests_open",
            "mentee_id",
            "mentor_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[IdPK]
    mentee_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    mentor_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    goals: Mapped[str] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500))  # a decline's
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mentorship(Base):
    """An accepted request: active, then completed or ended early (by whom, and why)."""

    __tablename__ = "mentorships"
    __table_args__ = (
        Index("ix_mentorships_mentor", "mentor_id", "status"),
        Index("ix_mentorships_mentee", "mentee_id", "status"),
        UniqueConstraint("request_id"),
    )

    id: Mapped[IdPK]
    request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("mentorship_requests.id", ondelete="CASCADE")
    )
    mentor_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    mentee_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    ended_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    end_reason: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class MatchingWeights(Base):
    """The weights of mentor suggestions, one row (id 1), tuned by staff."""

    __tablename__ = "matching_weights"

    id: Mapped[int] = mapped_column(primary_key=True)
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    updated_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentorshipSession(Base):
    """A session of a mentorship: when, how long, online (a link) or at a place, and the
    agenda. Status: scheduled, cancelled."""

    __tablename__ = "mentorship_sessions"
    __table_args__ = (
        Index("ix_mentorship_sessions_mentorship", "mentorship_id", "starts_at"),
        Index("ix_mentorship_sessions_mentor", "mentor_id", "status", "starts_at"),
        Index("ix_mentorship_sessions_starts", "status", "starts_at"),
    )

    id: Mapped[IdPK]
    mentorship_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("mentorships.id", ondelete="CASCADE")
    )
    # The mentor's and mentee's, copied: overlaps and reminders read them without a join.
    mentor_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    mentee_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    join_url: Mapped[str | None] = mapped_column(String(500))
    place: Mapped[str | None] = mapped_column(String(200))
    agenda: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentorshipGoal(Base):
    """A goal of a mentorship and how far it got: not_started, in_progress, done."""

    __tablename__ = "mentorship_goals"

    id: Mapped[IdPK]
    mentorship_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("mentorships.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="not_started")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentorshipNote(Base):
    """A note by one side of a mentorship (about a session, or the whole): private to its
    writer, or shared with the other side."""

    __tablename__ = "mentorship_notes"
    __table_args__ = (Index("ix_mentorship_notes_mentorship", "mentorship_id", "created_at"),)

    id: Mapped[IdPK]
    mentorship_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("mentorships.id", ondelete="CASCADE")
    )
    session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("mentorship_sessions.id", ondelete="CASCADE")
    )
    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentorshipFeedback(Base):
    """One side's rating (1 to 5) and comment on a session, or on the mentorship at its
    end (``about`` is "session:<id>" or "end"); once each, again replaces it."""

    __tablename__ = "mentorship_feedback"
    __table_args__ = (
        UniqueConstraint("mentorship_id", "author_id", "about"),
        Index("ix_mentorship_feedback_subject", "subject_id", "about"),
    )

    id: Mapped[IdPK]
    mentorship_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("mentorships.id", ondelete="CASCADE")
    )
    session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("mentorship_sessions.id", ondelete="CASCADE")
    )
    about: Mapped[str] = mapped_column(String(32))
    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # Whom it rates: the other side (the mentor, for a mentee's feedback).
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    by_mentor: Mapped[bool]
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
