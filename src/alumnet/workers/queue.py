"""The queue port: what happens to jobs and events once a transaction has committed.

Two adapters with the same behaviour: RQ on Redis (``alumnet worker`` runs the jobs),
and in-process (jobs run as asyncio tasks of the API process, after commit).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from redis import Redis
from rq import Queue, Retry

from alumnet.domain.ops import jobs as job_rules
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.bus import EventBus
from alumnet.workers.jobs import HANDLERS

log = get_logger(__name__)

RQ_ENTRYPOINT = "alumnet.workers.runner.run_job"


def rq_queue_name(prefix: str, queue: str) -> str:
    return f"{prefix}-{queue}"


class JobQueue(Protocol):
    async def enqueue(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None: ...

    async def drain(self) -> None: ...


class RQJobQueue:
    def __init__(self, redis_url: str, prefix: str, retry_intervals: tuple[int, ...]) -> None:
        self.redis = Redis.from_url(redis_url)
        self.prefix = prefix
        self.retry_intervals = retry_intervals

    def queue(self, name: str) -> Queue:
        return Queue(rq_queue_name(self.prefix, name), connection=self.redis)

    def _enqueue_sync(self, jobs: list[tuple[int, str]]) -> None:
        retry = (
            Retry(max=len(self.retry_intervals), interval=list(self.retry_intervals))
            if self.retry_intervals
            else None
        )
        by_queue: dict[str, list[int]] = {}
        for job_id, queue in jobs:
            by_queue.setdefault(queue, []).append(job_id)
        for queue, ids in by_queue.items():
            rq_queue = self.queue(queue)
            # One pipelined round trip for many jobs (3,000 reminder e-mails, say).
            for start in range(0, len(ids), 1000):
                rq_queue.enqueue_many(
                    [
                        Queue.prepare_data(
                            RQ_ENTRYPOINT,
                            args=(job_id,),
                            job_id=f"{self.prefix}-job-{job_id}",
                            retry=retry,
                            result_ttl=24 * 3600,
                            failure_ttl=30 * 24 * 3600,
                            timeout=3600,
                        )
                        for job_id in ids[start : start + 1000]
                    ]
                )

    async def enqueue(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None:
        await asyncio.to_thread(self._enqueue_sync, jobs)
        await job_rules.mark_enqueued(rt, [j for j, _ in jobs])

    async def drain(self) -> None:
        return None


class InProcessJobQueue:
    """Runs each job as a task of this process, retrying with the same back-off as RQ."""

    def __init__(self, retry_intervals: tuple[int, ...]) -> None:
        self.retry_intervals = retry_intervals
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None:
        await job_rules.mark_enqueued(rt, [j for j, _ in jobs])
        for job_id, _ in jobs:
            task = asyncio.create_task(self._run(rt, job_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, rt: Runtime, job_id: int) -> None:
        for attempt in range(len(self.retry_intervals) + 1):
            try:
                await job_rules.execute(rt, job_id, HANDLERS)
                return
            except job_rules.JobFailed:
                if attempt >= len(self.retry_intervals):
                    return
                await asyncio.sleep(self.retry_intervals[attempt])
            except Exception:
                log.exception("job_crashed", job_id=job_id)
                return

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class Dispatcher:
    """The ``AfterCommit`` port of every unit of work in this process."""

    def __init__(self, queue: JobQueue, bus: EventBus) -> None:
        self.queue = queue
        self.bus = bus
        self.runtime: Runtime | None = None

    async def jobs_committed(self, job_ids: list[int]) -> None:
        assert self.runtime is not None
        jobs = await job_rules.queues_of(self.runtime, job_ids)
        await self.queue.enqueue(self.runtime, jobs)

    async def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        await self.bus.publish_many(events)

    async def requeue_stale(self) -> int:
        assert self.runtime is not None
        stale = await job_rules.stale_job_ids(self.runtime)
        if stale:
            await self.queue.enqueue(self.runtime, stale)
        return len(stale)
