"""Import invitations; personal-data exports as stored files

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 19:22:29.112285
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invite", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Personal-data exports become stored files behind the same signed links as every
    # other export. The old ones (kept a week at most) held their JSON inline: they go,
    # and their owners ask again.
    op.execute("DELETE FROM personal_exports")

    with op.batch_alter_table("personal_exports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
            )
        )
        batch_op.create_index(batch_op.f("ix_personal_exports_file_id"), ["file_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_personal_exports_file_id_stored_files"),
            "stored_files",
            ["file_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_column("content")


def downgrade() -> None:
    op.execute("DELETE FROM personal_exports")
    with op.batch_alter_table("personal_exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.TEXT(), nullable=True))
        batch_op.drop_constraint(
            batch_op.f("fk_personal_exports_file_id_stored_files"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_personal_exports_file_id"))
        batch_op.drop_column("file_id")

    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_column("invite")
