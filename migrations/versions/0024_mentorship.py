"""mentorship

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 23:52:13.417785
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matching_weights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column(
            "updated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_matching_weights_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_weights")),
    )
    op.create_table(
        "mentor_offers",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("headline", sa.String(length=200), nullable=True),
        sa.Column("offers", sa.JSON(), nullable=False),
        sa.Column("industries", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active_mentees", sa.Integer(), server_default="0", nullable=False),
        sa.Column("preferred_mentee", sa.String(length=16), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("topics_text", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("zone_fit", sa.String(length=159), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mentor_offers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mentor_offers")),
    )
    op.create_table(
        "mentorship_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mentee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mentor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mentee_id"],
            ["users.id"],
            name=op.f("fk_mentorship_requests_mentee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["users.id"],
            name=op.f("fk_mentorship_requests_mentor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentorship_requests")),
    )
    with op.batch_alter_table("mentorship_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mentorship_requests_expiring", ["status", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_mentorship_requests_mentee", ["mentee_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_mentorship_requests_mentor", ["mentor_id", "status", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_mentorship_requests_open",
            ["mentee_id", "mentor_id"],
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "mentor_offer_skills",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("skill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["skill_id"],
            ["skills.id"],
            name=op.f("fk_mentor_offer_skills_skill_id_skills"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["mentor_offers.user_id"],
            name=op.f("fk_mentor_offer_skills_user_id_mentor_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "skill_id", name=op.f("pk_mentor_offer_skills")),
    )
    with op.batch_alter_table("mentor_offer_skills", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mentor_offer_skills_skill_id"), ["skill_id"], unique=False
        )

    op.create_table(
        "mentorships",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mentor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mentee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "ended_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("end_reason", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ended_by_id"],
            ["users.id"],
            name=op.f("fk_mentorships_ended_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mentee_id"],
            ["users.id"],
            name=op.f("fk_mentorships_mentee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["users.id"],
            name=op.f("fk_mentorships_mentor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["mentorship_requests.id"],
            name=op.f("fk_mentorships_request_id_mentorship_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentorships")),
        sa.UniqueConstraint("request_id", name=op.f("uq_mentorships_request_id")),
    )
    with op.batch_alter_table("mentorships", schema=None) as batch_op:
        batch_op.create_index("ix_mentorships_mentee", ["mentee_id", "status"], unique=False)
        batch_op.create_index("ix_mentorships_mentor", ["mentor_id", "status"], unique=False)

    op.create_table(
        "mentorship_goals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mentorship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mentorship_id"],
            ["mentorships.id"],
            name=op.f("fk_mentorship_goals_mentorship_id_mentorships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentorship_goals")),
    )
    with op.batch_alter_table("mentorship_goals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mentorship_goals_mentorship_id"), ["mentorship_id"], unique=False
        )

    op.create_table(
        "mentorship_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mentorship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mentor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mentee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("join_url", sa.String(length=500), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("agenda", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_mentorship_sessions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mentee_id"],
            ["users.id"],
            name=op.f("fk_mentorship_sessions_mentee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["users.id"],
            name=op.f("fk_mentorship_sessions_mentor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentorship_id"],
            ["mentorships.id"],
            name=op.f("fk_mentorship_sessions_mentorship_id_mentorships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentorship_sessions")),
    )
    with op.batch_alter_table("mentorship_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mentorship_sessions_mentor", ["mentor_id", "status", "starts_at"], unique=False
        )
        batch_op.create_index(
            "ix_mentorship_sessions_mentorship", ["mentorship_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            "ix_mentorship_sessions_starts", ["status", "starts_at"], unique=False
        )

    op.create_table(
        "mentorship_feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mentorship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("about", sa.String(length=32), nullable=False),
        sa.Column(
            "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("by_mentor", sa.Boolean(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_mentorship_feedback_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentorship_id"],
            ["mentorships.id"],
            name=op.f("fk_mentorship_feedback_mentorship_id_mentorships"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mentorship_sessions.id"],
            name=op.f("fk_mentorship_feedback_session_id_mentorship_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["users.id"],
            name=op.f("fk_mentorship_feedback_subject_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentorship_feedback")),
        sa.UniqueConstraint(
            "mentorship_id",
            "author_id",
            "about",
            name=op.f("uq_mentorship_feedback_mentorship_id_author_id_about"),
        ),
    )
    with op.batch_alter_table("mentorship_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mentorship_feedback_subject", ["subject_id", "about"], unique=False
        )

    op.create_table(
        "mentorship_notes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mentorship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_mentorship_notes_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentorship_id"],
            ["mentorships.id"],
            name=op.f("fk_mentorship_notes_mentorship_id_mentorships"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mentorship_sessions.id"],
            name=op.f("fk_mentorship_notes_session_id_mentorship_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentorship_notes")),
    )
    with op.batch_alter_table("mentorship_notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mentorship_notes_mentorship", ["mentorship_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mentorship_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_mentorship_notes_mentorship")

    op.drop_table("mentorship_notes")
    with op.batch_alter_table("mentorship_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_mentorship_feedback_subject")

    op.drop_table("mentorship_feedback")
    with op.batch_alter_table("mentorship_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentorship_sessions_starts")
        batch_op.drop_index("ix_mentorship_sessions_mentorship")
        batch_op.drop_index("ix_mentorship_sessions_mentor")

    op.drop_table("mentorship_sessions")
    with op.batch_alter_table("mentorship_goals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mentorship_goals_mentorship_id"))

    op.drop_table("mentorship_goals")
    with op.batch_alter_table("mentorships", schema=None) as batch_op:
        batch_op.drop_index("ix_mentorships_mentor")
        batch_op.drop_index("ix_mentorships_mentee")

    op.drop_table("mentorships")
    with op.batch_alter_table("mentor_offer_skills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mentor_offer_skills_skill_id"))

    op.drop_table("mentor_offer_skills")
    with op.batch_alter_table("mentorship_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mentorship_requests_open",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_mentorship_requests_mentor")
        batch_op.drop_index("ix_mentorship_requests_mentee")
        batch_op.drop_index("ix_mentorship_requests_expiring")

    op.drop_table("mentorship_requests")
    op.drop_table("mentor_offers")
    op.drop_table("matching_weights")
