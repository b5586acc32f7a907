"""Operations: the job outbox, the e-mail outbox, and outgoing webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, false, true
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
    # A scheduled job's slot ("name@2026-12-05T10:15"): two schedulers recording the same
    # slot record one job (workers/schedule.py).
    schedule_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    # The trace context of the request or job that recorded it (W3C traceparent and
    # tracestate), so that its run joins that trace (observability tracing); None when
    # tracing is off.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JSON)


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


class WebhookEndpoint(Base):
    """A receiver of outgoing webhooks, registered by an admin: the events it subscribes to
    are POSTed to its URL, signed with its secret (Standard Webhooks)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[IdPK]
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    # The event types it subscribes to ("user.created", …).
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    # The signing secret ("whsec_…"), encrypted with the two-factor Fernet keys; never
    # shown again after it is made.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # The admin who registered it: told when it is disabled for failing.
    owner_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The first failed attempt since its last success (None: not failing).
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: written in the transaction of the change (the outbox),
    sent by a job, retried with back-off; its `webhook-id` stays the same across attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[IdPK]
    endpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(64))
    # The body sent: {"type", "timestamp", "data"} (no secrets, minimal personal data).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending (not tried yet, or queued again), succeeded, failed (the last attempt failed;
    # tried again at next_attempt_at unless that is None).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_response_code: Mapped[int | None]
    last_attempt_at: Mapped[datetime | None]
    last_duration_ms: Mapped[int | None]
    # The class of the last attempt's error (a timeout, a refused connection), never a message.
    last_error: Mapped[str | None] = mapped_column(String(100))
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    """One try at sending a delivery: what happened, for its log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[IdPK]
    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool] = mapped_column(default=False, server_default=false())
    response_code: Mapped[int | None]
    duration_ms: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(100))
