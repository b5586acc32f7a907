"""Operations batch loaders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from alumnet.persistence.db import Reader
from alumnet.persistence.models import Job

JOB_COLUMNS = (
    Job.id,
    Job.name,
    Job.queue,
    Job.status,
    Job.attempts,
    Job.max_attempts,
    Job.progress,
    Job.result,
    Job.last_error,
    Job.created_by_id,
    Job.created_at,
    Job.started_at,
    Job.finished_at,
)


async def jobs_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(*JOB_COLUMNS).where(Job.id.in_(ids)))).all()
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]
