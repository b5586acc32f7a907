"""Events: reunions, talks, career fairs and meet-ups; their audience, organisers and
speakers; registrations with the waitlist and check-in; feedback; the people trusted to
host events; and each user's calendar feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class EventSeries(Base):
    """Recurring events (weekly office hours, a monthly talk): an RFC 5545 rule, from the
    first occurrence's start in the series' time zone. Each occurrence is an Event."""

    __tablename__ = "event_series"

    id: Mapped[IdPK]
    rule: Mapped[str] = mapped_column(String(500))  # RRULE value, e.g. FREQ=WEEKLY;COUNT=10
    starts_at: Mapped[datetime]  # the first occurrence's start (UTC)
    time_zone: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One event. Status: draft, published, cancelled, completed. Times are UTC and shown
    in ``time_zone``. ``seats_taken`` counts confirmed people and their guests and
    ``arrivals`` numbers registrations in the order they came; ``waiting`` counts the
    waitlist. All three are kept under the event's row lock by the transaction that
    changes them."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_listing", "status", "starts_at", "id"),
        Index("ix_events_series", "series_id", "starts_at"),
        UniqueConstraint("created_by_id", "client_id"),
    )

    id: Mapped[IdPK]
    series_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("event_series.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    description_markdown: Mapped[str] = mapped_column(Text, default="")
    description_html: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))  # reunion, talk, career_fair, meetup, other
    mode: Mapped[str] = mapped_column(String(16))  # in_person, online, hybrid
    venue: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    join_url: Mapped[str | None] = mapped_column(String(500))  # registered people only
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int | None]  # None: unlimited
    guests_max: Mapped[int] = mapped_column(default=0, server_default="0")
    registration_opens_at: Mapped[datetime | None]
    registration_closes_at: Mapped[datetime | None]  # the deadline
    cover_image_url: Mapped[str | None] = mapped_column(String(500))
    # The registration form's questions: [{"key", "label", "required", "choices"}].
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    seats_taken: Mapped[int] = mapped_column(default=0, server_default="0")
    arrivals: Mapped[int] = mapped_column(default=0, server_default="0")
    waiting: Mapped[int] = mapped_column(default=0, server_default="0")  # waitlisted people
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    client_id: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventTarget(Base):
    """One value of an event's audience, as an announcement's: exactly one of role, batch
    or graduation year; none at all is everyone."""

    __tablename__ = "event_targets"

    id: Mapped[IdPK]
    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("batches.id", ondelete="CASCADE")
    )
    graduation_year: Mapped[int | None]


class EventPerson(Base):
    """An organiser or a speaker: a user, or a named guest from outside."""

    __tablename__ = "event_people"

    id: Mapped[IdPK]
    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # organiser, speaker
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(200))  # a guest's name
    affiliation: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)


class EventRegistration(Base):
    """Someone's place at an event: confirmed, waitlisted or cancelled. ``arrival`` is its
    place in the order registrations came (the waitlist's order); ``seats`` is the person
    and their guests. A walk-in is added at the door (possibly without an account)."""

    __tablename__ = "event_registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        Index("ix_event_registrations_line", "event_id", "status", "arrival"),
        Index("ix_event_registrations_user", "user_id", "status"),
    )

    id: Mapped[IdPK]
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    walk_in_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    arrival: Mapped[int]
    guests: Mapped[int] = mapped_column(default=0)
    seats: Mapped[int] = mapped_column(default=1)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    listed: Mapped[bool] = mapped_column(default=True)  # shown among the attendees
    walk_in: Mapped[bool] = mapped_column(default=False)  # came without registering
    added_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    checked_in_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )


class EventFeedback(Base):
    """What one person who came thought of an event (once each; sending again replaces it)."""

    __tablename__ = "event_feedback"

    registration_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("event_registrations.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventHost(Base):
    """A person staff trust to create and run events of their own (a chapter lead)."""

    __tablename__ = "event_hosts"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    granted_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarFeed(Base):
    """A user's private calendar feed: its link carries ``version``, so rotating the link
    (a new version) turns the old one off."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(default=1)
    rotated_at: Mapped[datetime] = mapped_column(default=utcnow)
