"""The queue port: what happens to jobs and events once a transaction has committed.

Two adapters with the same behaviour: RQ on Redis (``alumnet worker`` runs the jobs),
and in-process (jobs run as asyncio tasks of the API process, after commit).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from redis import Redis
from rq import Queue, Retry, Worker

from alumnet.domain.data import imports
from alumnet.domain.ops import jobs as job_rules
from alumnet.domain.runtime import Runtime
from alumnet.observability import JOB_QUEUE_CONCURRENCY, JOB_QUEUE_JOBS, get_logger
from alumnet.persistence.bus import EventBus
from alumnet.persistence.db import is_busy
from alumnet.workers.jobs import HANDLERS

log = get_logger(__name__)
QUEUED = JOB_QUEUE_JOBS.labels(state="queued")
RUNNING = JOB_QUEUE_JOBS.labels(state="running")

RQ_ENTRYPOINT = "alumnet.workers.runner.run_job"


def rq_queue_name(prefix: str, queue: str) -> str:
    return f"{prefix}-{queue}"


class RQWorker(Worker):
    """RQ's worker, stopping its pub/sub thread without a 60 s wait.

    RQ's own ``unsubscribe`` sends UNSUBSCRIBE, then calls ``PubSubWorkerThread.stop()``.
    If the thread reads the reply before ``stop()`` clears its run flag (a race often lost
    on a busy machine), it loops back into ``get_message(timeout=60)``, waiting for a
    subscription that never comes, and redis-py 8's ``stop()`` joins it without a bound:
    the worker took 60 s to exit. Clearing the flag first lets the reply end the thread.
    """

    def unsubscribe(self) -> None:
        thread = self.pubsub_thread
        if not thread:
            return
        try:
            thread.stop(timeout=0)  # clear the run flag, without waiting
        except TypeError:  # redis-py before 8: stop() only clears the flag
            thread.stop()
        self.pubsub.unsubscribe()  # the reply wakes the thread, which now ends
        thread.join(timeout=1)
        self.pubsub.close()


class JobQueue(Protocol):
    async def committed(self, rt: Runtime, job_ids: list[int]) -> None:
        """Jobs a transaction of ``rt`` has just committed: queue them."""
        ...

    async def enqueue(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None: ...

    async def recover(self, rt: Runtime) -> int:
        """At start-up: queue the jobs a stopped process left behind; how many."""
        ...

    async def drain(self) -> None:
        """Wait for what this process runs itself (nothing with RQ)."""
        ...

    async def close(self) -> None: ...


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

    async def committed(self, rt: Runtime, job_ids: list[int]) -> None:
        await self.enqueue(rt, await job_rules.queues_of(rt, job_ids))

    async def enqueue(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None:
        await asyncio.to_thread(self._enqueue_sync, jobs)
        await job_rules.mark_enqueued(rt, [j for j, _ in jobs])

    async def recover(self, rt: Runtime) -> int:
        """Jobs committed but never enqueued (RQ keeps the others itself)."""
        stale = await job_rules.stale_job_ids(rt)
        if stale:
            await self.enqueue(rt, stale)
        return len(stale)

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        self.redis.close()


class InProcessJobQueue:
    """Runs jobs inside this process, at most ``concurrency`` at once, in the order they
    were queued, retrying with the same back-off as RQ.

    Jobs run on a runtime of their own, whose connection pool is theirs alone: however many
    jobs a fan-out queues (a notice to 3,000 students queues 30 e-mail jobs), requests
    always find a connection in theirs, and queueing a job takes none of theirs either. A
    queued job is a row first; if the process stops, ``recover`` queues whatever was left
    when it starts again.
    """

    # A job the database was too busy to serve runs again after this many seconds, without
    # the attempt counting against its retries; after BUSY_DEFERRALS in a row it counts.
    BUSY_DELAY = 1.0
    BUSY_DEFERRALS = 30
    # How long stopping waits for running jobs before it puts them back in line.
    STOP_GRACE = 20.0

    def __init__(
        self, runtime: Runtime, concurrency: int, retry_intervals: tuple[int, ...]
    ) -> None:
        if concurrency < 1:
            raise ValueError("the in-process queue needs a concurrency of at least 1")
        self.runtime = runtime
        self.concurrency = concurrency
        self.retry_intervals = retry_intervals
        self._queue: asyncio.Queue[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._deferrals: dict[int, int] = {}
        self._stopping = False
        self._closed = False
        JOB_QUEUE_CONCURRENCY.inc(concurrency)

    def _line(self) -> asyncio.Queue[int]:
        """The queue of job ids, with its runners, on the running event loop (one loop:
        the jobs' connections belong to it)."""
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._loop, self._queue = loop, asyncio.Queue()
            self._runners = [
                loop.create_task(self._run(self._queue), name=f"alumnet-jobs-{i}")
                for i in range(self.concurrency)
            ]
        elif self._loop is not loop:
            raise RuntimeError("the in-process job queue runs on one event loop")
        return self._queue

    def _put(self, job_ids: list[int]) -> bool:
        if self._stopping:
            return False  # the rows stay pending: `recover` queues them at the next start
        line = self._line()
        for job_id in job_ids:
            line.put_nowait(job_id)
        QUEUED.inc(len(job_ids))
        return True

    async def committed(self, rt: Runtime, job_ids: list[int]) -> None:
        if self._put(job_ids):
            # Only a record of when: the jobs are in line whether or not it is written.
            try:
                await job_rules.mark_enqueued(self.runtime, job_ids)
            except Exception as exc:
                log.warning("job_enqueued_at_not_recorded", error=type(exc).__name__)

    async def enqueue(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None:
        await self.committed(rt, [j for j, _ in jobs])

    async def recover(self, rt: Runtime) -> int:
        """Queue every job left unfinished (by this process before it stopped, or never
        enqueued at all), oldest first; returns how many."""
        left = await job_rules.unfinished_job_ids(self.runtime)
        if left:
            await self.enqueue(rt, left)
        return len(left)

    async def _run(self, line: asyncio.Queue[int]) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            job_id = await line.get()
            QUEUED.dec()
            RUNNING.inc()
            self._busy.add(me)
            try:
                delay = await self._attempt(job_id)
            finally:
                self._busy.discard(me)
                RUNNING.dec()
            if delay is None or self._stopping:
                line.task_done()
            else:
                # Still unfinished (``drain`` waits for it) until it is back in line.
                self._later(line, delay, job_id)

    async def _attempt(self, job_id: int) -> float | None:
        """Run one attempt; the delay before the next one, or None if there is none."""
        defer = self._deferrals.get(job_id, 0) < self.BUSY_DEFERRALS
        try:
            await job_rules.execute(self.runtime, job_id, HANDLERS, defer_busy=defer)
        except job_rules.JobFailed as failed:
            if failed.busy:
                self._deferrals[job_id] = self._deferrals.get(job_id, 0) + 1
                return self.BUSY_DELAY
            self._deferrals.pop(job_id, None)
            if failed.final or not self.retry_intervals:
                return None
            # The wait before the next attempt; the last one again past the list's end.
            step = min(max(failed.attempts, 1), len(self.retry_intervals)) - 1
            return float(self.retry_intervals[step])
        except Exception as exc:
            if is_busy(exc):  # the job could not even be claimed: try again shortly
                return self.BUSY_DELAY
            log.exception("job_crashed", job_id=job_id)
        self._deferrals.pop(job_id, None)
        return None

    def _later(self, line: asyncio.Queue[int], delay: float, job_id: int) -> None:
        assert self._loop is not None

        def back_in_line() -> None:
            self._timers.discard(timer)
            line.put_nowait(job_id)
            QUEUED.inc()
            line.task_done()  # the attempt that failed

        timer = self._loop.call_later(delay, back_in_line)
        self._timers.add(timer)

    async def drain(self) -> None:
        """Wait until every queued job, retries included, has finished."""
        if self._queue is not None and self._loop is asyncio.get_running_loop():
            await self._queue.join()

    async def close(self) -> None:
        """Stop taking jobs. Those running finish their attempt (for up to STOP_GRACE
        seconds; then they are stopped and put back in line, the attempt not counted); the
        others stay rows for ``recover`` at the next start. Then close the jobs' pool."""
        if self._closed:
            return
        self._closed = self._stopping = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._queue is not None:
            QUEUED.dec(self._queue.qsize())
        for runner in self._runners:
            if runner not in self._busy:
                runner.cancel()
        if self._runners:
            _, late = await asyncio.wait(self._runners, timeout=self.STOP_GRACE)
            for runner in late:
                runner.cancel()
            await asyncio.gather(*self._runners, return_exceptions=True)
        self._runners, self._queue = [], None
        JOB_QUEUE_CONCURRENCY.dec(self.concurrency)
        await self.runtime.database.dispose()


class Dispatcher:
    """The ``AfterCommit`` port of every unit of work in this process."""

    # The queue is set once the runtimes exist (the in-process one has a runtime of its
    # own, whose transactions dispatch through here too).
    queue: JobQueue

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.runtime: Runtime | None = None

    async def jobs_committed(self, job_ids: list[int]) -> None:
        assert self.runtime is not None
        await self.queue.committed(self.runtime, job_ids)

    async def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        await self.bus.publish_many(events)

    async def requeue_stale(self) -> int:
        """Queue the jobs a stopped process left behind (see ``JobQueue.recover``); how
        many. Then hand the imports whose worker stopped to new jobs
        (``imports.resume_stopped``, logged)."""
        assert self.runtime is not None
        left = await self.queue.recover(self.runtime)
        await imports.resume_stopped(self.runtime)
        return left
