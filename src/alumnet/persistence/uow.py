"""Unit of work: one transaction, plus what to send once it has committed.

Jobs and published events are recorded inside the transaction and handed to the
``AfterCommit`` port only after the commit succeeded, so a rollback never e-mails
anybody and a crash after commit leaves the job row to be re-enqueued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from alumnet import tracing
from alumnet.observability import get_logger
from alumnet.persistence.db import CommitOutcomeUnknown, Database, is_unavailable
from alumnet.persistence.models import Job

log = get_logger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a change came from, for the audit log."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    via: str = "api"


class AfterCommit(Protocol):
    async def jobs_committed(self, job_ids: list[int]) -> None: ...

    async def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None: ...


class NothingAfterCommit:
    async def jobs_committed(self, job_ids: list[int]) -> None:
        return None

    async def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        return None


@dataclass
class UnitOfWork:
    session: AsyncSession
    origin: Origin = field(default_factory=Origin)
    actor_id: int | None = None
    job_ids: list[int] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # As many attempts as the queue will make: the first, plus one per retry interval.
    job_attempts: int = 4

    async def add_job(
        self,
        name: str,
        args: dict[str, Any],
        *,
        queue: str = "default",
        max_attempts: int | None = None,
        schedule_key: str | None = None,
    ) -> Job:
        """Record a job, queued once the transaction commits. ``schedule_key``: the
        scheduled slot it is for (unique: see workers/schedule.py)."""
        job = Job(
            name=name,
            args=args,
            queue=queue,
            max_attempts=max_attempts or self.job_attempts,
            created_by_id=self.actor_id,
            schedule_key=schedule_key,
        )
        # The trace it continues, when tracing is on (else left NULL, at no cost).
        carried = tracing.job_trace_context(self.origin.request_id)
        if carried is not None:
            job.trace_context = carried
        self.session.add(job)
        await self.session.flush()
        self.job_ids.append(job.id)
        return job

    async def add_jobs(
        self, name: str, args: list[dict[str, Any]], *, queue: str = "default"
    ) -> list[int]:
        """Many jobs of one kind in a few statements (multi-row INSERT … RETURNING)."""
        if not args:
            return []
        carried = tracing.job_trace_context(self.origin.request_id)
        traced = {} if carried is None else {"trace_context": carried}
        rows = [
            {"name": name, "args": a, "queue": queue, "max_attempts": self.job_attempts,
             "created_by_id": self.actor_id, "status": "pending", "attempts": 0,
             "progress": 0.0, "created_at": datetime.now(UTC), **traced}
            for a in args
        ]  # fmt: skip
        result = await self.session.execute(insert(Job).returning(Job.id), rows)
        ids = [int(i) for i in result.scalars()]
        self.job_ids.extend(ids)
        return ids

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        self.events.append((channel, payload))


@asynccontextmanager
async def unit_of_work(
    database: Database,
    after_commit: AfterCommit,
    *,
    origin: Origin | None = None,
    actor_id: int | None = None,
    job_attempts: int = 4,
) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends normally, roll back on any exception."""
    async with database.session() as session:
        uow = UnitOfWork(
            session=session,
            origin=origin or Origin(),
            actor_id=actor_id,
            job_attempts=job_attempts,
        )
        try:
            yield uow
        except BaseException:
            await session.rollback()
            raise
        try:
            await session.commit()
        except BaseException as exc:
            with suppress(Exception):  # the connection may be gone: the error is the commit's
                await session.rollback()
            if is_unavailable(exc):
                # The connection broke with COMMIT on its way: kept or not, nobody knows.
                raise CommitOutcomeUnknown(type(exc).__name__) from exc
            raise
    # After commit: failures here must not undo what was committed.
    if uow.job_ids:
        try:
            await after_commit.jobs_committed(uow.job_ids)
        except Exception:
            log.exception("job_dispatch_failed", job_ids=uow.job_ids)
    if uow.events:
        try:
            await after_commit.publish(uow.events)
        except Exception:
            log.exception("event_publish_failed", channels=[c for c, _ in uow.events])
