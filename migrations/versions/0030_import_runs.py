"""import runs that always end: who runs an import and its last sign of life, the attempt a
batch must still belong to, whether the recorded rows are a run's; imports by checksum

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempt", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("rows_of_run", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_imports_sha256"), ["sha256"], unique=False)
    # Rows recorded batch by batch by a run (completed, or stopped part way) are a run's.
    op.execute(
        "UPDATE imports SET rows_of_run = true WHERE NOT dry_run AND NOT all_or_nothing"
        " AND status IN ('completed', 'running', 'failed', 'rolling_back')"
    )
    # Imports at work (or whose process stopped) when this version came in: FAILED with a
    # plain reason, not taken up silently at the first start; an admin decides whether to
    # run them again (going on from their recorded rows) or roll them back.
    op.execute("UPDATE imports SET rows_of_run = true WHERE status = 'rolling_back'")
    op.execute(
        "UPDATE imports SET status = 'failed', error = 'The rollback was under way when "
        "alumnet was upgraded and did not finish: roll it back again.' "
        "WHERE status = 'rolling_back'"
    )
    op.execute(
        "UPDATE imports SET status = 'failed', error = CASE WHEN rows_of_run THEN 'The run "
        "was under way when alumnet was upgraded and did not finish: run it again to go on "
        "from its recorded rows, or roll them back.' ELSE 'The run was under way when "
        "alumnet was upgraded and did not finish; nothing of it was kept. Run it again.' "
        "END WHERE status = 'running'"
    )


def downgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imports_sha256"))
        batch_op.drop_column("rows_of_run")
        batch_op.drop_column("attempt")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("runner")
