"""Background work never starves requests, and a request that cannot get a connection in
time is told so at once (503, SERVICE_UNAVAILABLE, Retry-After), on every backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from alumnet.config import ConfigurationError, Settings, load_settings
from alumnet.persistence.models import Job, Mission, OutboundEmail
from tests.conftest import Api, app_api
from tests.test_cli import alumnet

VIEWER = "{ viewer { id } }"
NOTICE = """mutation($m: ID!) {
  noticePost(input: {missionId: $m, title: "Week 3", body: "Read **chapter 3**."}) {
    notice { id } userErrors { code message }
  }
}"""
SIGN_IN = """mutation { tokenCreate(input: {email: "manager@example.org",
  password: "correct horse battery"}) { accessToken userErrors { code } } }"""


@pytest.fixture
async def inprocess(api: Api) -> AsyncIterator[Api]:
    """The in-process queue: the embedded default's, or on PostgreSQL without Redis."""
    if not api.settings.redis_url:
        yield api
        return
    async for made in app_api(api, redis_url=None):
        yield made


async def _big_mission(api: Api) -> str:
    """The demo programme (3,000 students in B2026A-FND); the mission's global id."""
    from strawberry.relay import to_base64

    from alumnet.domain.demo import seed_programme
    from alumnet.persistence.uow import Origin

    runtime = api.app.state.runtime
    async with runtime.transaction(origin=Origin(via="cli")) as uow:
        await seed_programme(runtime, uow)
        found = await uow.session.execute(select(Mission.id).where(Mission.code == "B2026A-FND"))
        return to_base64("Mission", found.scalar_one())


async def _timed(api: Api, token: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = await api.post(VIEWER, token=token)
    return time.perf_counter() - started, response.json()


async def test_a_notice_to_3000_students_never_starves_requests(inprocess: Api) -> None:
    api = inprocess
    mission = await _big_mission(api)
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    # A slow mail server: every e-mail job that starts is held mid-delivery.
    api.mailbox.open.clear()
    try:
        posted = await api.gql(NOTICE, {"m": mission}, token=manager)
        assert posted["data"]["noticePost"]["userErrors"] == [], posted
        await asyncio.sleep(0)  # the queue starts its jobs
        while_held = await asyncio.gather(*[_timed(api, manager) for _ in range(10)])
    finally:
        api.mailbox.open.set()
    # And while they go out.
    while_sending = [await _timed(api, manager) for _ in range(10)]
    for seconds, body in [*while_held, *while_sending]:
        assert "errors" not in body, body
        assert body["data"]["viewer"]["id"]
        assert seconds < 2.0, f"a request waited {seconds:.2f} s behind background work"
    await api.run_jobs()

    delivered = [m for m in api.mailbox.messages if "Week 3" in m["body"]]
    recipients = [address for m in delivered for address in m["to"]]
    assert len(recipients) == 3000 and len(set(recipients)) == 3000
    async with api.app.state.runtime.database.connect() as conn:
        unsent = await conn.execute(select(func.count()).where(OutboundEmail.sent_at.is_(None)))
        assert unsent.scalar_one() == 0
        jobs = (await conn.execute(select(Job.status, Job.attempts))).all()
    # Thirty e-mail jobs, each run once: waiting was never a failure.
    assert len(jobs) == 30
    assert {(status, attempts) for status, attempts in jobs} == {("succeeded", 1)}


async def test_other_fan_outs_wait_their_turn_too(inprocess: Api) -> None:
    """Recalculation, an export and an announcement to everyone, queued at once."""
    api = inprocess
    mission = await _big_mission(api)
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    queued = await api.gql(
        """mutation($m: ID!) {
          pointsRecalculate(input: {missionId: $m}) { job { id } userErrors { code } }
          exportCreate(input: {kind: ROSTER, format: CSV, missionId: $m}) {
            job { id } userErrors { code message } }
          announcementPost(input: {title: "Reunion", body: "Come!"}) {
            announcement { id } userErrors { code } }
        }""",
        {"m": mission},
        token=admin,
    )
    assert "errors" not in queued, queued
    timings = await asyncio.gather(*[_timed(api, manager) for _ in range(20)])
    for seconds, body in timings:
        assert "errors" not in body, body
        assert seconds < 2.0, f"a request waited {seconds:.2f} s behind background work"
    await api.run_jobs()
    async with api.app.state.runtime.database.connect() as conn:
        jobs = (await conn.execute(select(Job.name, Job.status, Job.attempts))).all()
    assert {(status, attempts) for _, status, attempts in jobs} == {("succeeded", 1)}, jobs


@pytest.fixture
async def tiny_pool(api: Api) -> AsyncIterator[Api]:
    """An app with one connection for requests, given up on after 0.3 s (and the
    in-process queue, on either backend)."""
    async for made in app_api(api, db_pool_size=1, db_pool_timeout=0.3, redis_url=None):
        yield made


async def test_an_exhausted_pool_answers_503_at_once(api: Api, tiny_pool: Api) -> None:
    _, token = await api.create_user("manager@example.org", ["MANAGER"])
    database = tiny_pool.app.state.runtime.database
    assert database.capacity == 1
    async with database.engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")
        # Signed in (the viewer is read before the operation) and anonymous (the sign-in
        # mutation's own transaction): both are a quick 503 in JSON.
        for token_sent, query in [(token, VIEWER), (None, SIGN_IN)]:
            started = time.perf_counter()
            response = await tiny_pool.post(query, token=token_sent)
            assert time.perf_counter() - started < 5
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "2"
            assert response.headers["content-type"].startswith("application/json")
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert "too busy" in error["message"]
    # The connection came back: the same requests are answered, nothing left broken.
    again = await tiny_pool.gql(VIEWER, token=token)
    assert again["data"]["viewer"]["id"]
    signed = await tiny_pool.gql(SIGN_IN)
    assert signed["data"]["tokenCreate"]["accessToken"]


async def test_a_read_connection_that_never_came_is_released_quietly(api: Api) -> None:
    from alumnet.persistence.db import Database, SharedConnection

    database = Database(api.settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with database.engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            shared = SharedConnection(database)
            with pytest.raises(sa_exc.TimeoutError):
                async with shared.connect():
                    pass
            await shared.close()  # nothing to give back, and no second error
        async with shared.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar_one() == 1
        await shared.close()
    finally:
        await database.dispose()


async def test_a_busy_database_does_not_count_as_a_failed_attempt(api: Api) -> None:
    """In process, the job runs again shortly and the attempt is not counted; with RQ
    (which retries it itself) it counts, so that RQ's retries and the row agree."""
    from alumnet.domain.ops.jobs import JobFailed, execute

    runtime = api.app.state.runtime
    calls: list[int] = []

    async def flaky(rt: Any, job: Job) -> dict[str, Any]:
        calls.append(job.attempts)
        if len(calls) % 2 == 1:
            raise sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached")
        return {"ok": True}

    for defer, counted in [(True, 1), (False, 2)]:
        calls.clear()
        async with runtime.database.session() as session:  # recorded, not queued
            job = Job(name="test.flaky", args={}, queue="default", max_attempts=3)
            session.add(job)
            await session.commit()
        with pytest.raises(JobFailed) as failed:
            await execute(runtime, job.id, {"test.flaky": flaky}, defer_busy=defer)
        assert failed.value.busy is defer and not failed.value.final
        assert await execute(runtime, job.id, {"test.flaky": flaky}) == "succeeded"
        async with runtime.database.connect() as conn:
            found = await conn.execute(select(Job.attempts).where(Job.id == job.id))
        assert found.scalar_one() == counted


async def test_jobs_queued_by_a_job_take_none_of_the_requests_connections(
    api: Api, tiny_pool: Api
) -> None:
    """A digest or an import queues e-mails from inside a job: that goes through the jobs'
    own pool even when every request connection is taken."""
    from alumnet.domain.identity.mail import queue_email
    from alumnet.domain.identity.users import user_by_email

    await api.create_user("s0@example.org", ["STUDENT"])
    jobs_runtime = tiny_pool.app.state.dispatcher.queue.runtime
    async with tiny_pool.app.state.runtime.database.engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")
        async with jobs_runtime.transaction() as uow:
            user = await user_by_email(uow, "s0@example.org")
            assert user is not None
            await queue_email(uow, user=user, template="t", subject="From a job", body="Hi")
        await asyncio.wait_for(tiny_pool.app.state.dispatcher.queue.drain(), 30)
    assert [m["to"] for m in api.mailbox.messages] == [["s0@example.org"]]


async def test_queued_jobs_survive_a_stop_and_run_in_order(api: Api) -> None:
    """Concurrency 1: the first e-mail job is held by a slow mail server while the process
    stops; it finishes, and the two queued behind it run when the process starts again."""
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.domain.identity.mail import queue_email
    from alumnet.domain.identity.users import user_by_email

    for i in range(3):
        await api.create_user(f"s{i}@example.org", ["STUDENT"])
    settings = replace(api.settings, redis_url=None, job_concurrency=1)
    runtime, dispatcher = build_runtime(settings)
    api.mailbox.open.clear()
    try:
        async with runtime.transaction() as uow:
            for i in range(3):
                user = await user_by_email(uow, f"s{i}@example.org")
                assert user is not None
                await queue_email(uow, user=user, template="t", subject=f"Mail {i}", body="Hi")
        await asyncio.sleep(0.2)  # the first job reaches the mail server, and waits
        stopping = asyncio.create_task(close_runtime(runtime, dispatcher))
        await asyncio.sleep(0.2)
        assert not stopping.done()  # the running job finishes its attempt first
    finally:
        api.mailbox.open.set()
    await stopping
    assert [m["to"] for m in api.mailbox.messages] == [["s0@example.org"]]

    runtime, dispatcher = build_runtime(settings)
    try:
        assert await dispatcher.requeue_stale() == 2
        await dispatcher.queue.drain()
    finally:
        await close_runtime(runtime, dispatcher)
    assert [m["to"] for m in api.mailbox.messages] == [
        ["s0@example.org"],
        ["s1@example.org"],
        ["s2@example.org"],
    ]


async def test_pools_and_the_queue_are_in_the_metrics(inprocess: Api) -> None:
    text = await inprocess.metrics()
    for series in (
        'alumnet_db_pool_connections{pool="api"}',
        'alumnet_db_pool_connections{pool="jobs"}',
        'alumnet_db_pool_in_use{pool="api"}',
        'alumnet_db_pool_waiting{pool="api"}',
        "alumnet_job_queue_concurrency",
        'alumnet_job_queue_jobs{state="queued"}',
        'alumnet_job_queue_jobs{state="running"}',
    ):
        assert series in text, series


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALUMNET_JOB_CONCURRENCY", "0"),
        ("ALUMNET_JOB_CONCURRENCY", "-2"),
        ("ALUMNET_DB_POOL_SIZE", "0"),
        ("ALUMNET_DB_POOL_SIZE", "-1"),
        ("ALUMNET_DB_POOL_TIMEOUT", "0"),
        ("ALUMNET_DB_POOL_TIMEOUT", "-3"),
        ("ALUMNET_DB_POOL_TIMEOUT", "soon"),
    ],
)
def test_zero_or_negative_sizes_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings({name: value})


def test_the_server_refuses_to_start_with_no_concurrency(settings: Settings) -> None:
    result = alumnet(settings, "serve", "--port", "1", ALUMNET_JOB_CONCURRENCY="0")
    assert result.returncode == 2
    assert "ALUMNET_JOB_CONCURRENCY must be at least 1, got 0" in result.stderr


def test_several_server_processes_need_redis(settings: Settings) -> None:
    """Each process would run its own queue (and its own live updates) on the same rows."""
    if settings.redis_url:
        pytest.skip("with Redis, processes share the queue")
    result = alumnet(settings, "serve", "--port", "1", "--workers", "2")
    assert result.returncode == 2
    assert "--workers above 1 needs ALUMNET_REDIS_URL" in result.stderr
