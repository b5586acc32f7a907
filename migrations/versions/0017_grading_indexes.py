"""Indexes for grading: the work a file was handed in with (a shared link is checked
against it), and the work a grader graded (kept when the grader is deleted)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 17:20:27.035526
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("submission_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submission_versions_file_id"), ["file_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_submission_versions_graded_by_id"), ["graded_by_id"], unique=False
        )

    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_file_id"), ["file_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submissions_graded_by_id"), ["graded_by_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submissions_graded_by_id"))
        batch_op.drop_index(batch_op.f("ix_submissions_file_id"))

    with op.batch_alter_table("submission_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_versions_graded_by_id"))
        batch_op.drop_index(batch_op.f("ix_submission_versions_file_id"))
