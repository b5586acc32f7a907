"""Faults survived (issue 28), injected into real processes: a worker killed in the middle
of an e-mail batch and of a recalculation, Redis stopped for 30 seconds under a running
server and worker, PostgreSQL restarted under a running server, and a server killed in the
middle of a mutation. What each injects and what it saw is written up in
docs/RELIABILITY.md. A worker killed in the middle of an import is
tests/data/test_import_races.py::test_a_worker_killed_mid_import_leaves_it_to_the_next_one.

They need PostgreSQL and Redis (and their programs, to run servers of the tests' own:
tests/servers.py); on the embedded default they are skipped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from rq import Worker
from sqlalchemy import func, select, update

from alumnet.config import load_settings
from alumnet.domain.engagement import points
from alumnet.domain.identity.mail import queue_sending
from alumnet.persistence import migrations
from alumnet.persistence.models import Enrollment, Job, OutboundEmail
from alumnet.persistence.uow import Origin
from tests import commands
from tests.cohorts.conftest import Programme
from tests.cohorts.conftest import programme as programme_fixture  # noqa: F401  (registered)
from tests.conftest import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    Api,
    env_for,
    post_to,
    subscribe,
    token_at,
)
from tests.data.test_import_races import _locked, _waiting, pk
from tests.engagement.conftest import RULES, ok, points_of
from tests.engagement.test_points import activity, ledger_matches_totals
from tests.servers import PG_BIN, REDIS_SERVER, PgCluster, RedisServer

pytestmark = [
    pytest.mark.skipif(
        not (TEST_DATABASE_URL and TEST_REDIS_URL),
        reason="faults injected into real PostgreSQL, Redis and alumnet processes need "
        "ALUMNET_TEST_DATABASE_URL and ALUMNET_TEST_REDIS_URL",
    ),
    pytest.mark.skipif(
        PG_BIN is None or REDIS_SERVER is None,
        reason="servers of the tests' own need PostgreSQL's programs and redis-server",
    ),
]

RESET = """mutation($e: String!) { passwordResetRequest(input: {email: $e}) { accepted } }"""
SIGN_IN = """mutation($e: String!, $p: String!) { tokenCreate(input: {email: $e, password: $p})
  { accessToken userErrors { code } } }"""
SEND = """mutation($c: ID!, $b: String!) { messageSend(input: {conversationId: $c, body: $b})
  { message { id } userErrors { code } } }"""
START = """mutation($u: ID!) { messageSend(input: {recipientId: $u, body: "Hello"})
  { message { conversation { id } } userErrors { code } } }"""
ENROL = """mutation($m: ID!, $s: [ID!]!) { enrollmentBulkCreate(input: {missionId: $m,
  studentIds: $s}) { added alreadyPresent userErrors { code } } }"""


async def until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def fork_worker(env: dict[str, str], log: Path, *, burst: bool = True) -> Any:
    """`alumnet worker`, forked (tests/commands.py): a process group of its own, the worker
    and the work horse it forks for each job."""
    return commands.fork(["worker", "--burst"] if burst else ["worker"], env, log)


def fork_serve(env: dict[str, str], log: Path) -> tuple[Any, str]:
    """`alumnet serve` on a free port, forked as the workers are (alumnet imported once:
    seconds sooner than a new interpreter), once it answers; the process and host:port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = commands.fork(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://{base}/healthz", timeout=1).status_code == 200:
                return child, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or child.exitcode is not None:
            stop(child)
            raise AssertionError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.05)


def stop(child: Any) -> None:
    """SIGTERM, as a process manager stops it; SIGKILL if it has not ended in 10 s."""
    if child.exitcode is None:
        os.kill(child.pid, signal.SIGTERM)
        child.join(10)
    if child.exitcode is None:
        os.killpg(child.pid, signal.SIGKILL)
        child.join()


def kill(child: Any) -> None:
    """SIGKILL to the worker and the work horse it forked (a session of its own): no
    clean-up, as when their machine or container dies."""
    if child.exitcode is not None:
        return
    horses = Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split()
    os.killpg(child.pid, signal.SIGKILL)
    for horse in horses:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(horse), signal.SIGKILL)
    child.join(10)


ended = commands.ended


@pytest.fixture
async def p(programme_fixture: Programme) -> Programme:  # noqa: F811
    """tests/cohorts/conftest.py's programme: its people, batches, missions and roster."""
    return programme_fixture


async def job_row(api: Api, job_id: int) -> Job:
    async with api.app.state.runtime.database.session() as session:
        found = await session.get(Job, job_id)
        assert found is not None
        return found


# --- a worker killed in the middle of a job ----------------------------------------------


class HeldMailServer:
    """A mail server that holds its answer to the ``hold_at``-th message (counting from 0)
    until released, and then, its client gone, delivers nothing: a message is delivered
    when the server has said so to the sender."""

    def __init__(self, hold_at: int) -> None:
        self.hold_at = hold_at
        self.delivered: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if len(self.delivered) == self.hold_at and not self.release.is_set():
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "451 Requested action aborted: try again later"
        self.delivered.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def held_mail() -> Iterator[tuple[HeldMailServer, str]]:
    server = HeldMailServer(hold_at=3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    yield server, f"smtp://127.0.0.1:{port}"
    server.release.set()
    controller.stop()


async def test_a_worker_killed_mid_email_batch_sends_each_email_once(
    api: Api, tmp_path: Path, held_mail: tuple[HeldMailServer, str]
) -> None:
    """One job sending ten e-mails; its worker (and work horse) SIGKILLed while the mail
    server holds its answer to the fourth. The next worker to start finds the job running
    in a dead worker, queues it again, and sends the seven left: each address gets one."""
    server, smtp_url = held_mail
    runtime = api.app.state.runtime
    addresses = [f"batch{i}@example.org" for i in range(10)]
    async with runtime.transaction(origin=Origin(via="cli")) as uow:
        emails = [
            OutboundEmail(to_address=a, subject="Batch", text_body="Hello", template="test")
            for a in addresses
        ]
        uow.session.add_all(emails)
        await uow.session.flush()
        await queue_sending(uow, [e.id for e in emails])
    async with runtime.database.connect() as conn:
        (job_id,) = (await conn.execute(select(Job.id).where(Job.name == "email.send"))).one()
    env = {**env_for(api.settings), "ALUMNET_SMTP_URL": smtp_url}
    first = fork_worker(env, tmp_path / "killed.log")
    await until(lambda: asyncio.to_thread(server.holding.wait, 0), "the fourth e-mail held")
    kill(first)
    server.release.set()
    assert server.delivered == addresses[:3]
    assert (await job_row(api, job_id)).status == "running"
    ended(fork_worker(env, tmp_path / "next.log"), tmp_path / "next.log")
    assert sorted(server.delivered) == sorted(addresses)  # each once, none lost
    done = await job_row(api, job_id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert done.result == {"sent": 7, "skipped": 3}
    async with runtime.database.connect() as conn:
        unsent = await conn.execute(select(func.count()).where(OutboundEmail.sent_at.is_(None)))
        assert unsent.scalar_one() == 0


async def test_a_worker_killed_mid_recalculation_finishes_it_once(
    p: Programme, tmp_path: Path
) -> None:
    """A points recalculation (one transaction) whose worker is SIGKILLed while it waits
    for the mission's row: the next worker runs it once more, to the totals that awarding
    afresh gives; nothing doubled (recalculating again changes nothing)."""
    await activity(p)
    mission = pk(p.ids["ma"])
    changed = await ok(
        p, "manager", RULES,
        {"i": {"missionId": p.ids["ma"], "attendancePoints": 3, "meetingPoints": 4,
               "lateSubmissionPercent": 20}},
        "engagementRulesUpdate",
    )  # fmt: skip
    job_id = pk(changed["recalculation"]["id"])
    env = env_for(p.api.settings)
    with _locked(p.api, f"SELECT id FROM missions WHERE id = {mission} FOR UPDATE") as lock:
        first = fork_worker(env, tmp_path / "killed.log")

        async def waiting() -> bool:
            return (await job_row(p.api, job_id)).status == "running" and _waiting(lock) > 0

        await until(waiting, "the recalculation waiting for the mission")
        kill(first)
    ended(fork_worker(env, tmp_path / "next.log"), tmp_path / "next.log")
    done = await job_row(p.api, job_id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    after = await ledger_matches_totals(p)
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 3 + 4 + 10 + 2
    assert (await points.recalculate(p.api.app.state.runtime, mission))["adjustments"] == 0
    assert await ledger_matches_totals(p) == after


async def test_a_job_relayed_by_two_processes_at_once_runs_once(api: Api, tmp_path: Path) -> None:
    """A job committed while Redis was down (its row pending, never enqueued), found by the
    relays of two API processes at once: one queues it. Queued twice all the same (RQ's
    job id is the row's), a worker runs it once: one attempt, one e-mail."""
    runtime = api.app.state.runtime
    queue = api.app.state.dispatcher.queue
    async with runtime.transaction(origin=Origin(via="cli")) as uow:
        email = OutboundEmail(
            to_address="twice@example.org", subject="Once", text_body="Hello", template="test"
        )
        uow.session.add(email)
        await uow.session.flush()
        await queue_sending(uow, [email.id])
    async with runtime.database.connect() as conn:
        (job_id,) = (await conn.execute(select(Job.id).where(Job.name == "email.send"))).one()
        committed = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(update(Job).values(enqueued_at=None, created_at=committed))
        await conn.commit()
    await asyncio.to_thread(queue.queue("email").empty)
    grace = queue.RELAY_GRACE  # as the relays of `alumnet serve` call it
    relayed = await asyncio.gather(*(queue.recover(runtime, grace) for _ in range(2)))
    assert sorted(relayed) == [0, 1]
    await asyncio.to_thread(queue._enqueue_sync, [(job_id, "email")])
    assert await asyncio.to_thread(lambda: queue.queue("email").count) == 2
    ended(fork_worker(env_for(api.settings), tmp_path / "worker.log"), tmp_path / "worker.log")
    done = await job_row(api, job_id)
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert len(api.mailbox.to("twice@example.org")) == 1


# --- Redis stopped ------------------------------------------------------------------------

OUTAGE_SECONDS = 30.0


async def test_redis_stopped_for_30_seconds_fails_no_request(p: Programme, tmp_path: Path) -> None:
    """`alumnet serve` and `alumnet worker` on a Redis of the test's own, stopped for 30 s
    while the test signs in, sends messages and asks for password resets every second:
    every request succeeds; the e-mail jobs written meanwhile wait as rows and run once
    Redis is back (each e-mail sent once); a subscription opened before the outage gets a
    message sent after it, on the same websocket."""
    redis = RedisServer()
    redis.start()
    env = {
        **env_for(p.api.settings),
        "ALUMNET_REDIS_URL": redis.url,
        "ALUMNET_JOB_RELAY_SECONDS": "1",
    }
    worker = None
    process, base = fork_serve(env, tmp_path / "server.log")
    try:
        worker = fork_worker(env, tmp_path / "worker.log", burst=False)

        async def working() -> bool:
            # Registered in Redis, so at work (a worker still starting when Redis stops
            # exits, for its process manager to start it again).
            assert worker.exitcode is None, (tmp_path / "worker.log").read_text()
            with Redis.from_url(redis.url) as client:
                return bool(Worker.all(connection=client))

        await until(working, "the worker to start", 60)
        m1 = await token_at(base, "m1@example.org")
        started = await post_to(base, START, {"u": p.ids["s1"]}, m1)
        conversation = started["data"]["messageSend"]["message"]["conversation"]["id"]
        s1 = await token_at(base, "s1@example.org")
        talk = await subscribe(
            base, s1, "subscription($c: ID!) { messageReceived(conversationId: $c) { body } }",
            {"c": conversation},
        )  # fmt: skip
        await post_to(base, SEND, {"c": conversation, "b": "before"}, m1)
        assert (await next_message(talk))["body"] == "before"
        redis.stop()
        stopped = time.monotonic()
        asked: list[str] = []
        async with httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["redis"].startswith("unreachable")
            n = 0
            while time.monotonic() - stopped < OUTAGE_SECONDS:
                beat = time.monotonic()
                who = ("s1", "s2", "s3", "m2", "alumnus")[n % 5]
                answers = [
                    await client.post("/graphql", json={"query": SIGN_IN, "variables": {
                        "e": "m1@example.org", "p": "correct horse battery"}}),
                    await client.post("/graphql", json={"query": SEND, "variables": {
                        "c": conversation, "b": f"during {n}"}},
                        headers={"Authorization": f"Bearer {m1}"}),
                    await client.post("/graphql", json={"query": RESET, "variables": {
                        "e": f"{who}@example.org"}}),
                ]  # fmt: skip
                for answer in answers:
                    assert answer.status_code == 200, answer.text
                    body = answer.json()
                    assert "errors" not in body, body
                    assert all(v["userErrors"] == [] for v in body["data"].values()
                               if "userErrors" in v), body  # fmt: skip
                asked.append(who)
                n += 1
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - beat)))
        async with p.api.app.state.runtime.database.connect() as conn:
            waiting = await conn.execute(
                select(func.count()).where(Job.status == "pending", Job.enqueued_at.is_(None))
            )
            # A reset e-mail per address at least (more are throttled): rows, not queued.
            assert waiting.scalar_one() >= len(set(asked))
        redis.start()

        async def all_sent() -> bool:
            async with p.api.app.state.runtime.database.connect() as conn:
                left = await conn.execute(
                    select(func.count()).where(Job.status.in_(("pending", "running",
                                                               "retrying")))
                )  # fmt: skip
                return left.scalar_one() == 0

        await until(all_sent, "the jobs written during the outage to run", 30)

        async def following() -> bool:
            # The credential cache hears the bus again (its listener subscribed anew).
            async with httpx.AsyncClient(base_url=f"http://{base}") as client:
                checks = (await client.get("/readyz")).json()["checks"]
            return bool(checks["redis"] == "ok" and checks["credentialCache"] == "ok")

        await until(following, "the credential cache to follow the bus again", 10)
        await post_to(base, SEND, {"c": conversation, "b": "after"}, m1)
        assert (await next_message(talk, "after"))["body"] == "after"
        await talk.close()
        async with p.api.app.state.runtime.database.connect() as conn:
            failed = await conn.execute(select(func.count()).where(Job.status == "failed"))
            assert failed.scalar_one() == 0
            sent = await conn.execute(
                select(OutboundEmail.to_address).where(OutboundEmail.sent_at.is_not(None))
            )
            recorded = sorted(a for (a,) in sent)
        received = sorted(a for m in p.api.mailbox.messages for a in m["to"])
        assert received == recorded  # each e-mail once
        assert sum(1 for who in asked if f"{who}@example.org" in received) >= 1
        assert process.exitcode is None
    finally:
        if worker is not None:
            kill(worker)
        stop(process)
        redis.stop()


async def next_message(ws: Any, body: str | None = None, seconds: float = 15) -> Any:
    """The next messageReceived event on ``ws`` (with ``body``, if given)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no message {body!r} within {seconds} s"
        event = json.loads(await asyncio.wait_for(ws.recv(), left))
        assert event["type"] == "next", event
        received = event["payload"]["data"]["messageReceived"]
        if body is None or received["body"] == body:
            return received


# --- PostgreSQL restarted -----------------------------------------------------------------


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    made = PgCluster.primary()
    try:
        made.sql("CREATE DATABASE alumnet")
        yield made
    finally:
        made.destroy()


async def test_postgresql_restarted_under_a_running_server(
    api: Api, cluster: PgCluster, tmp_path: Path
) -> None:
    """`alumnet serve` on a PostgreSQL of the test's own, which is restarted while
    requests go on, then stopped and started: a request that meets it down is answered
    503 SERVICE_UNAVAILABLE with Retry-After; once it is back, requests succeed again
    from the same server process."""
    url = load_settings({"ALUMNET_DATABASE_URL": cluster.url("alumnet")}).database_url
    migrations.upgrade(url)
    env = {**env_for(api.settings), "ALUMNET_DATABASE_URL": url}
    env.pop("ALUMNET_REDIS_URL", None)
    process, base = fork_serve(env, tmp_path / "server.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as client:

            async def ask(n: int) -> httpx.Response:
                return await client.post(
                    "/graphql",
                    json={"query": RESET, "variables": {"e": f"nobody{n}@example.org"}},
                )

            def served_or_retry_later(answer: httpx.Response) -> bool:
                if answer.status_code == 200:
                    return answer.json()["data"]["passwordResetRequest"]["accepted"] is True
                body = answer.json()
                return (
                    answer.status_code == 503
                    and answer.headers.get("retry-after") is not None
                    and body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                )

            for n in range(3):
                assert (await ask(n)).status_code == 200
            # Restarted while requests go on: each is served, or answered 503.
            answers: list[httpx.Response] = []
            restarting = asyncio.ensure_future(asyncio.to_thread(cluster.restart))
            n = 0
            while not restarting.done():
                answers.append(await ask(n))
                n += 1
                # Paced: enough to meet the restart, without a storm of connection
                # attempts at the stopped server's free port (one in the ephemeral range
                # can connect to itself and hold the port the server restarts on).
                await asyncio.sleep(0.05)
            await restarting
            after = [await ask(n) for n in range(5)]
            assert all(served_or_retry_later(a) for a in answers + after), [
                (a.status_code, a.text) for a in answers + after
            ]
            # At most the first request after the restart meets a broken pooled connection.
            assert all(a.status_code == 200 for a in after[1:]), [a.text for a in after]
            # Stopped: refused at once with a retryable answer; started: served again.
            await asyncio.to_thread(cluster.stop)
            down = await ask(100)
            assert served_or_retry_later(down) and down.status_code == 503, down.text
            assert (await client.get("/readyz")).status_code == 503
            await asyncio.to_thread(cluster.start)
            back = [await ask(200 + n) for n in range(3)]
            assert [a.status_code for a in back] == [200, 200, 200], [a.text for a in back]
        assert process.exitcode is None  # the same process throughout
    finally:
        stop(process)


# --- the API process killed -----------------------------------------------------------------


async def test_a_server_killed_during_a_mutation_leaves_all_or_nothing(
    p: Programme, tmp_path: Path
) -> None:
    """`alumnet serve` SIGKILLed in the middle of a bulk enrolment (its enrolments
    written, its audit row waiting for a lock the test holds): none of it is kept; sent
    again, all of it is."""
    students = [p.ids["s1"], p.ids["s2"]]  # s3 is enrolled in mc already
    mission = pk(p.ids["mc"])

    async def enrolled() -> int:
        async with p.api.app.state.runtime.database.connect() as conn:
            found = await conn.execute(select(func.count()).where(Enrollment.mission_id == mission))
            return int(found.scalar_one())

    assert await enrolled() == 1
    process, base = fork_serve(env_for(p.api.settings), tmp_path / "server.log")
    try:
        admin = await token_at(base, "admin@example.org")
        with _locked(p.api, "LOCK TABLE audit_events IN SHARE MODE") as lock:
            sending = asyncio.ensure_future(
                post_to(base, ENROL, {"m": p.ids["mc"], "s": students}, admin)
            )
            await until(
                lambda: asyncio.to_thread(_waiting, lock, "audit_events"),
                "the enrolment waiting to write its audit row",
            )
            held = lock.exec_driver_sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'enrollments' AND l.pid <> pg_backend_pid()"
            ).scalar_one()
            assert held > 0  # its enrolments are written, in its open transaction
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)
        with pytest.raises(httpx.HTTPError):
            await sending
        engine_gone = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        engine_gone += "WHERE c.relname = 'enrollments'"

        async def ended_transaction() -> bool:
            with _locked(p.api, "SELECT 1") as probe:
                return int(probe.exec_driver_sql(engine_gone).scalar_one()) == 0

        await until(ended_transaction, "the killed server's transaction to end")
        assert await enrolled() == 1  # nothing of it
    finally:
        stop(process)
    again = await ok(p, "admin", ENROL, {"m": p.ids["mc"], "s": students}, "enrollmentBulkCreate")
    assert (again["added"], again["alreadyPresent"]) == (2, 0)
    assert await enrolled() == 3
