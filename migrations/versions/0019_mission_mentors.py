"""Mentors of a whole mission (mission_mentors): they mentor every student enrolled,
without an assignment per student

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 18:12:01.792318
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mission_mentors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mentor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["users.id"],
            name=op.f("fk_mission_mentors_mentor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["missions.id"],
            name=op.f("fk_mission_mentors_mission_id_missions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mission_mentors")),
        sa.UniqueConstraint(
            "mission_id", "mentor_id", name=op.f("uq_mission_mentors_mission_id_mentor_id")
        ),
    )
    with op.batch_alter_table("mission_mentors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mission_mentors_mentor_id"), ["mentor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mission_mentors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mission_mentors_mentor_id"))

    op.drop_table("mission_mentors")
