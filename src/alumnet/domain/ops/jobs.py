"""Running a recorded job: at least once, idempotently, with its outcome kept."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from alumnet.domain.runtime import Runtime
from alumnet.observability import JOBS, get_logger
from alumnet.persistence.db import is_busy, write_patiently
from alumnet.persistence.models import Job

log = get_logger(__name__)

JobHandler = Callable[[Runtime, Job], Awaitable[dict[str, Any] | None]]

PENDING = "pending"
RUNNING = "running"
RETRYING = "retrying"
SUCCEEDED = "succeeded"
FAILED = "failed"

STATUSES = (PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED)
UNFINISHED = (PENDING, RETRYING, RUNNING)


def job_channel(job_id: int) -> str:
    return f"job:{job_id}"


def _event(job: Job) -> dict[str, Any]:
    return {"id": job.id, "status": job.status, "progress": job.progress, "attempts": job.attempts}


def error_text(exc: BaseException) -> str:
    """How a failed attempt is recorded: ``"pkg.Kind: what went wrong"``, no stack trace."""
    return "".join(traceback.format_exception_only(exc)).strip()[:2000]


def error_type(text: str) -> str:
    """A recorded error without what went wrong, which may quote what the job worked on."""
    return text.split(":", 1)[0].strip()


STALE_RUNNING = timedelta(hours=2)  # longer than any job's RQ timeout


class JobFailed(Exception):
    """The handler raised; the queue decides whether to try again.

    ``attempts`` counts the attempts made so far; ``final`` says none is left. ``busy``
    says the database was too busy to serve it (see ``is_busy``): not the job's fault, so
    the attempt was not counted and the job should simply run again shortly."""

    def __init__(
        self, message: str, *, attempts: int = 0, final: bool = False, busy: bool = False
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.final = final
        self.busy = busy


async def execute(
    rt: Runtime, job_id: int, handlers: dict[str, JobHandler], *, defer_busy: bool = False
) -> str:
    """Run one job; returns its final status for this attempt. Raises ``JobFailed``.

    With ``defer_busy`` (the in-process queue, which runs the job again shortly), a failure
    that only says the database was busy does not count as an attempt; RQ counts it, so
    that its own retries and the row agree."""
    async with rt.database.session() as session:
        now = datetime.now(UTC)
        # Claim the job atomically: a job delivered twice (RQ runs at least once, and a
        # restart may re-enqueue) runs once at a time. A "running" job whose worker died
        # long ago may be claimed again.
        claimed = await session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                (Job.status.in_((PENDING, RETRYING)))
                | ((Job.status == RUNNING) & (Job.started_at < now - STALE_RUNNING)),
            )
            .values(status=RUNNING, attempts=Job.attempts + 1, started_at=now)
            .returning(Job.id)
        )
        if claimed.first() is None:
            await session.rollback()
            current = await session.get(Job, job_id)
            if current is None:
                log.warning("job_missing", job_id=job_id)
                return "missing"
            return current.status
        await session.commit()
        job = await session.get(Job, job_id, populate_existing=True)
        assert job is not None
    # No connection is held while the handler runs (it takes its own): a long job must not
    # keep an idle one, nor a transaction open, for its whole length.
    await rt.bus.publish(job_channel(job.id), _event(job))
    handler = handlers.get(job.name)
    try:
        if handler is None:
            raise LookupError(f"no handler for job {job.name!r}")
        result = await handler(rt, job)
    except asyncio.CancelledError:
        # The process is stopping: the job goes back in line, this attempt not counted.
        await asyncio.shield(
            _settle(rt, job, status=RETRYING, attempts=max(0, job.attempts - 1), started_at=None)
        )
        raise
    except Exception as exc:
        busy = defer_busy and is_busy(exc)
        if busy:
            # Not the job's failure: the attempt does not count against its retries.
            job.attempts = max(0, job.attempts - 1)
        final = not busy and job.attempts >= job.max_attempts
        job.status = FAILED if final else RETRYING
        job.last_error = error_text(exc)
        job.finished_at = datetime.now(UTC) if final else None
        await _settle(
            rt, job, status=job.status, attempts=job.attempts, last_error=job.last_error,
            finished_at=job.finished_at,
        )  # fmt: skip
        outcome = "failed" if final else "deferred" if busy else "retrying"
        JOBS.labels(job=job.name, outcome=outcome).inc()
        log.warning(
            "job_failed",
            job_id=job.id,
            job=job.name,
            attempt=job.attempts,
            final=final,
            busy=busy,
            error=type(exc).__name__,
        )
        raise JobFailed(job.last_error, attempts=job.attempts, final=final, busy=busy) from exc
    job.status = SUCCEEDED
    job.progress = 1.0
    job.result = result
    job.finished_at = datetime.now(UTC)
    job.last_error = None
    await _settle(
        rt, job, status=SUCCEEDED, progress=1.0, result=result, finished_at=job.finished_at,
        last_error=None,
    )  # fmt: skip
    JOBS.labels(job=job.name, outcome="succeeded").inc()
    log.info("job_succeeded", job_id=job.id, job=job.name, attempt=job.attempts)
    return SUCCEEDED


# How long a job's outcome is written again while the database stays busy: the outcome of
# work already done must not be lost to a moment's lock.
SETTLE_PATIENCE = timedelta(minutes=2)


async def _settle(rt: Runtime, job: Job, **values: Any) -> None:
    """Record an attempt's outcome (a short write of the job's own row, tried again while
    the database is busy: the outcome of work done must not be lost to a moment's lock);
    then tell the job's subscribers. Not over a job given up meanwhile (``give_up``: its
    work handed to another job), whose FAILED stays."""
    await write_patiently(
        rt.database, update(Job).where(Job.id == job.id, Job.status == RUNNING).values(**values)
    )
    await rt.bus.publish(job_channel(job.id), _event(job))


async def report_progress(rt: Runtime, job: Job, fraction: float) -> None:
    """Record a running job's progress (0 to 1) and tell its subscribers."""
    job.progress = max(0.0, min(1.0, fraction))
    async with rt.database.connect() as conn:
        await conn.execute(update(Job).where(Job.id == job.id).values(progress=job.progress))
        await conn.commit()
    await rt.bus.publish(job_channel(job.id), _event(job))


async def give_up(session: Any, job_id: int, reason: str) -> None:
    """A job whose process stopped without a word (a worker killed), its work handed to a
    new job: failed with ``reason``, in the caller's transaction, so that a late delivery
    of it does nothing (``execute`` claims only unfinished jobs)."""
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(UNFINISHED))
        .values(status=FAILED, last_error=reason[:2000], finished_at=datetime.now(UTC))
    )


async def stale_job_ids(
    rt: Runtime, older_than: timedelta = timedelta(minutes=2)
) -> list[tuple[int, str]]:
    """Jobs committed but never picked up (the process died before enqueueing them)."""
    cutoff = datetime.now(UTC) - older_than
    async with rt.database.connect() as conn:
        rows = await conn.execute(
            select(Job.id, Job.queue).where(
                Job.status == PENDING, Job.enqueued_at.is_(None), Job.created_at < cutoff
            )
        )
        return [(int(r[0]), str(r[1])) for r in rows]


async def unfinished_job_ids(rt: Runtime) -> list[tuple[int, str]]:
    """Every job still to run, oldest first: what an in-process queue held (or was about to
    retry) when its process stopped, and jobs left running long ago by a process that died.
    A job another process runs meanwhile is not run twice: ``execute`` claims each once."""
    stale = datetime.now(UTC) - STALE_RUNNING
    async with rt.database.connect() as conn:
        rows = await conn.execute(
            select(Job.id, Job.queue)
            .where(
                Job.status.in_((PENDING, RETRYING))
                | ((Job.status == RUNNING) & (Job.started_at < stale))
            )
            .order_by(Job.id)
        )
        return [(int(r[0]), str(r[1])) for r in rows]


async def counts_by_status(rt: Runtime) -> list[tuple[str, str, int]]:
    async with rt.database.connect() as conn:
        rows = await conn.execute(
            select(Job.name, Job.status, func.count()).group_by(Job.name, Job.status)
        )
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


async def queues_of(rt: Runtime, job_ids: list[int]) -> list[tuple[int, str]]:
    async with rt.database.connect() as conn:
        rows = await conn.execute(select(Job.id, Job.queue).where(Job.id.in_(job_ids)))
        return [(int(r[0]), str(r[1])) for r in rows]


async def mark_enqueued(rt: Runtime, job_ids: list[int]) -> None:
    async with rt.database.connect() as conn:
        await conn.execute(
            update(Job).where(Job.id.in_(job_ids)).values(enqueued_at=datetime.now(UTC))
        )
        await conn.commit()
