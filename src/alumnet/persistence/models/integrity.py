"""Integrity (flags, decisions, appeals, access history) and outreach (at-risk students,
call lists, call logs, follow-ups)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


def _fk(table: str, *, nullable: bool = False, index: bool = False) -> Any:
    return mapped_column(
        BigId,
        ForeignKey(f"{table}.id", ondelete="SET NULL" if nullable else "CASCADE"),
        index=index,
        nullable=nullable,
    )


class IntegrityFlag(Base):
    """A concern about a student's work in a mission, with evidence."""

    __tablename__ = "integrity_flags"

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = _fk("enrollments", index=True)
    mission_id: Mapped[int] = _fk("missions")
    student_id: Mapped[int] = _fk("users")
    kind: Mapped[str] = mapped_column(String(24))  # cheating, plagiarism, repeated_late_work, other
    evidence: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, decided
    raised_by_id: Mapped[int | None] = _fk("users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntegrityDecision(Base):
    """A manager's decision: warn, ban (until a date, or indefinitely) or delist."""

    __tablename__ = "integrity_decisions"

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = _fk("enrollments", index=True)
    mission_id: Mapped[int] = _fk("missions")
    student_id: Mapped[int] = _fk("users", index=True)
    flag_id: Mapped[int | None] = _fk("integrity_flags", nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # warn, ban, delist
    ban_ends_on: Mapped[date | None]
    reason: Mapped[str] = mapped_column(Text)
    penalty_points: Mapped[int] = mapped_column(default=0)
    # The enrolment's status before the decision, restored if an appeal is accepted.
    previous_status: Mapped[str] = mapped_column(String(16))
    previous_banned_until: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="in_force")  # in_force, reversed
    appeal_until: Mapped[datetime]
    decided_by_id: Mapped[int | None] = _fk("users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Appeal(Base):
    """A student's appeal of a decision; one per decision."""

    __tablename__ = "appeals"

    id: Mapped[IdPK]
    decision_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integrity_decisions.id", ondelete="CASCADE"), unique=True
    )
    student_id: Mapped[int] = _fk("users", index=True)
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending, accepted, rejected
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = _fk("users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]


class AccessChange(Base):
    """Every change of an enrolment's access status: who, when, why."""

    __tablename__ = "access_changes"

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = _fk("enrollments", index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    decision_id: Mapped[int | None] = _fk("integrity_decisions", nullable=True)
    changed_by_id: Mapped[int | None] = _fk("users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskRules(Base):
    """When a mission's student counts as at risk; a mission without a row uses defaults."""

    __tablename__ = "risk_rules"

    mission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE"), primary_key=True
    )
    attendance_below_percent: Mapped[int] = mapped_column(default=60)
    window_days: Mapped[int] = mapped_column(default=14)
    missed_submissions: Mapped[int] = mapped_column(default=2)
    # A student is told after this many days in a row without attendance (0: never).
    attendance_alert_days: Mapped[int] = mapped_column(default=3, server_default="3")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AtRisk(Base):
    """A student marked at risk in a mission by the last refresh, with the reasons."""

    __tablename__ = "at_risk"
    __table_args__ = (Index("ix_at_risk_mission_score", "mission_id", "score"),)

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE"), unique=True
    )
    mission_id: Mapped[int] = _fk("missions")
    student_id: Mapped[int] = _fk("users")
    attendance_percent: Mapped[int]
    missed_submissions: Mapped[int]
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    score: Mapped[int]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallList(Base):
    __tablename__ = "call_lists"

    id: Mapped[IdPK]
    title: Mapped[str] = mapped_column(String(200))
    mission_id: Mapped[int | None] = _fk("missions", nullable=True)
    batch_id: Mapped[int | None] = _fk("batches", nullable=True)
    assigned_to_id: Mapped[int | None] = _fk("users", nullable=True, index=True)
    created_by_id: Mapped[int | None] = _fk("users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallListEntry(Base):
    __tablename__ = "call_list_entries"
    __table_args__ = (Index("ix_call_list_entries_list_priority", "call_list_id", "priority"),)

    id: Mapped[IdPK]
    call_list_id: Mapped[int] = _fk("call_lists")
    enrollment_id: Mapped[int] = _fk("enrollments")
    student_id: Mapped[int] = _fk("users")
    priority: Mapped[int]
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    script: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, called


class CallLog(Base):
    __tablename__ = "call_logs"
    __table_args__ = (Index("ix_call_logs_student_created", "student_id", "created_at"),)

    id: Mapped[IdPK]
    entry_id: Mapped[int | None] = _fk("call_list_entries", nullable=True)
    enrollment_id: Mapped[int] = _fk("enrollments", index=True)
    mission_id: Mapped[int] = _fk("missions")
    student_id: Mapped[int] = _fk("users")
    caller_id: Mapped[int | None] = _fk("users", nullable=True, index=True)
    # picked_up, no_answer, phone_off, busy, wrong_number, reschedule
    outcome: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    student_response: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FollowUp(Base):
    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_assignee_status_due", "assigned_to_id", "status", "due_on"),
    )

    id: Mapped[IdPK]
    call_log_id: Mapped[int] = _fk("call_logs")
    enrollment_id: Mapped[int] = _fk("enrollments")
    student_id: Mapped[int] = _fk("users")
    assigned_to_id: Mapped[int | None] = _fk("users", nullable=True)
    due_on: Mapped[date]
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, done, missed
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
