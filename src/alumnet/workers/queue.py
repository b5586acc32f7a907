"""The queue port: what happens to jobs and events once a transaction has committed.

Two adapters with the same behaviour: RQ on Redis (``alumnet worker`` runs the jobs),
and in-process (jobs run as asyncio tasks of the API process, after commit).
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.exceptions import RedisError
from rq import Queue, Retry, Worker
from rq.defaults import DEFAULT_JOB_MONITORING_INTERVAL
from rq.exceptions import AbandonedJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.utils import utcparse

from alumnet import processes
from alumnet.domain.data import imports
from alumnet.domain.ops import jobs as job_rules
from alumnet.domain.runtime import Runtime
from alumnet.observability import JOB_QUEUE_CONCURRENCY, JOB_QUEUE_JOBS, get_logger
from alumnet.persistence.bus import EventBus, sync_redis_client
from alumnet.persistence.db import is_busy
from alumnet.workers.jobs import HANDLERS

log = get_logger(__name__)
QUEUED = JOB_QUEUE_JOBS.labels(state="queued")
RUNNING = JOB_QUEUE_JOBS.labels(state="running")

RQ_ENTRYPOINT = "alumnet.workers.runner.run_job"

# RQ's states of a job it will not run (again) by itself.
_OVER = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})

# A worker watching its work horse records a heartbeat on the job every
# ``job_monitoring_interval`` (RQ's default, 30 s, which ``RQWorker`` keeps); none for this
# long and the worker is gone. RQ itself counts the job abandoned after 90 s.
HEARTBEAT_LOST = timedelta(seconds=3 * DEFAULT_JOB_MONITORING_INTERVAL)


# Where this process's pids mean something (a worker's record keeps its own): processes with
# the same see each other's pids (a container with its own namespace does not, even when it
# shares the machine's hostname). None without /proc to tell.
PROCESS_SPACE = processes.MACHINE if processes.PROC else None
# The field of a worker's record in Redis that holds its PROCESS_SPACE.
PROCESS_SPACE_FIELD = "alumnet_process_space"


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

    # RQ waits 1, 2, 4 … up to 60 s between tries to reach a Redis that went away: after a
    # 30 s outage it would sleep up to a minute more before taking a job. A few seconds.
    max_connection_wait_time = 4.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Called by RQ's clean-up of its registries for a job whose worker stopped
        # recording heartbeats (AbandonedJobError), before RQ retries it.
        self.push_exc_handler(_abandoned)  # type: ignore[no-untyped-call]

    def serialize(self) -> dict[str, Any]:
        """The worker's record in Redis, with its ``PROCESS_SPACE`` (see ``_run_ended``)."""
        record: dict[str, Any] = super().serialize()
        if PROCESS_SPACE is not None:
            record[PROCESS_SPACE_FIELD] = PROCESS_SPACE
        return record

    def handle_work_horse_killed(self, job: RQJob, retpid: Any, ret_val: Any, rusage: Any) -> None:
        """The work horse died under a job (the OOM killer, a SIGKILL to it alone): the
        job's row back to RETRYING, or FAILED if that was its last attempt
        (``release_abandoned``). RQ then retries the job, which runs it again; left
        ``running``, the retry would find it so and end at once."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)  # type: ignore[no-untyped-call]
        release_stopped(job)

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

    def listen_for_stop(self) -> None:
        """Until ``work`` puts RQ's signal handlers in place: a SIGTERM or SIGINT while the
        worker starts ends its loop before it takes a job (exit 0), instead of killing it."""

        def asked(signum: int, frame: object) -> None:
            self._stop_requested = True

        for stopping in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stopping, asked)


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
    # What the relay (``relay``, in each API process) leaves to the after-commit enqueue
    # (and to another process's relay): jobs committed or enqueued less than this long ago.
    RELAY_GRACE = timedelta(seconds=5)

    def __init__(self, redis_url: str, prefix: str, retry_intervals: tuple[int, ...]) -> None:
        self.redis = sync_redis_client(redis_url)
        self.prefix = prefix
        self.retry_intervals = retry_intervals
        # Set by a thorough ``recover`` pass, in the Redis database RQ's jobs are in: found
        # missing, Redis has lost its data (and perhaps jobs) since.
        self.kept_key = f"{prefix}:jobs-relay:redis-kept"

    def queue(self, name: str) -> Queue:
        return Queue(rq_queue_name(self.prefix, name), connection=self.redis)

    def rq_job_id(self, job_id: int) -> str:
        return f"{self.prefix}-job-{job_id}"

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
                            job_id=self.rq_job_id(job_id),
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

    async def recover(
        self, rt: Runtime, older_than: timedelta = timedelta(minutes=2), *, thorough: bool = True
    ) -> int:
        """Queue the jobs nobody will run otherwise; how many:

        - committed but never enqueued more than ``older_than`` ago (Redis was down at
          commit, or the process died between commit and enqueue);
        - running in a worker known to have stopped (``_run_ended``): back to RETRYING
          first, the attempt counted (or FAILED, if that was its last: see
          ``release_abandoned``);
        - when ``thorough``: waiting jobs handed to the queue that Redis does not hold (a
          Redis restarted without its data, or flushed), or holds as finished or failed.

        The database is read a page (``RELAY_PAGE`` jobs) at a time, and Redis asked about
        each page in one pipelined round trip. Each job is taken in the database first
        (``take_for_queue``, ``release_abandoned``), so that of several processes
        recovering at once one enqueues it. Should a job still be enqueued twice, it runs
        once: RQ's job id is the row's, and ``execute`` claims a row once."""
        if thorough:
            # Gone when Redis loses its data: a pass that finds it gone is thorough.
            await asyncio.to_thread(self.redis.set, self.kept_key, b"checking", nx=True)
        count = 0
        while True:
            never = await job_rules.stale_job_ids(rt, older_than)
            queues = dict(never)
            taken = await job_rules.take_for_queue(rt, [(j, None) for j, _ in never])
            await self._push(rt, [(j, queues[j]) for j in taken])
            count += len(taken)
            if len(never) < job_rules.RELAY_PAGE:
                break
        count += await self._recover_handed(rt, running=True)
        if thorough:
            count += await self._recover_handed(rt, running=False)
            # Only if still there: lost again meanwhile, the next pass is thorough too.
            await asyncio.to_thread(self.redis.set, self.kept_key, b"kept", xx=True)
        if count:
            log.info("jobs_requeued", jobs=count)
        return count

    def _kept(self) -> bool:
        """Whether Redis has kept its data since the last thorough ``recover``."""
        return bool(self.redis.get(self.kept_key) == b"kept")

    async def _recover_handed(self, rt: Runtime, *, running: bool) -> int:
        """``recover`` for the jobs running (``running``), or for those waiting that were
        handed to the queue; how many were queued again."""
        count, after = 0, 0
        while True:
            page = await job_rules.enqueued_unfinished(rt, running=running, after_id=after)
            if not page:
                return count
            after = page[-1][0]
            queues: dict[int, str] = {}
            seen: list[tuple[int, Any]] = []
            released: list[int] = []
            for job_id, queue, status, started_at, enqueued_at in await asyncio.to_thread(
                self._not_in_hand, page
            ):
                queues[job_id] = queue
                if status != job_rules.RUNNING:
                    seen.append((job_id, enqueued_at))
                elif (
                    await job_rules.release_abandoned(rt, job_id, started_at) == job_rules.RETRYING
                ):
                    released.append(job_id)
            taken = (await job_rules.take_for_queue(rt, seen) if seen else []) + released
            await self._push(rt, [(j, queues[j]) for j in taken])
            count += len(taken)
            if len(page) < job_rules.RELAY_PAGE:
                return count

    async def _push(self, rt: Runtime, jobs: list[tuple[int, str]]) -> None:
        """Enqueue jobs just taken in the database; if Redis refuses them, give them back
        (``enqueued_at`` NULL), for the next pass."""
        if not jobs:
            return
        try:
            await asyncio.to_thread(self._enqueue_sync, jobs)
        except Exception:
            await job_rules.give_back(rt, [j for j, _ in jobs])
            raise

    def _not_in_hand(self, unfinished: list[tuple[int, str, str, Any, Any]]) -> list[Any]:
        """Of these unfinished jobs, those waiting that Redis does not hold (lost with its
        data) or holds as over (finished, failed …: it will not run them), and those
        running whose run is known to have ended (``_run_ended``). One round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id, *_ in unfinished:
                pipe.hmget(
                    RQJob.key_for(self.rq_job_id(job_id)),
                    ["status", "worker_name", "last_heartbeat"],
                )
            found = pipe.execute()
        lost = []
        for row, (status, worker, beat) in zip(unfinished, found, strict=True):
            if row[2] == job_rules.RUNNING:
                if self._run_ended(status, worker, beat, row[3]):
                    lost.append(row)
            elif status is None or status.decode() in _OVER:
                lost.append(row)
        return lost

    def _run_ended(
        self, status: bytes | None, worker_name: bytes | None, beat: bytes | None, started: Any
    ) -> bool:
        """Whether a job whose row says it runs is known to run no more:

        - RQ says it runs (``started``) but its worker has not said so for longer than
          ``HEARTBEAT_LOST`` (a worker watching a work horse says so every 30 s): the
          worker is gone, on whatever machine it ran;
        - its worker recorded its own end;
        - its worker's process is gone, seen from a process that shares its machine and
          process-id namespace (``PROCESS_SPACE``: a container of its own, even one
          sharing the machine's hostname, has another);
        - or it started longer ago than any job may run (``STALE_RUNNING``).

        Anything less certain counts as running: a job's record missing (Redis restarted
        without its data) proves nothing, and a job run twice at once could send its
        e-mails twice."""
        if started is not None and started < datetime.now(UTC) - job_rules.STALE_RUNNING:
            return True
        if status is None or status.decode() != JobStatus.STARTED or not worker_name:
            return False
        if beat and utcparse(beat.decode()) < datetime.now(UTC) - HEARTBEAT_LOST:
            return True
        key = Worker.redis_worker_namespace_prefix + worker_name.decode()
        pid, death, space = self.redis.hmget(key, ["pid", "death", PROCESS_SPACE_FIELD])
        if death is not None:
            return True
        if PROCESS_SPACE is None or pid is None or space is None:
            return False
        return _text(space) == PROCESS_SPACE and not processes.alive(int(pid))

    async def relay(self, rt: Runtime, every: float) -> None:
        """Until cancelled, every ``every`` seconds: ``recover``. Jobs committed while Redis
        was down stay rows (pending, never enqueued); this queues them once it is back,
        without restarting anything. Run in each API process. A pass is ``thorough`` (it
        checks every waiting job against Redis) only when needed: the first, one after a
        pass that failed, and one after Redis lost its data (``_kept``)."""
        failing, thorough = False, True
        while True:
            await asyncio.sleep(every)
            try:
                thorough = thorough or not await asyncio.to_thread(self._kept)
                grace = max(self.RELAY_GRACE, timedelta(seconds=every))
                await self.recover(rt, grace, thorough=thorough)
            except Exception as exc:
                if not failing:
                    log.warning("job_relay_failed", error=type(exc).__name__)
                failing = thorough = True
            else:
                if failing:
                    log.info("job_relay_recovered")
                failing = thorough = False

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        self.redis.close()


def _abandoned(job: RQJob, exc_type: Any, exc_value: Any, tb: Any) -> bool:
    if exc_type is AbandonedJobError:
        release_stopped(job)
    return True  # RQ's other handling goes on


def release_stopped(job: RQJob) -> str | None:
    """In a worker, which saw an RQ job's run end without an outcome (its work horse
    killed, or RQ found it abandoned): put the job's row back (``release_killed``), for RQ's
    retry to run it. Its new status, or None. Never raises: without the database, the
    row stays ``running`` until a relay finds it (``STALE_RUNNING``)."""
    try:
        if job.func_name != RQ_ENTRYPOINT or not job.args:
            return None
        job_id = int(job.args[0])
    except Exception:
        return None
    try:
        return asyncio.run(_release_killed(job_id))
    except Exception as exc:
        log.warning("job_not_released", job_id=job_id, error=type(exc).__name__)
        return None


async def _release_killed(job_id: int) -> str | None:
    # The composition root imports the workers package: import it late.
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings

    runtime, dispatcher = build_runtime(load_settings(), worker=True)
    try:
        return await job_rules.release_killed(runtime, job_id)
    finally:
        await close_runtime(runtime, dispatcher)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
            # Each in a context of its own, not that of the request that happens to start
            # them (whose request id and trace every job would carry).
            self._runners = [
                loop.create_task(
                    self._run(self._queue), name=f"alumnet-jobs-{i}", context=contextvars.Context()
                )
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
        self._warned: dict[str, tuple[float, int]] = {}

    # While Redis is unreachable every commit fails to enqueue and to publish: said once
    # in this long (with how many since), not once per request with a stack trace.
    WARN_EVERY_SECONDS = 30.0

    def _unreachable(self, what: str, exc: BaseException, count: int) -> None:
        now = time.monotonic()
        last, missed = self._warned.get(what, (0.0, 0))
        if now - last > self.WARN_EVERY_SECONDS:
            self._warned[what] = (now, 0)
            log.warning(what, error=type(exc).__name__, since_last_warning=missed + count)
        else:
            self._warned[what] = (last, missed + count)

    async def jobs_committed(self, job_ids: list[int]) -> None:
        assert self.runtime is not None
        try:
            await self.queue.committed(self.runtime, job_ids)
        except (RedisError, OSError) as exc:
            # The jobs stay rows (pending, never enqueued): the relay queues them.
            self._unreachable("jobs_left_for_the_relay", exc, len(job_ids))

    async def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            await self.bus.publish_many(events)
        except (RedisError, OSError) as exc:
            # Live notices only: lost, as to a subscriber who was not listening.
            self._unreachable("events_not_published", exc, len(events))

    async def requeue_stale(self) -> int:
        """Queue the jobs a stopped process left behind (see ``JobQueue.recover``); how
        many. Then hand the imports whose worker stopped to new jobs
        (``imports.resume_stopped``, logged)."""
        assert self.runtime is not None
        try:
            left = await self.queue.recover(self.runtime)
        except (RedisError, OSError) as exc:
            # Redis down at start: the relay queues them once it is back.
            log.warning("jobs_not_requeued", error=type(exc).__name__)
            left = 0
        await imports.resume_stopped(self.runtime)
        return left

    def relay(self, every: float) -> asyncio.Task[None] | None:
        """The relay of this API process (``RQJobQueue.relay``), started; None without
        Redis, where the jobs are this process's own."""
        if not isinstance(self.queue, RQJobQueue):
            return None
        assert self.runtime is not None
        return asyncio.create_task(self.queue.relay(self.runtime, every), name="alumnet-job-relay")
