"""Rewards and penalties by hand: categories per mission, and on ledger entries

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 17:09:18.865911
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("engagement_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward_categories", sa.JSON(), nullable=True))

    with op.batch_alter_table("point_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("point_entries", schema=None) as batch_op:
        batch_op.drop_column("category")

    with op.batch_alter_table("engagement_rules", schema=None) as batch_op:
        batch_op.drop_column("reward_categories")
