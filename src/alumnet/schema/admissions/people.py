"""The people an inquiry or a follow-up task leads to: its counsellor, a task's assignee,
who moved it or logged an entry (fellow staff of the admissions office), and the student
account an inquiry became. One rule for all of them."""

from __future__ import annotations

from alumnet.domain.identity.permissions import Permission
from alumnet.schema.context import Info
from alumnet.schema.identity.types import User


async def office_user(info: Info, user_id: int | None) -> User | None:
    """A user reached through an inquiry or a task: shown in full to holders of
    ``admissions`` (who alone see inquiries and tasks), batched by the request's user
    loader; None for anyone else."""
    if user_id is None or not info.context.viewer.can(Permission.ADMISSIONS):
        return None
    row = await info.context.loaders.user_by_id.load(user_id)
    return User.from_row(row) if row is not None else None
