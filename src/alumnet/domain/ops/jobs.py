"""Running a recorded job: at least once, idempotently, with its outcome kept."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update

from alumnet import tracing
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
    that its own retries and the row agree. Traced (when tracing is on) as a span of the
    trace of the request that recorded the job."""
    job = await _claim(rt, job_id)
    if isinstance(job, str):
        return job
    with tracing.job_span(job.id, job.name, job.attempts, job.trace_context):
        return await _attempt(rt, job, handlers, defer_busy)


async def _claim(rt: Runtime, job_id: int) -> Job | str:
    """The job, now RUNNING for this attempt; or its status, if it is not to run now."""
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
    return job


async def _attempt(rt: Runtime, job: Job, handlers: dict[str, JobHandler], defer_busy: bool) -> str:
    # No connection is held while the handler runs (it takes its own): a long job must not
    # keep an idle one, nor a transaction open, for its whole length.
    await _tell(rt, job)
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
    await _tell(rt, job)


async def report_progress(rt: Runtime, job: Job, fraction: float) -> None:
    """Record a running job's progress (0 to 1) and tell its subscribers."""
    job.progress = max(0.0, min(1.0, fraction))
    async with rt.database.connect() as conn:
        await conn.execute(update(Job).where(Job.id == job.id).values(progress=job.progress))
        await conn.commit()
    await _tell(rt, job)


async def _tell(rt: Runtime, job: Job) -> None:
    """Tell the job's subscribers where it is: a live notice only (the row is the record),
    so an event bus that cannot be reached (Redis down) neither fails nor stops the job."""
    try:
        await rt.bus.publish(job_channel(job.id), _event(job))
    except Exception as exc:
        log.warning("job_event_not_published", job_id=job.id, error=type(exc).__name__)


async def give_up(session: Any, job_id: int, reason: str) -> None:
    """A job whose process stopped without a word (a worker killed), its work handed to a
    new job: failed with ``reason``, in the caller's transaction, so that a late delivery
    of it does nothing (``execute`` claims only unfinished jobs)."""
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(UNFINISHED))
        .values(status=FAILED, last_error=reason[:2000], finished_at=datetime.now(UTC))
    )


# How many jobs the relay reads (and asks Redis about) in one statement: a pass goes through
# them page by page, never loading every unfinished job at once.
RELAY_PAGE = 1000


async def stale_job_ids(
    rt: Runtime, older_than: timedelta = timedelta(minutes=2), limit: int = RELAY_PAGE
) -> list[tuple[int, str]]:
    """Jobs committed but never picked up (Redis was down at commit, or the process died
    before enqueueing them), or given back (``give_back``), oldest first, at most
    ``limit``."""
    cutoff = datetime.now(UTC) - older_than
    async with rt.database.connect() as conn:
        rows = await conn.execute(
            select(Job.id, Job.queue)
            .where(
                Job.status.in_((PENDING, RETRYING)),
                Job.enqueued_at.is_(None),
                Job.created_at < cutoff,
            )
            .order_by(Job.id)
            .limit(limit)
        )
        return [(int(r[0]), str(r[1])) for r in rows]


async def enqueued_unfinished(
    rt: Runtime, *, running: bool, after_id: int = 0, limit: int = RELAY_PAGE
) -> list[tuple[int, str, str, datetime | None, datetime | None]]:
    """A page (ids above ``after_id``, in order, at most ``limit``) of the jobs running
    (``running``), or else of those waiting that were handed to the queue: id, queue,
    status, when it started and when it was enqueued (the relay checks that each is still
    in the queue, or run by a live process)."""
    handed = (
        Job.status == RUNNING
        if running
        else Job.status.in_((PENDING, RETRYING)) & Job.enqueued_at.is_not(None)
    )
    async with rt.database.connect() as conn:
        rows = await conn.execute(
            select(Job.id, Job.queue, Job.status, Job.started_at, Job.enqueued_at)
            .where(handed, Job.id > after_id)
            .order_by(Job.id)
            .limit(limit)
        )
        return [(int(r[0]), str(r[1]), str(r[2]), r[3], r[4]) for r in rows]


async def take_for_queue(rt: Runtime, seen: list[tuple[int, datetime | None]]) -> list[int]:
    """Of these jobs (with the ``enqueued_at`` seen), those this process is to enqueue now:
    their ``enqueued_at`` set to now if it was still what was seen, so that of several
    processes relaying at once one enqueues each."""
    now = datetime.now(UTC)
    taken: list[int] = []
    async with rt.database.connect() as conn:
        never = [job_id for job_id, at in seen if at is None]
        if never:
            rows = await conn.execute(
                update(Job)
                .where(Job.id.in_(never), Job.enqueued_at.is_(None))
                .values(enqueued_at=now)
                .returning(Job.id)
            )
            taken.extend(int(r[0]) for r in rows)
        for job_id, at in seen:
            if at is not None:
                rows = await conn.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.enqueued_at == at)
                    .values(enqueued_at=now)
                    .returning(Job.id)
                )
                taken.extend(int(r[0]) for r in rows)
        await conn.commit()
    return taken


async def give_back(rt: Runtime, job_ids: list[int]) -> None:
    """Jobs taken to be enqueued that the queue refused (Redis went away meanwhile): not
    enqueued after all (``enqueued_at`` NULL), for the next pass of the relay."""
    async with rt.database.connect() as conn:
        await conn.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.status.in_((PENDING, RETRYING)))
            .values(enqueued_at=None)
        )
        await conn.commit()


ABANDONED = "its worker stopped while running it"


async def release_abandoned(rt: Runtime, job_id: int, started_at: datetime | None) -> str | None:
    """A running job whose process died (a worker, or its work horse, killed): if it is
    still the run that was seen (of several processes that find it at once, one does), back
    to RETRYING, the attempt counted; or FAILED if that was its last attempt (a job that
    kills its worker every time, say by running out of memory, is not tried forever). The
    status it now has, or None if it was not that run any more."""
    now = datetime.now(UTC)
    spent = Job.attempts >= Job.max_attempts
    async with rt.database.connect() as conn:
        released = await conn.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == RUNNING,
                Job.started_at.is_(None) if started_at is None else Job.started_at == started_at,
            )
            .values(
                status=case((spent, FAILED), else_=RETRYING),
                started_at=case((spent, Job.started_at), else_=None),
                finished_at=case((spent, now), else_=None),
                last_error=case((spent, ABANDONED), else_=Job.last_error),
                enqueued_at=now,
            )
            .returning(Job.status, Job.name, Job.attempts)
        )
        row = released.first()
        await conn.commit()
    if row is None:
        return None
    status, name, attempts = str(row[0]), str(row[1]), int(row[2])
    if status == FAILED:
        JOBS.labels(job=name, outcome="failed").inc()
    log.warning("job_abandoned", job_id=job_id, job=name, attempt=attempts, final=status == FAILED)
    return status


async def release_killed(rt: Runtime, job_id: int) -> str | None:
    """``release_abandoned`` for a job whose work horse its worker saw die: the run the
    row records, if it is still running."""
    async with rt.database.connect() as conn:
        row = (
            await conn.execute(select(Job.status, Job.started_at).where(Job.id == job_id))
        ).first()
    if row is None or row[0] != RUNNING:
        return None
    return await release_abandoned(rt, job_id, row[1])


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
