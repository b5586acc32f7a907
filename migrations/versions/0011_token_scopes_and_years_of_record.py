"""Personal access token scopes and expiry; graduation years of record

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("personal_access_tokens", schema=None) as batch_op:
        # Tokens made before scopes carried all of their owner's permissions: they keep
        # them until they expire.
        batch_op.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="admin")
        )
        batch_op.add_column(
            sa.Column(
                "created_by_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_personal_access_tokens_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_personal_access_tokens_created_by_id_users"),
            "users",
            ["created_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute("UPDATE personal_access_tokens SET created_by_id = user_id")
    # Tokens no longer live for ever: those that would have get 90 days from now.
    tokens = sa.table(
        "personal_access_tokens",
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    until = datetime.now(UTC) + timedelta(days=90)
    if op.get_bind().dialect.name == "sqlite":
        until = until.replace(tzinfo=None)  # SQLite keeps UTC timestamps without a zone
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None), tokens.c.revoked_at.is_(None))
        .values(expires_at=until)
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_graduation_year", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("record_graduation_year", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_users_record_graduation_year"), ["record_graduation_year"], unique=False
        )
    # The years on record today: verified degrees, then a verified academic record's
    # expected year when later. (Which years earlier imports set cannot be told apart from
    # what people typed: those people are reached again once staff import or verify them.)
    op.execute(
        "UPDATE users SET record_graduation_year = (SELECT max(d.graduation_year) "
        "FROM degrees d WHERE d.user_id = users.id AND d.status = 'verified')"
    )
    op.execute(
        "UPDATE users SET record_graduation_year = (SELECT p.expected_graduation_year "
        "FROM profiles p WHERE p.user_id = users.id) "
        "WHERE EXISTS (SELECT 1 FROM profiles p WHERE p.user_id = users.id "
        "AND p.record_status = 'verified' AND p.expected_graduation_year IS NOT NULL "
        "AND (users.record_graduation_year IS NULL "
        "OR p.expected_graduation_year > users.record_graduation_year))"
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_record_graduation_year"))
        batch_op.drop_column("record_graduation_year")
        batch_op.drop_column("staff_graduation_year")
    with op.batch_alter_table("personal_access_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_personal_access_tokens_created_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_personal_access_tokens_created_by_id"))
        batch_op.drop_column("created_by_id")
        batch_op.drop_column("scope")
