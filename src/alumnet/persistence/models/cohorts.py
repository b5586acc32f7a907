"""Cohorts: batches, missions inside them, enrolments and mentor assignments."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Batch(Base):
    """An intake of students (2,000 to 3,000)."""

    __tablename__ = "batches"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]


class Mission(Base):
    """A programme of work inside a batch, with its own dates and mentors."""

    __tablename__ = "missions"

    id: Mapped[IdPK]
    batch_id: Mapped[int] = mapped_column(BigId, ForeignKey("batches.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it was last set completed (certificates print that day); None while it is not.
    completed_at: Mapped[datetime | None]


class Enrollment(Base):
    """A student in a mission (and so in its batch)."""

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("mission_id", "student_id"),
        Index("ix_enrollments_student_mission", "student_id", "mission_id"),
    )

    id: Mapped[IdPK]
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # active, completed, dropped; banned or delisted by an integrity decision.
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The last day of a temporary ban; access returns the day after.
    banned_until: Mapped[date | None]
    # The sum of the student's point entries in this mission, kept in step with the ledger
    # (in the same transaction), so that leaderboards rank without summing the ledger.
    points: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentorAssignment(Base):
    """A mentor for one student in one mission; a student may have several."""

    __tablename__ = "mentor_assignments"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "mentor_id"),
        Index("ix_mentor_assignments_mentor_mission", "mentor_id", "mission_id"),
        Index("ix_mentor_assignments_mission_student", "mission_id", "student_id"),
    )

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE")
    )
    # Denormalised from the enrolment so that loads per mission and per mentor are one index.
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    mentor_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MissionMentor(Base):
    """A mentor of a whole mission: they mentor every student enrolled in it, without an
    assignment per student (``persistence.mentoring`` joins the two kinds)."""

    __tablename__ = "mission_mentors"
    __table_args__ = (UniqueConstraint("mission_id", "mentor_id"),)

    id: Mapped[IdPK]
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    mentor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
