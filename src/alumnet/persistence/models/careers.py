"""Careers: employers, job postings with skills and audience, saved postings and searches,
reports, referrals, and applications with the history of their status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.people import SearchVector
from alumnet.persistence.models.types import BigId, IdPK


class Company(Base):
    """An employer, once per name (matched regardless of case and spacing)."""

    __tablename__ = "companies"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    website: Mapped[str | None] = mapped_column(String(500))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    industry: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobPosting(Base):
    """A job or internship. Status: pending (waiting for a moderator), live, rejected,
    closed. Salaries are integers in the currency's minor units (cents)."""

    __tablename__ = "job_postings"
    __table_args__ = (
        Index("ix_job_postings_live", "status", "published_at"),
        # The open postings, narrow: recommendations score every one, and the figures
        # count them, from this index alone (an index-only scan on PostgreSQL).
        Index(
            "ix_job_postings_open",
            "published_at",
            "id",
            postgresql_where=text("status = 'live'"),
            postgresql_include=[
                "closes_on",
                "poster_id",
                "audience",
                "kind",
                "remote",
                "country",
                "city",
                "company_id",
                "applications_count",
            ],
        ),
        Index("ix_job_postings_closes_on", "closes_on"),
        Index("ix_job_postings_company", "company_id"),
        Index("ix_job_postings_search", "search", postgresql_using="gin"),
        UniqueConstraint("poster_id", "client_id"),
    )

    id: Mapped[IdPK]
    poster_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[int] = mapped_column(BigId, ForeignKey("companies.id"))
    title: Mapped[str] = mapped_column(String(200))
    description_markdown: Mapped[str] = mapped_column(Text)
    description_html: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # full_time, part_time, internship, contract
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    remote: Mapped[str] = mapped_column(String(16))  # on_site, hybrid, remote
    salary_min: Mapped[int | None] = mapped_column(BigInteger)
    salary_max: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))  # ISO 4217
    audience: Mapped[str] = mapped_column(String(16))  # students, alumni, both
    # None: apply inside alumnet; else an https link to the employer's own form.
    apply_url: Mapped[str | None] = mapped_column(String(500))
    closes_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    moderation_note: Mapped[str | None] = mapped_column(String(500))
    moderated_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    moderated_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # The skills' names, for the text search (kept by the domain with the skill rows).
    skills_text: Mapped[str] = mapped_column(Text, default="")
    # Title and company (A), skills (B), description (C); kept by a PostgreSQL trigger.
    search: Mapped[Any] = mapped_column(SearchVector, nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    # Applications to it, kept in the transaction that adds one (figures read it).
    applications_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobPostingSkill(Base):
    __tablename__ = "job_posting_skills"

    posting_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("job_postings.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TrustedPoster(Base):
    """Someone whose postings go live without waiting for a moderator."""

    __tablename__ = "trusted_posters"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    granted_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedJobPosting(Base):
    __tablename__ = "saved_job_postings"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    posting_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("job_postings.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobPostingSearch(Base):
    """A saved search: its owner is told of new live postings that match it."""

    __tablename__ = "job_posting_searches"

    id: Mapped[IdPK]
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str | None] = mapped_column(String(200))
    filter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Postings published after this moment are news to its owner.
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobPostingReport(Base):
    """A viewer's report of a posting for review; one per person and posting."""

    __tablename__ = "job_posting_reports"
    __table_args__ = (UniqueConstraint("posting_id", "reporter_id"),)

    id: Mapped[IdPK]
    posting_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("job_postings.id", ondelete="CASCADE")
    )
    reporter_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when a moderator decides the posting after the report.
    resolved_at: Mapped[datetime | None]


class JobReferral(Base):
    """An alumnus's referral of someone to a posting."""

    __tablename__ = "job_referrals"
    __table_args__ = (
        UniqueConstraint("posting_id", "referrer_id", "referred_id"),
        Index("ix_job_referrals_referred", "referred_id", "posting_id"),
    )

    id: Mapped[IdPK]
    posting_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("job_postings.id", ondelete="CASCADE")
    )
    referrer_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    referred_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobApplication(Base):
    """One person's application to one posting. Status: applied, screening, interview,
    offer, hired, rejected, withdrawn, on_hold."""

    __tablename__ = "job_applications"
    __table_args__ = (
        UniqueConstraint("posting_id", "applicant_id"),
        Index("ix_job_applications_applicant", "applicant_id", "created_at"),
        Index("ix_job_applications_status", "posting_id", "status"),
        # The funnel and response figures read these alone (index-only on PostgreSQL).
        Index(
            "ix_job_applications_steps",
            "reached",
            "status",
            postgresql_include=["response_hours"],
        ),
        Index("ix_job_applications_response_hours", "response_hours"),
    )

    id: Mapped[IdPK]
    posting_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("job_postings.id", ondelete="CASCADE")
    )
    applicant_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="applied")
    cover_note: Mapped[str | None] = mapped_column(Text)
    cv_file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    # The CV link of the applicant's profile, as it was when they applied.
    cv_url: Mapped[str | None] = mapped_column(String(500))
    referral_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_referrals.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Hours from applying to the first move by someone other than the applicant (null
    # until then): the time to first response.
    response_hours: Mapped[float | None]
    # Every status it has ever had, one bit each (``applications.STEP_BITS``): the funnel
    # counts how many reached each step from this column alone.
    reached: Mapped[int] = mapped_column(default=1, server_default="1")


class JobApplicationEvent(Base):
    """One move of an application's status: who, when, from what to what."""

    __tablename__ = "job_application_events"

    id: Mapped[IdPK]
    application_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("job_applications.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
