"""People: profiles (alumni and students), degrees and their verification, careers,
skills, follows, profile views, likely duplicates and personal-data exports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK

# Maintained by PostgreSQL triggers (migration 0008); an unused text column on SQLite.
SearchVector = TSVECTOR().with_variant(Text(), "sqlite")


class Programme(Base):
    """A programme of study; degrees in it graduate within its years."""

    __tablename__ = "programmes"

    id: Mapped[IdPK]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    first_graduation_year: Mapped[int]
    # None while the programme still runs.
    last_graduation_year: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Profile(Base):
    """What a person tells the network about themselves, with a privacy level per group
    of fields (contact, work, education, location): everyone, alumni, staff, only_me."""

    __tablename__ = "profiles"
    __table_args__ = (
        Index("ix_profiles_country", "country"),
        Index("ix_profiles_search_basic", "search_basic", postgresql_using="gin"),
        Index("ix_profiles_search_all", "search_all", postgresql_using="gin"),
        Index(
            "ix_profiles_search_name_trgm",
            "search_name",
            postgresql_using="gin",
            postgresql_ops={"search_name": "gin_trgm_ops"},
        ),
        # Misspelt words of the headline and the work (directory; migration 0026).
        Index(
            "ix_profiles_headline_trgm",
            "headline",
            postgresql_using="gin",
            postgresql_ops={"headline": "gin_trgm_ops"},
        ),
        Index(
            "ix_profiles_search_work_trgm",
            "search_work",
            postgresql_using="gin",
            postgresql_ops={"search_work": "gin_trgm_ops"},
        ),
    )

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    headline: Mapped[str | None] = mapped_column(String(200))
    bio: Mapped[str | None] = mapped_column(Text)
    photo_url: Mapped[str | None] = mapped_column(String(500))
    # The uploaded photo shown (community.photos; its medium size's link is photo_url). No
    # foreign key: adding one would rebuild this table on SQLite, and its search triggers
    # with it; a photo in use is never swept, and one gone reads as none.
    photo_id: Mapped[int | None] = mapped_column(BigId)
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    job_title: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    # Never shown to others; graduation before birth is refused.
    date_of_birth: Mapped[date | None]
    # Students
    programme_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("programmes.id"))
    semester: Mapped[int | None]
    cgpa: Mapped[float | None]
    expected_graduation_year: Mapped[int | None]
    student_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    # Verification of the academic record (programme, student number, CGPA).
    record_status: Mapped[str] = mapped_column(String(16), default="unverified")
    record_note: Mapped[str | None] = mapped_column(String(500))
    # Privacy per group of fields.
    contact_visibility: Mapped[str] = mapped_column(String(16), default="staff")
    work_visibility: Mapped[str] = mapped_column(String(16), default="everyone")
    education_visibility: Mapped[str] = mapped_column(String(16), default="everyone")
    location_visibility: Mapped[str] = mapped_column(String(16), default="everyone")
    # Whether the owner sees who viewed their profile (they always see how many).
    show_viewers: Mapped[bool] = mapped_column(default=False)
    # An alumnus's offer to be contacted by students (by direct message).
    open_to_students: Mapped[bool] = mapped_column(default=False)
    # Where they would rather work (on_site, hybrid, remote), for job recommendations.
    remote_preference: Mapped[str | None] = mapped_column(String(16))
    # The directory's search documents (PostgreSQL): name and headline, which every
    # signed-in viewer may match; the same plus job title, company and skills, for viewers
    # who may see the person's work; and the name again, for trigram matching, and the
    # work (company, job title, skills) as text, for misspelt words. SQLite keeps its own
    # trigram index instead (the fts_profiles virtual table, migration 0026).
    search_basic: Mapped[Any] = mapped_column(SearchVector, nullable=True)
    search_all: Mapped[Any] = mapped_column(SearchVector, nullable=True)
    search_name: Mapped[str | None] = mapped_column(String(200))
    search_work: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Degree(Base):
    """A degree a person holds or studies for, verifiable by an administrator."""

    __tablename__ = "degrees"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    programme_id: Mapped[int] = mapped_column(BigId, ForeignKey("programmes.id"), index=True)
    campus: Mapped[str | None] = mapped_column(String(100))
    start_year: Mapped[int | None]
    graduation_year: Mapped[int]
    # unverified, pending, verified, rejected
    status: Mapped[str] = mapped_column(String(16), default="unverified")
    submitted_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkExperience(Base):
    __tablename__ = "work_experiences"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    company: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    started_on: Mapped[date]
    ended_on: Mapped[date | None]  # None: current


class Skill(Base):
    """A skill's name, once (matched regardless of case)."""

    __tablename__ = "skills"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)


class UserSkill(Base):
    __tablename__ = "user_skills"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    proficiency: Mapped[str] = mapped_column(String(16), default="intermediate")


class Achievement(Base):
    __tablename__ = "achievements"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None]


class SocialLink(Base):
    __tablename__ = "social_links"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # linkedin, github, website, x, other
    url: Mapped[str] = mapped_column(String(500))


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_followee", "followee_id", "follower_id"),)

    follower_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProfileView(Base):
    """One viewer's look at a profile on one day (repeat views that day count once)."""

    __tablename__ = "profile_views"
    __table_args__ = (
        UniqueConstraint("viewed_id", "viewer_id", "viewed_on"),
        Index("ix_profile_views_viewed_day", "viewed_id", "viewed_on"),
    )

    id: Mapped[IdPK]
    viewed_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    viewer_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    viewed_on: Mapped[date]
    last_viewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class DuplicateCandidate(Base):
    """Two accounts that are likely the same person, found by the nightly check."""

    __tablename__ = "duplicate_candidates"
    __table_args__ = (UniqueConstraint("user_a_id", "user_b_id"),)

    id: Mapped[IdPK]
    user_a_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    user_b_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, dismissed, merged
    found_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonalExport(Base):
    """Everything alumnet holds about one person, as a JSON stored file, for them to
    download until it expires (the file's expiry deletes this row with it)."""

    __tablename__ = "personal_exports"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
