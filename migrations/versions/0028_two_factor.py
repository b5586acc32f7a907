"""two-factor sign-in (TOTP secrets encrypted at rest, recovery codes) and what a
session shows its owner (device, last use)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("users", sa.Column("two_factor_enabled_at", sa.DateTime(timezone=True)))
    op.add_column("sessions", sa.Column("device", sa.String(length=128)))
    op.add_column("sessions", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.add_column(
        "sessions",
        sa.Column("two_factor", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "personal_access_tokens",
        sa.Column("two_factor", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "two_factor",
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("secret_encrypted", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_two_factor_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_two_factor")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_recovery_codes_code_hash")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recovery_codes_user_id"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("two_factor")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `users` would trip
    # over the directory's FTS triggers that name it.
    for table, column in (
        ("personal_access_tokens", "two_factor"),
        ("sessions", "two_factor"),
        ("sessions", "last_used_at"),
        ("sessions", "device"),
        ("users", "two_factor_enabled_at"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
