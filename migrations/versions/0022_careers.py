"""careers

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 20:27:49.244158
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A posting's search document, kept current by PostgreSQL itself whenever the posting is
# written: title and company (A), skills (B), description (C). The domain rewrites
# skills_text with the skill rows, so the document follows them.
PG_UP = [
    """
    CREATE FUNCTION job_postings_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.search :=
        setweight(to_tsvector('simple', coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(
          (SELECT name FROM companies WHERE id = NEW.company_id), '')), 'A')
        || setweight(to_tsvector('simple', coalesce(NEW.skills_text, '')), 'B')
        || setweight(to_tsvector('simple', left(coalesce(NEW.description_markdown, ''),
                                                 100000)), 'C');
      RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER job_postings_search BEFORE INSERT OR UPDATE OF title, company_id,
      skills_text, description_markdown ON job_postings
    FOR EACH ROW EXECUTE FUNCTION job_postings_search()
    """,
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS job_postings_search ON job_postings",
    "DROP FUNCTION IF EXISTS job_postings_search()",
]


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column("logo_url", sa.String(length=500), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("name_key", name=op.f("uq_companies_name_key")),
    )
    op.create_table(
        "job_posting_searches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.String(length=200), nullable=True),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_job_posting_searches_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_posting_searches")),
    )
    with op.batch_alter_table("job_posting_searches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_posting_searches_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "job_postings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "poster_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description_markdown", sa.Text(), nullable=False),
        sa.Column("description_html", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("remote", sa.String(length=16), nullable=False),
        sa.Column("salary_min", sa.BigInteger(), nullable=True),
        sa.Column("salary_max", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("apply_url", sa.String(length=500), nullable=True),
        sa.Column("closes_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("moderation_note", sa.String(length=500), nullable=True),
        sa.Column(
            "moderated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skills_text", sa.Text(), nullable=False),
        sa.Column("search", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("applications_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_job_postings_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["moderated_by_id"],
            ["users.id"],
            name=op.f("fk_job_postings_moderated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["poster_id"],
            ["users.id"],
            name=op.f("fk_job_postings_poster_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_postings")),
        sa.UniqueConstraint(
            "poster_id", "client_id", name=op.f("uq_job_postings_poster_id_client_id")
        ),
    )
    with op.batch_alter_table("job_postings", schema=None) as batch_op:
        batch_op.create_index("ix_job_postings_closes_on", ["closes_on"], unique=False)
        batch_op.create_index("ix_job_postings_company", ["company_id"], unique=False)
        batch_op.create_index("ix_job_postings_live", ["status", "published_at"], unique=False)
        batch_op.create_index(
            "ix_job_postings_open",
            ["published_at", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'live'"),
            postgresql_include=[
                "closes_on", "poster_id", "audience", "kind", "remote", "country", "city",
                "company_id", "applications_count",
            ],
        )  # fmt: skip
        batch_op.create_index(batch_op.f("ix_job_postings_poster_id"), ["poster_id"], unique=False)
        batch_op.create_index(
            "ix_job_postings_search", ["search"], unique=False, postgresql_using="gin"
        )

    op.create_table(
        "trusted_posters",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "granted_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["users.id"],
            name=op.f("fk_trusted_posters_granted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_trusted_posters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_trusted_posters")),
    )
    op.create_table(
        "job_posting_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "reporter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["job_postings.id"],
            name=op.f("fk_job_posting_reports_posting_id_job_postings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_job_posting_reports_reporter_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_posting_reports")),
        sa.UniqueConstraint(
            "posting_id", "reporter_id", name=op.f("uq_job_posting_reports_posting_id_reporter_id")
        ),
    )
    op.create_table(
        "job_posting_skills",
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("skill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["job_postings.id"],
            name=op.f("fk_job_posting_skills_posting_id_job_postings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["skill_id"],
            ["skills.id"],
            name=op.f("fk_job_posting_skills_skill_id_skills"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("posting_id", "skill_id", name=op.f("pk_job_posting_skills")),
    )
    with op.batch_alter_table("job_posting_skills", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_posting_skills_skill_id"), ["skill_id"], unique=False
        )

    op.create_table(
        "job_referrals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "referrer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "referred_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["job_postings.id"],
            name=op.f("fk_job_referrals_posting_id_job_postings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referred_id"],
            ["users.id"],
            name=op.f("fk_job_referrals_referred_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["users.id"],
            name=op.f("fk_job_referrals_referrer_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_referrals")),
        sa.UniqueConstraint(
            "posting_id",
            "referrer_id",
            "referred_id",
            name=op.f("uq_job_referrals_posting_id_referrer_id_referred_id"),
        ),
    )
    with op.batch_alter_table("job_referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_referrals_referred", ["referred_id", "posting_id"], unique=False
        )

    op.create_table(
        "saved_job_postings",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["job_postings.id"],
            name=op.f("fk_saved_job_postings_posting_id_job_postings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_saved_job_postings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "posting_id", name=op.f("pk_saved_job_postings")),
    )
    with op.batch_alter_table("saved_job_postings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_saved_job_postings_posting_id"), ["posting_id"], unique=False
        )

    op.create_table(
        "job_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "applicant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cover_note", sa.Text(), nullable=True),
        sa.Column(
            "cv_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("cv_url", sa.String(length=500), nullable=True),
        sa.Column(
            "referral_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_hours", sa.Double(), nullable=True),
        sa.Column("reached", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["applicant_id"],
            ["users.id"],
            name=op.f("fk_job_applications_applicant_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cv_file_id"],
            ["stored_files.id"],
            name=op.f("fk_job_applications_cv_file_id_stored_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["job_postings.id"],
            name=op.f("fk_job_applications_posting_id_job_postings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["job_referrals.id"],
            name=op.f("fk_job_applications_referral_id_job_referrals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_applications")),
        sa.UniqueConstraint(
            "posting_id", "applicant_id", name=op.f("uq_job_applications_posting_id_applicant_id")
        ),
    )
    with op.batch_alter_table("job_applications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_applications_applicant", ["applicant_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_job_applications_status", ["posting_id", "status"], unique=False)
        batch_op.create_index(
            "ix_job_applications_steps",
            ["reached", "status"],
            unique=False,
            postgresql_include=["response_hours"],
        )
        batch_op.create_index(
            "ix_job_applications_response_hours", ["response_hours"], unique=False
        )

    op.create_table(
        "job_application_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_job_application_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["job_applications.id"],
            name=op.f("fk_job_application_events_application_id_job_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_application_events")),
    )
    with op.batch_alter_table("job_application_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_application_events_application_id"), ["application_id"], unique=False
        )

    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remote_preference", sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("remote_preference")
    with op.batch_alter_table("job_application_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_application_events_application_id"))

    op.drop_table("job_application_events")
    with op.batch_alter_table("job_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_job_applications_response_hours")
        batch_op.drop_index("ix_job_applications_steps")
        batch_op.drop_index("ix_job_applications_status")
        batch_op.drop_index("ix_job_applications_applicant")

    op.drop_table("job_applications")
    with op.batch_alter_table("saved_job_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_job_postings_posting_id"))

    op.drop_table("saved_job_postings")
    with op.batch_alter_table("job_referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_job_referrals_referred")

    op.drop_table("job_referrals")
    with op.batch_alter_table("job_posting_skills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_posting_skills_skill_id"))

    op.drop_table("job_posting_skills")
    op.drop_table("job_posting_reports")
    op.drop_table("trusted_posters")
    with op.batch_alter_table("job_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_job_postings_search", postgresql_using="gin")
        batch_op.drop_index(batch_op.f("ix_job_postings_poster_id"))
        batch_op.drop_index("ix_job_postings_open", postgresql_where=sa.text("status = 'live'"))
        batch_op.drop_index("ix_job_postings_live")
        batch_op.drop_index("ix_job_postings_company")
        batch_op.drop_index("ix_job_postings_closes_on")

    op.drop_table("job_postings")
    with op.batch_alter_table("job_posting_searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_posting_searches_user_id"))

    op.drop_table("job_posting_searches")
    op.drop_table("companies")
