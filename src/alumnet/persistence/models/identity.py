"""Identity: users, roles, sessions and their tokens, one-time tokens, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class User(Base):
    __tablename__ = "users"
    # Rosters and directories list people by name: a page of the first hundred walks this
    # index instead of sorting every member.
    __table_args__ = (
        Index("ix_users_name_id", "name", "id"),
        # Imports look up namesakes of the people they add (same name and year).
        Index("ix_users_name_graduation_year", "name", "graduation_year"),
        # Likely duplicates: alike names, found by trigram similarity (PostgreSQL).
        Index(
            "ix_users_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[IdPK]
    email: Mapped[str] = mapped_column(String(254))
    # Uniqueness regardless of case, identically on every backend.
    email_lower: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # For outreach calls; shown to staff only.
    phone: Mapped[str | None] = mapped_column(String(32))
    # The year the person graduated or expects to, as their profile says (the directory).
    graduation_year: Mapped[int | None] = mapped_column(index=True)
    # The year set by staff (an import of alumni or students).
    staff_graduation_year: Mapped[int | None]
    # The year on the institution's record: the latest of the staff-set year, the person's
    # verified degrees and their verified academic record's expected year. Announcements
    # to graduation years go by it: never by what a person says of themselves.
    record_graduation_year: Mapped[int | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    # Two-factor sign-in confirmed (see TwoFactor): read with every credential, since
    # staff roles that require it are withheld until then.
    two_factor_enabled_at: Mapped[datetime | None]

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="raise"
    )


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles", lazy="raise")


class Session(Base):
    """One sign-in: its refresh tokens form one rotating family."""

    __tablename__ = "sessions"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    refreshed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    # "Chrome 120 on Mac OS X", read from the User-Agent at sign-in.
    device: Mapped[str | None] = mapped_column(String(128))
    # When a request last used it (written at minute resolution).
    last_used_at: Mapped[datetime | None]
    # Signed in with the second factor (or confirmed it since): only such a session may use
    # roles that require two-factor sign-in.
    two_factor: Mapped[bool] = mapped_column(default=False, server_default=false())


class TwoFactor(Base):
    """A user's authenticator (TOTP, RFC 6238): its secret encrypted with a key from the
    settings, pending until a first code confirms it."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # The 30-second step of the last code accepted: no code is accepted twice.
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """One of the ten one-time codes that stand in for the authenticator, hashed."""

    __tablename__ = "recovery_codes"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[IdPK]
    session_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PersonalAccessToken(Base):
    __tablename__ = "personal_access_tokens"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    # read, write or admin: how much of its owner's permissions it carries.
    scope: Mapped[str] = mapped_column(String(16), default="write")
    # Who made it (its owner, or a user manager for them): revoked with the maker's tokens.
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Made by a credential that had passed the second factor (or by the operator at the
    # command line): only such a token may use roles that require two-factor sign-in.
    two_factor: Mapped[bool] = mapped_column(default=False, server_default=false())


class OneTimeToken(Base):
    """E-mailed single-use tokens: e-mail verification and password reset."""

    __tablename__ = "one_time_tokens"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # For an e-mail change: the address it confirms.
    new_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_occurred", "action", "occurred_at"),)

    id: Mapped[IdPK]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    request_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)


class CustomRole(Base):
    """A role made by an admin: a named set of the built-in permissions."""

    __tablename__ = "custom_roles"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(100))
    # Uniqueness regardless of case, identically on every backend.
    name_lower: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Permission values ("cohorts:read"), sorted.
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomRoleAssignment(Base):
    """A custom role held by a user everywhere, or within one batch or one mission."""

    __tablename__ = "custom_role_assignments"
    __table_args__ = (
        # scope_key is "" (everywhere), "b<batch id>" or "m<mission id>": NULL scopes
        # would never collide in a unique constraint.
        UniqueConstraint("user_id", "role_id", "scope_key"),
        CheckConstraint("batch_id IS NULL OR mission_id IS NULL", name="one_scope"),
    )

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("custom_roles.id", ondelete="CASCADE"), index=True
    )
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("batches.id", ondelete="CASCADE"), index=True
    )
    mission_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE"), index=True
    )
    scope_key: Mapped[str] = mapped_column(String(24), default="")
    assigned_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
