"""Communication: notices, announcements, direct messages, tickets and notifications."""

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
    # When it was last corrected (shown as edited), and when it was withdrawn (hidden from
    # its audience, kept for the record).
    edited_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class NoticeAck(Base):
    """A student's acknowledgement of a notice, with an optional reaction."""

    __tablename__ = "notice_acks"
    __table_args__ = (UniqueConstraint("notice_id", "user_id"),)

    id: Mapped[IdPK]
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("notices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    reaction: Mapped[str | None] = mapped_column(String(16))
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Announcement(Base):
    """An institution-wide announcement, or one to an audience (see AnnouncementTarget)."""

    __tablename__ = "announcements"
    __table_args__ = (
        Index("ix_announcements_feed", "pinned", "created_at", "id"),
        UniqueConstraint("author_id", "client_id"),
    )

    id: Mapped[IdPK]
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    pinned: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None]
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The author's idempotency key: posting again with it returns this announcement.
    client_id: Mapped[str | None] = mapped_column(String(64))


class AnnouncementTarget(Base):
    """One value of an announcement's audience: exactly one of role, batch or graduation year.

    An announcement with no targets is for everyone. Otherwise each kind of target that is
    present narrows the audience (roles AND batches AND years), and within one kind any
    value matches (ALUMNUS or MENTOR)."""

    __tablename__ = "announcement_targets"

    id: Mapped[IdPK]
    announcement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("announcements.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("batches.id", ondelete="CASCADE")
    )
    graduation_year: Mapped[int | None]


class Conversation(Base):
    """A one-to-one conversation; the pair is stored lowest user id first, once."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("user_low_id", "user_high_id"),
        Index("ix_conversations_user_high_id", "user_high_id"),
    )

    id: Mapped[IdPK]
    user_low_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    user_high_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_id: Mapped[int | None] = mapped_column(BigId)


class ConversationMember(Base):
    """One side of a conversation: where it sorts in the inbox and how far it was read."""

    __tablename__ = "conversation_members"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        Index("ix_conversation_members_inbox", "user_id", "last_message_at", "id"),
    )

    id: Mapped[IdPK]
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # Messages up to this id are read (0: none); the other side's read receipts.
    last_read_message_id: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    last_read_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """A direct message. ``client_id`` makes a retried send record it once."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id", "conversation_id", "id"),
        UniqueConstraint("sender_id", "client_id"),
    )

    id: Mapped[IdPK]
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    sender_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Block(Base):
    """``blocker`` blocked ``blocked``: neither may write to the other while it stands."""

    __tablename__ = "blocks"

    blocker_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A student's private ticket to one of their mentors, or to the SRE team."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_student", "student_id", "id"),
        Index("ix_tickets_mentor", "mentor_id", "id"),
        Index("ix_tickets_queue_status", "queue", "status", "id"),
        UniqueConstraint("student_id", "client_id"),
    )

    id: Mapped[IdPK]
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    queue: Mapped[str] = mapped_column(String(16))  # mentor, sre
    # The mentor, for a mentor ticket; the SRE who first replied, for an SRE ticket.
    mentor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    handler_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, answered, closed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_reply_at: Mapped[datetime | None]
    # Seconds from opening to the first reply by someone other than the student (the SLA).
    first_reply_seconds: Mapped[int | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # The student's idempotency key: opening again with it returns this ticket.
    client_id: Mapped[str | None] = mapped_column(String(64))


class TicketMessage(Base):
    """One post in a ticket's thread (the first is the student's question)."""

    __tablename__ = "ticket_messages"
    __table_args__ = (Index("ix_ticket_messages_ticket", "ticket_id", "id"),)

    id: Mapped[IdPK]
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """Something that concerns one user. ``in_app`` rows are listed to them; rows with
    ``digest_pending`` wait for their daily digest e-mail."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user", "user_id", "id"),
        Index("ix_notifications_digest", "digest_pending", "user_id"),
    )

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # What it is about, as a node: type name and primary key.
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(BigId)
    in_app: Mapped[bool] = mapped_column(default=True)
    digest_pending: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """A user's choice of channels for one kind of notification (defaults apply without)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    in_app: Mapped[bool]
    email: Mapped[bool]
    digest: Mapped[bool]


class ReminderSent(Base):
    """That one reminder or alert went to one user: each is sent once. ``subject_id`` is
    what it is about (an assignment, a mission, …; 0 for none) and ``key`` tells repeated
    events apart (the last day attended, the day follow-ups fall due)."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("kind", "subject_id", "user_id", "key"),)

    id: Mapped[IdPK]
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(BigId)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
