"""The rules behind the faults survived (docs/RELIABILITY.md), one at a time and in this
process: a job whose worker died is not retried forever; a work horse killed alone puts
its job back; a worker is judged gone by its heartbeat, not by a process id another
container may share; the relay reads a page at a time and checks waiting jobs against
Redis only once Redis lost its data; a broken connection is "unavailable" only when it is
one; a COMMIT that met a broken connection says its outcome is unknown.

The real processes (workers and servers killed, Redis and PostgreSQL stopped) are in
tests/ops/test_faults.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from rq import Worker
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from alumnet.domain.ops import jobs as job_rules
from alumnet.persistence.db import CommitOutcomeUnknown, is_busy, is_unavailable
from alumnet.persistence.models import Job
from alumnet.persistence.uow import Origin
from tests.conftest import TEST_REDIS_URL, Api, env_for

needs_redis = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="RQ's records of jobs and workers need ALUMNET_TEST_REDIS_URL"
)


async def _job(api: Api, **values: Any) -> int:
    """A job row (sending no e-mail), written directly: no queue hears of it."""
    row = {"name": "email.send", "args": {"email_ids": []}, "queue": "email",
           "status": "pending", "attempts": 0, "max_attempts": 4, "progress": 0.0,
           "created_at": datetime.now(UTC), **values}  # fmt: skip
    async with api.app.state.runtime.database.connect() as conn:
        job_id = (await conn.execute(insert(Job).values(**row).returning(Job.id))).scalar_one()
        await conn.commit()
    return int(job_id)


async def _row(api: Api, job_id: int) -> Job:
    async with api.app.state.runtime.database.session() as session:
        found: Job | None = await session.get(Job, job_id)
        assert found is not None
        return found


# --- a job whose worker died ----------------------------------------------------------------


async def test_a_job_abandoned_on_its_last_attempt_fails_instead_of_running_again(
    api: Api,
) -> None:
    """A job that kills its worker every time (say by running out of memory) is tried as
    many times as any other job, then failed: not put back in line for ever."""
    runtime = api.app.state.runtime
    started = datetime.now(UTC) - timedelta(minutes=1)
    again = await _job(api, status="running", attempts=1, max_attempts=3, started_at=started)
    spent = await _job(api, status="running", attempts=3, max_attempts=3, started_at=started)
    assert await job_rules.release_abandoned(runtime, again, started) == "retrying"
    assert await job_rules.release_abandoned(runtime, spent, started) == "failed"
    assert await job_rules.release_abandoned(runtime, spent, started) is None  # once
    retrying, failed = await _row(api, again), await _row(api, spent)
    assert (retrying.status, retrying.attempts, retrying.finished_at) == ("retrying", 1, None)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error == job_rules.ABANDONED and failed.finished_at is not None


@needs_redis
async def test_a_work_horse_killed_alone_puts_its_job_back_for_rqs_retry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ tells its worker that the work horse died under a job (``handle_work_horse_killed``)
    and then retries the job: its row must be back to ``retrying`` by then, else the retry
    finds it ``running`` and ends at once, leaving it so for two hours."""
    from rq.job import Job as RQJob

    from alumnet.workers.queue import RQ_ENTRYPOINT, RQWorker

    job_id = await _job(
        api, status="running", attempts=1, started_at=datetime.now(UTC) - timedelta(seconds=5)
    )
    for name, value in env_for(api.settings).items():
        monkeypatch.setenv(name, value)  # the worker's settings: its environment's
    queue = api.app.state.dispatcher.queue
    rq_job = RQJob.create(RQ_ENTRYPOINT, args=(job_id,), connection=queue.redis)
    worker = RQWorker([queue.queue("email")], connection=queue.redis)
    await asyncio.to_thread(worker.handle_work_horse_killed, rq_job, 1, 9, None)
    assert (await _row(api, job_id)).status == "retrying"


RQ_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # how RQ writes a heartbeat


def _ended_process_id() -> int:
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


@needs_redis
async def test_a_worker_is_judged_gone_by_its_heartbeat_not_by_a_process_id(api: Api) -> None:
    """A worker whose record names this host and a process id that is not running here
    may be alive in another container (same hostname, another process-id namespace): its
    job runs on. It is gone when its heartbeat is older than HEARTBEAT_LOST, or when it
    ran in this machine's process-id namespace and its process is gone."""
    from alumnet.workers import queue as rq_queue

    queue = api.app.state.dispatcher.queue
    dead = await asyncio.to_thread(_ended_process_id)
    now = datetime.now(UTC)
    fresh = now.strftime(RQ_TIME).encode()
    old = (now - rq_queue.HEARTBEAT_LOST - timedelta(seconds=5)).strftime(RQ_TIME).encode()
    worker = f"{api.settings.queue_prefix}-worker"
    key = Worker.redis_worker_namespace_prefix + worker
    record = {"hostname": os.uname().nodename, "pid": dead}

    def ended(space: str, beat: bytes) -> bool:
        queue.redis.hset(key, mapping={**record, rq_queue.PROCESS_SPACE_FIELD: space})
        return bool(queue._run_ended(b"started", worker.encode(), beat, now))

    try:
        assert not ended("another container's", fresh)
        assert ended("another container's", old)
        if rq_queue.PROCESS_SPACE is not None:
            assert ended(rq_queue.PROCESS_SPACE, fresh)
        assert not ended("another container's", b"")  # no heartbeat recorded: unknown
    finally:
        queue.redis.delete(key)


# --- the relay ------------------------------------------------------------------------------


@needs_redis
async def test_the_relay_pages_and_checks_waiting_jobs_only_once_redis_lost_its_data(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never-enqueued jobs are read a page at a time, all of them in one pass. A job
    handed to the queue and missing from Redis is looked for only by a thorough pass: the
    first, or one after Redis lost its data (its mark gone); an ordinary pass reads only
    the never-enqueued and the running jobs."""
    monkeypatch.setattr(job_rules, "RELAY_PAGE", 2)
    runtime = api.app.state.runtime
    queue = api.app.state.dispatcher.queue
    # What earlier tests of this process left in the e-mail queue (jobs they held) is not
    # this test's.
    await asyncio.to_thread(queue.queue("email").empty)
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    never = [await _job(api, enqueued_at=None, created_at=long_ago) for _ in range(5)]
    waiting = await _job(api, enqueued_at=long_ago, created_at=long_ago)  # not in Redis
    await asyncio.to_thread(queue.redis.set, queue.kept_key, b"kept")
    assert await queue.recover(runtime, timedelta(seconds=5), thorough=False) == 5
    await asyncio.to_thread(queue.redis.delete, queue.kept_key)  # Redis lost its data
    assert not await asyncio.to_thread(queue._kept)
    assert await queue.recover(runtime, timedelta(seconds=5)) == 1
    assert await asyncio.to_thread(queue._kept)
    rq_ids = await asyncio.to_thread(lambda: queue.queue("email").job_ids)
    assert sorted(rq_ids) == sorted(queue.rq_job_id(j) for j in [*never, waiting])


# --- PostgreSQL gone ------------------------------------------------------------------------


def _driver_error(original: Exception, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.OperationalError("SELECT 1", {}, original, connection_invalidated=invalidated)


def test_only_a_connection_that_could_not_be_made_or_broke_is_unavailable() -> None:
    refused = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused"
    )
    assert is_unavailable(_driver_error(refused))
    assert is_unavailable(_driver_error(pg_errors.AdminShutdown("terminating connection")))
    assert is_unavailable(_driver_error(pg_errors.ConnectionTimeout("timeout expired")))
    lost = psycopg.OperationalError("consuming input failed: EOF detected")
    assert is_unavailable(_driver_error(lost, invalidated=True))
    # A fault of the program, or of the settings: not a moment's absence (logged, 500).
    busy = psycopg.OperationalError("sending query failed: another command is already in progress")
    assert not is_unavailable(_driver_error(busy)) and not is_busy(_driver_error(busy))
    refused_password = psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "alumnet"'
    )
    assert not is_unavailable(_driver_error(refused_password))
    assert not is_unavailable(_driver_error(pg_errors.UniqueViolation("duplicate key")))


async def test_a_commit_that_met_a_broken_connection_says_its_outcome_is_unknown(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection broke with COMMIT on its way: the change may have been made, so the
    answer is OUTCOME_UNKNOWN, not a 503 inviting the client to send it again."""
    await api.create_user("known@example.org", [])

    async def broken(self: AsyncSession) -> None:
        lost = psycopg.OperationalError("consuming input failed: EOF detected")
        raise _driver_error(lost, invalidated=True)

    monkeypatch.setattr(AsyncSession, "commit", broken)
    with pytest.raises(CommitOutcomeUnknown):
        async with api.app.state.runtime.transaction(origin=Origin(via="cli")):
            pass
    answer = await api.post(
        """mutation { passwordResetRequest(input: {email: "known@example.org"}) { accepted } }"""
    )
    monkeypatch.undo()
    assert answer.status_code == 200 and "retry-after" not in answer.headers, answer.text
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "OUTCOME_UNKNOWN", error
    assert "Check" in error["message"]
    async with api.app.state.runtime.database.connect() as conn:
        assert (await conn.execute(select(Job.id).where(Job.name == "email.send"))).all() == []
