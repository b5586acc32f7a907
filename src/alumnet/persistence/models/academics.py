"""Academics: subjects made of ordered topics (with prerequisites), subjects within
programmes and offered to missions or batches, each student's progress topic by topic,
assessments and their marks, faculty time, and students' feedback with its sentiment.

A student may have progress on a topic only when its subject is offered to a mission they
are enrolled in (or to that mission's batch): ``alumnet.domain.academics.access`` says so.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Subject(Base):
    """A subject taught (Python, Databases): an ordered list of topics. Status: active,
    archived (kept for its history, offered no more)."""

    __tablename__ = "subjects"

    id: Mapped[IdPK]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProgrammeSubject(Base):
    """A subject within a programme of study (people's ``programmes``), in order."""

    __tablename__ = "programme_subjects"

    programme_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True
    )
    subject_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class Topic(Base):
    """One topic of a subject, in ``position`` order, with its estimated hours (in
    minutes). ``code`` names it within its subject (imports, prerequisites)."""

    __tablename__ = "topics"
    __table_args__ = (
        UniqueConstraint("subject_id", "code"),
        Index("ix_topics_subject_position", "subject_id", "position", "id"),
    )

    id: Mapped[IdPK]
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    estimated_minutes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicPrerequisite(Base):
    """``topic_id`` needs ``requires_id`` first (of any subject). Never circular."""

    __tablename__ = "topic_prerequisites"

    topic_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )
    requires_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SubjectOffering(Base):
    """A subject taught to a mission, or to a whole batch (each of its missions), between
    two dates (the plan: its topics are expected to be done evenly, by estimated hours,
    from ``starts_on`` to ``ends_on``), led by a faculty member."""

    __tablename__ = "subject_offerings"
    __table_args__ = (
        UniqueConstraint("subject_id", "mission_id"),
        UniqueConstraint("subject_id", "batch_id"),
        Index("ix_subject_offerings_mission", "mission_id"),
        Index("ix_subject_offerings_batch", "batch_id"),
    )

    id: Mapped[IdPK]
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id", ondelete="CASCADE"))
    # Exactly one of the two.
    mission_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="CASCADE")
    )
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("batches.id", ondelete="CASCADE")
    )
    faculty_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicProgress(Base):
    """Where one student stands on one topic: not_started, in_progress, completed,
    needs_revision; a competency level (1 to 5) and a note from whoever recorded it.
    ``subject_id`` is the topic's (kept here so that a subject's table is one index
    range); ``completed_at`` is when it was last completed (cleared by needs_revision)."""

    __tablename__ = "topic_progress"
    __table_args__ = (
        UniqueConstraint("student_id", "topic_id"),
        Index("ix_topic_progress_subject", "subject_id", "student_id"),
        Index("ix_topic_progress_topic", "topic_id", "status"),
    )

    id: Mapped[IdPK]
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(BigId, ForeignKey("topics.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="not_started")
    competency: Mapped[int | None] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Assessment(Base):
    """An assessment of a topic: a quiz, a practical or a project, marked out of
    ``max_marks``."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_subject", "subject_id", "topic_id"),)

    id: Mapped[IdPK]
    topic_id: Mapped[int] = mapped_column(BigId, ForeignKey("topics.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # quiz, practical, project
    title: Mapped[str] = mapped_column(String(200))
    max_marks: Mapped[float] = mapped_column(Float)
    held_on: Mapped[date | None]
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssessmentMark(Base):
    """One student's marks in an assessment (at most its ``max_marks``)."""

    __tablename__ = "assessment_marks"
    __table_args__ = (
        UniqueConstraint("assessment_id", "student_id"),
        Index("ix_assessment_marks_student", "student_id"),
    )

    id: Mapped[IdPK]
    assessment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("assessments.id", ondelete="CASCADE")
    )
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    marks: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class FacultyTarget(Base):
    """A faculty member's weekly target of logged minutes (utilisation is measured against
    it), and the row their time entries are written under: locked while one is written, so
    that two entries that overlap can never both be stored."""

    __tablename__ = "faculty_targets"

    faculty_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    weekly_minutes: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FacultyTimeEntry(Base):
    """Time a faculty member spent: teaching (a session), preparation, assessment or
    mentoring, against a subject and/or a student. ``ended_at`` is null while its timer
    runs. Two entries of one faculty member never overlap."""

    __tablename__ = "faculty_time_entries"
    __table_args__ = (
        Index("ix_faculty_time_entries_faculty", "faculty_id", "started_at"),
        Index("ix_faculty_time_entries_subject", "subject_id", "started_at"),
        Index("ix_faculty_time_entries_student", "student_id"),
    )

    id: Mapped[IdPK]
    faculty_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # teaching, preparation, assessment, mentoring
    subject_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subjects.id", ondelete="SET NULL")
    )
    topic_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("topics.id", ondelete="SET NULL")
    )
    student_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    mission_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("missions.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    minutes: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StudentFeedback(Base):
    """A student's feedback on a subject, a topic, a session (a teaching time entry) or a
    mentor: a rating (1 to 5) and a comment, perhaps anonymous to its recipient (never to
    integrity staff). ``recipient_id`` is the faculty member or mentor it is about (null
    for a subject or topic nobody leads). The sentiment (VADER's compound score, -1 to 1,
    and its label) is computed by a job after it is written."""

    __tablename__ = "student_feedback"
    __table_args__ = (
        Index("ix_student_feedback_subject", "subject_id", "created_at"),
        Index("ix_student_feedback_recipient", "recipient_id", "created_at"),
        Index("ix_student_feedback_author", "author_id", "created_at"),
        Index("ix_student_feedback_unscored", "scored_at", "id"),
        Index("ix_student_feedback_created", "created_at", "id"),
        UniqueConstraint("public_id"),
        UniqueConstraint("author_id", "idempotency_key"),
    )

    id: Mapped[IdPK]
    # Its id in the API, and its order within a day for anyone the author is hidden from:
    # random (1 to 2**62), so that neither says when it was given nor which came first.
    public_id: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # The author's key: sending the same feedback again with it returns the first.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(16))  # subject, topic, session, mentor
    subject_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subjects.id", ondelete="SET NULL")
    )
    topic_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("topics.id", ondelete="SET NULL")
    )
    session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("faculty_time_entries.id", ondelete="SET NULL")
    )
    recipient_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(16))  # positive, neutral, negative
    scored_at: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
