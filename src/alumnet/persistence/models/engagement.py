"""Engagement: attendance, meetings, assignments, submissions, point rules and the ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class EngagementRules(Base):
    """A mission's engagement settings: its time zone, what attendance it asks for in
    each status, and its point rules. A mission without a row uses the defaults."""

    __tablename__ = "engagement_rules"

    mission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE"), primary_key=True
    )
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # What a student submits each day, per mission status: none, check_in or report.
    attendance_when_draft: Mapped[str] = mapped_column(String(16), default="none")
    attendance_when_active: Mapped[str] = mapped_column(String(16), default="check_in")
    attendance_when_completed: Mapped[str] = mapped_column(String(16), default="none")
    # How long after local midnight yesterday's attendance may still be submitted.
    grace_minutes: Mapped[int] = mapped_column(default=0)
    attendance_points: Mapped[int] = mapped_column(default=1)
    meeting_points: Mapped[int] = mapped_column(default=2)
    on_time_percent: Mapped[int] = mapped_column(default=100)
    late_percent: Mapped[int] = mapped_column(default=50)
    # What staff and mentors award or deduct points for by hand; null: the defaults.
    reward_categories: Mapped[list[str] | None] = mapped_column(JSON)
    # The completion rule: a certificate when the mission is completed, for students with
    # at least these points and this share of the mission's days attended.
    completion_min_points: Mapped[int] = mapped_column(default=0, server_default="0")
    completion_min_attendance_percent: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttendanceDay(Base):
    """A student's attendance of one (local) day of a mission; one row per day."""

    __tablename__ = "attendance_days"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "day"),
        Index("ix_attendance_days_mission_day", "mission_id", "day"),
        # Days present by mission and day, read by the dashboards and reports without
        # touching the table (absences are the few corrected rows).
        Index(
            "ix_attendance_days_present",
            "mission_id",
            "day",
            "enrollment_id",
            postgresql_where=text("status = 'present'"),
            sqlite_where=text("status = 'present'"),
        ),
    )

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE")
    )
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16))
    report: Mapped[str | None] = mapped_column(Text)
    # present, or absent after a correction (the row stays, so history explains itself).
    status: Mapped[str] = mapped_column(String(16), default="present")
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Meeting(Base):
    """A weekly (or any) meeting of a mission, held by a mentor."""

    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_mission_held_on", "mission_id", "held_on"),)

    id: Mapped[IdPK]
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    mentor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    held_on: Mapped[date]
    topic: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeetingAttendance(Base):
    __tablename__ = "meeting_attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "enrollment_id"),)

    id: Mapped[IdPK]
    meeting_id: Mapped[int] = mapped_column(BigId, ForeignKey("meetings.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    mission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_mission_due", "mission_id", "due_at"),)

    id: Mapped[IdPK]
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    opens_at: Mapped[datetime]
    due_at: Mapped[datetime]
    max_points: Mapped[int] = mapped_column(default=10)
    # accept_late (until late_cutoff_at, if set) or no_late.
    late_policy: Mapped[str] = mapped_column(String(16), default="accept_late")
    late_cutoff_at: Mapped[datetime | None]
    # Optional criteria to grade by: [{"name", "description", "points"}], their points
    # adding up to max_points.
    rubric: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Graded:
    """What a version of a student's work has: a file, besides or instead of the text (a
    PDF, DOCX, ZIP or an image), and its grade."""

    file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL"), index=True
    )
    mark: Mapped[int | None]
    rubric_scores: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    feedback: Mapped[str | None] = mapped_column(Text)
    graded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    graded_at: Mapped[datetime | None]


class Submission(Graded, Base):
    """A student's submission of an assignment; one per student and assignment."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("assignment_id", "enrollment_id"),
        # PostgreSQL: the dashboards' and reports' counts of hand-ins per assignment read
        # the index alone (SQLite has no INCLUDE; its unique index serves).
        Index(
            "ix_submissions_assignment_covering",
            "assignment_id",
            "enrollment_id",
            postgresql_include=["mission_id", "late"],
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[IdPK]
    assignment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("assignments.id", ondelete="CASCADE")
    )
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    mission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    submitted_at: Mapped[datetime] = mapped_column(index=True)
    late: Mapped[bool] = mapped_column(default=False)
    content: Mapped[str | None] = mapped_column(Text)
    # student, or bulk (recorded by staff from a pasted list of addresses).
    source: Mapped[str] = mapped_column(String(16), default="student")
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    # submitted (waiting to be graded), graded, or returned (for revision, by revision_due_at).
    # Its grade (``Graded``) is the latest, kept through a resubmission until the new version
    # is graded: the points the work earns are its mark, in the mission's percent for on-time
    # or late work.
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    revision_due_at: Mapped[datetime | None]
    # 1 for the first version; each resubmission adds one (the earlier ones are kept in
    # submission_versions with their grades).
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubmissionVersion(Graded, Base):
    """An earlier version of a submission, as it was handed in and graded."""

    __tablename__ = "submission_versions"
    __table_args__ = (UniqueConstraint("submission_id", "version"),)

    id: Mapped[IdPK]
    submission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    submitted_at: Mapped[datetime]
    late: Mapped[bool]
    content: Mapped[str | None] = mapped_column(Text)
    returned: Mapped[bool] = mapped_column(default=False)


class PointEntry(Base):
    """The points ledger: every award, correction and penalty, with its reason.

    A student's total in a mission is the sum of their entries (and is kept, summed, on
    the enrolment for ranking)."""

    __tablename__ = "point_entries"
    __table_args__ = (
        Index("ix_point_entries_enrollment", "enrollment_id"),
        Index("ix_point_entries_mission_source", "mission_id", "source_type", "source_id"),
    )

    id: Mapped[IdPK]
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE")
    )
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    points: Mapped[int]
    # attendance, meeting, submission_on_time, submission_late, correction, recalculation,
    # penalty, grade, resubmission, award, deduction.
    reason: Mapped[str] = mapped_column(String(24))
    # For points awarded or deducted by hand: one of the mission's reward categories.
    category: Mapped[str | None] = mapped_column(String(50))
    # What the entry is about: attendance / meeting / submission and that row's id.
    source_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int | None] = mapped_column(BigId)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Resource(Base):
    """A mission's document or link, with a title and a folder: an uploaded file (a
    stored file of nobody's, kept with the mission) or an https link."""

    __tablename__ = "resources"
    __table_args__ = (Index("ix_resources_mission_folder_title", "mission_id", "folder", "title"),)

    id: Mapped[IdPK]
    mission_id: Mapped[int] = mapped_column(BigId, ForeignKey("missions.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # A plain label that groups resources ("Week 1", "Reading"); "" for none.
    folder: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    """A certificate of completion: a student met the mission's completion rule when it
    was completed. Name, mission and date are kept as printed; ``code`` verifies it."""

    __tablename__ = "certificates"

    id: Mapped[IdPK]
    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE"), unique=True
    )
    mission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(16), unique=True)
    student_name: Mapped[str] = mapped_column(String(200))
    mission_title: Mapped[str] = mapped_column(String(200))
    completed_on: Mapped[date]
    points: Mapped[int]
    attendance_percent: Mapped[int]
    file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
