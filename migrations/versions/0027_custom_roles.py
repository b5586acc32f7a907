"""custom roles: named sets of permissions, held everywhere or within a batch or mission

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "custom_roles",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_lower", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", BIG_ID, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_custom_roles_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_roles")),
        sa.UniqueConstraint("name_lower", name=op.f("uq_custom_roles_name_lower")),
    )
    op.create_table(
        "custom_role_assignments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("role_id", BIG_ID, nullable=False),
        sa.Column("batch_id", BIG_ID, nullable=True),
        sa.Column("mission_id", BIG_ID, nullable=True),
        sa.Column("scope_key", sa.String(length=24), nullable=False),
        sa.Column("assigned_by_id", BIG_ID, nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "batch_id IS NULL OR mission_id IS NULL",
            name=op.f("ck_custom_role_assignments_one_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["users.id"],
            name=op.f("fk_custom_role_assignments_assigned_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_custom_role_assignments_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["missions.id"],
            name=op.f("fk_custom_role_assignments_mission_id_missions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["custom_roles.id"],
            name=op.f("fk_custom_role_assignments_role_id_custom_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_custom_role_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_role_assignments")),
        sa.UniqueConstraint(
            "user_id",
            "role_id",
            "scope_key",
            name=op.f("uq_custom_role_assignments_user_id_role_id_scope_key"),
        ),
    )
    with op.batch_alter_table("custom_role_assignments", schema=None) as batch_op:
        for column in ("user_id", "role_id", "batch_id", "mission_id"):
            batch_op.create_index(
                batch_op.f(f"ix_custom_role_assignments_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("custom_role_assignments", schema=None) as batch_op:
        for column in ("mission_id", "batch_id", "role_id", "user_id"):
            batch_op.drop_index(batch_op.f(f"ix_custom_role_assignments_{column}"))
    op.drop_table("custom_role_assignments")
    op.drop_table("custom_roles")
