"""The processes of an installation and how they stop: two schedulers record each slot's
job once; a worker asked to stop finishes the job it runs and leaves the others queued
(and a job whose work horse a second signal killed is run by the next worker);
`alumnet serve` asked to stop answers the request in flight and closes subscriptions with
a close frame; the Procfile that `honcho start` runs. Real processes, as in production."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis import Redis
from sqlalchemy import create_engine, select

from alumnet.domain.data.files import CLEANUP_JOB
from alumnet.persistence.db import sync_url
from alumnet.persistence.models import Job
from alumnet.workers import schedule
from tests import commands
from tests.conftest import (
    PASSWORD,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    Api,
    _free_port,
    env_for,
)
from tests.data.test_import_races import _locked, _waiting

ROOT = Path(__file__).resolve().parents[2]

real_processes = pytest.mark.skipif(
    not (TEST_DATABASE_URL and TEST_REDIS_URL),
    reason="`alumnet scheduler` and `alumnet worker` need Redis; the test's locks PostgreSQL",
)


def _until(condition: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    """Poll ``condition()`` until it is truthy (its value), for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return found


def _start(api: Api, args: list[str], log: Path) -> Any:
    """`alumnet ARGS`, started (not waited for) as tests/commands.py forks it."""
    return commands.fork(args, env_for(api.settings), log)


def _end(child: Any) -> None:
    """Whatever is left of a process a failed test started, and of its group: killed."""
    if child is not None and child.exitcode is None:
        os.killpg(child.pid, signal.SIGKILL)
        child.join()


def _stopped(child: Any, log: Path, seconds: float = 30) -> str:
    """Wait for the process to end; it must end with 0 and no traceback. What it said."""
    child.join(seconds)
    said = log.read_text(errors="replace")
    if child.exitcode is None:
        _end(child)
        raise AssertionError(f"it did not stop:\n{said}")
    assert child.exitcode == 0, said
    assert "Traceback" not in said, said
    return said


def _jobs(api: Api) -> list[Any]:
    """The jobs table's rows, read afresh."""
    engine = create_engine(sync_url(api.settings.database_url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(Job).order_by(Job.id)).all())
    finally:
        engine.dispose()


async def test_two_schedulers_record_one_job_per_slot(api: Api) -> None:
    """The slot's key: a scheduler firing a little late and one a little early find the
    same slot; two recording it at once (or one after the other) record one job; the
    catch-up of schedulers starting in the same quarter hour is recorded once."""
    at = datetime(2026, 12, 5, 10, 15, tzinfo=UTC)
    cron = "*/15 * * * *"
    keys = {
        schedule.slot_key("x", cron, at.replace(minute=14, second=58)),
        schedule.slot_key("x", cron, at),
        schedule.slot_key("x", cron, at.replace(second=3, microsecond=500)),
        schedule.slot_key("x", cron, at.replace(minute=22, second=29)),
    }
    assert keys == {"x@2026-12-05T10:15Z"}
    assert schedule.slot_key("x", cron, at.replace(minute=22, second=31)) == "x@2026-12-05T10:30Z"
    assert schedule.slot_key("x", "0 2 * * *", at) == "x@2026-12-05T02:00Z"
    assert schedule.start_key("x", at.replace(minute=29, second=59)) == "x@start-2026-12-05T10:15Z"
    assert schedule.start_key("x", at.replace(minute=30)) == "x@start-2026-12-05T10:30Z"

    runtime = api.app.state.runtime
    key = schedule.slot_key(CLEANUP_JOB, "45 2 * * *", datetime.now(UTC))
    both = await asyncio.gather(*(schedule.record(runtime, CLEANUP_JOB, {}, key) for _ in "ab"))
    assert [found is None for found in both].count(True) == 1, both
    assert await schedule.record(runtime, CLEANUP_JOB, {}, key) is None
    assert await schedule.record(runtime, CLEANUP_JOB, {}) is not None  # unscheduled: always
    first, second = await asyncio.gather(schedule.catch_up(runtime), schedule.catch_up(runtime))
    assert sorted(first + second) == sorted(name for name, _ in schedule.AT_START)
    recorded = [job.schedule_key for job in _jobs(api)]
    assert recorded.count(key) == 1 and recorded.count(None) == 1
    assert len(recorded) == 2 + len(schedule.AT_START)


@real_processes
async def test_two_scheduler_processes_catch_up_once_and_stop_on_sigterm(
    api: Api, tmp_path: Path
) -> None:
    """Two `alumnet scheduler` processes started together: each catch-up job recorded
    once between them; both stop on SIGTERM with status 0 and no traceback."""
    from rq.cron import CronScheduler

    started = datetime.now(UTC)
    logs = [tmp_path / f"scheduler{i}.log" for i in (1, 2)]
    children = [_start(api, ["scheduler"], log) for log in logs]
    redis = Redis.from_url(api.settings.redis_url or "")

    def registered() -> set[int]:
        pids = {child.pid for child in children}
        return {s.pid for s in CronScheduler.all(redis) if s.pid in pids}

    try:
        _until(lambda: len(registered()) == 2, "both schedulers started")
        for child in children:
            child.terminate()
        said = [_stopped(child, log) for child, log in zip(children, logs, strict=True)]
        assert registered() == set()  # each said it ended
    finally:
        for child in children:
            _end(child)
        redis.close()
    windows = {schedule.start_key("", t) for t in (started, datetime.now(UTC))}
    jobs = _jobs(api)
    for name, _ in schedule.AT_START:
        keys = [j.schedule_key for j in jobs if j.name == name]
        assert all(k and k.startswith(f"{name}@start-") for k in keys), keys
        # Once, unless the two started either side of a quarter hour (then once in each).
        assert 1 <= len(keys) <= len(windows), keys
    assert sum("now, to catch up" in s for s in said[0].splitlines() + said[1].splitlines()) == (
        len(jobs)
    )


def _worker_of(redis: Redis, pid: int) -> Any:
    from rq import Worker

    return next((w for w in Worker.all(connection=redis) if w.pid == pid), None)


@real_processes
async def test_a_worker_asked_to_stop_finishes_its_job(api: Api, tmp_path: Path) -> None:
    """SIGTERM to `alumnet worker` while a job runs (held at its first write by a lock):
    the job finishes (succeeded), the worker exits 0, a job queued meanwhile stays queued
    for the next worker. Asked twice (a cold shutdown), the work horse is killed: the next
    worker puts the job back in line and runs it."""
    runtime = api.app.state.runtime
    redis = Redis.from_url(api.settings.redis_url or "")
    first = await schedule.record(runtime, CLEANUP_JOB, {})
    log = tmp_path / "worker.log"
    worker = None
    try:
        with _locked(api, "LOCK TABLE stored_files IN ACCESS EXCLUSIVE MODE") as lock:
            worker = _start(api, ["worker"], log)
            _until(lambda: _waiting(lock, "stored_files"), "the job at its first write")
            second = await schedule.record(runtime, CLEANUP_JOB, {})
            worker.terminate()
            _until(
                lambda: getattr(_worker_of(redis, worker.pid), "shutdown_requested_date", None),
                "the worker to hear it",
            )
            assert worker.is_alive()
        _stopped(worker, log)
        by_id = {job.id: job for job in _jobs(api)}
        assert (by_id[first].status, by_id[second].status) == ("succeeded", "pending")

        log = tmp_path / "cold.log"
        with _locked(api, "LOCK TABLE stored_files IN ACCESS EXCLUSIVE MODE") as lock:
            worker = _start(api, ["worker"], log)
            _until(lambda: _waiting(lock, "stored_files"), "the queued job at its first write")

            def asked_twice() -> bool:
                # RQ takes a second signal within a second of the first for the same one.
                worker.terminate()
                worker.join(0.3)
                return worker.exitcode is not None

            _until(asked_twice, "a cold shutdown")
        _stopped(worker, log)
        assert {job.id: job.status for job in _jobs(api)}[second] == "running"
        commands.run(["worker", "--burst"], env_for(api.settings))
        job = {job.id: job for job in _jobs(api)}[second]
        assert (job.status, job.attempts) == ("succeeded", 2)
    finally:
        _end(worker)
        redis.close()


async def test_serve_answers_the_request_in_flight_and_closes_subscriptions(
    api: Api, tmp_path: Path
) -> None:
    """SIGTERM to `alumnet serve` with a sign-in in flight (its body not yet sent) and a
    subscription open: the subscriber gets a close frame (1012, service restart) at once;
    the sign-in, its body sent after the signal, gets its full answer; the process exits
    0 with nothing in its log."""
    await api.create_user("stu@example.org", ["STUDENT"])
    log = tmp_path / "server.log"
    port = _free_port()
    base = f"127.0.0.1:{port}"
    server = _start(api, ["serve", "--port", str(port)], log)
    try:
        _until(lambda: _answers(f"http://{base}/healthz"), "the server to answer", 60)
        sign_in = {
            "query": "mutation($e: String!, $p: String!) { tokenCreate(input: {email: $e,"
            " password: $p}) { accessToken } }",
            "variables": {"e": "stu@example.org", "p": PASSWORD},
        }
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST /graphql HTTP/1.1\r\nHost: {base}\r\n".encode())
        body = json.dumps(sign_in).encode()
        writer.write(
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        ws = await websockets.connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"])
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        subscription = {"query": "subscription { notificationReceived { id } }"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscription}))
        # The application asks for the body: the request is in its hands.
        continued = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert continued.startswith(b"HTTP/1.1 100 Continue"), continued

        server.terminate()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:  # the anonymous subscriber's first (empty) event, then the close
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        writer.write(body)
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode()
        assert head.startswith("HTTP/1.1 200"), head
        assert "connection: close" in head.lower()
        answer = json.loads(await asyncio.wait_for(reader.read(), 10))
        assert answer["data"]["tokenCreate"]["accessToken"], answer
        writer.close()
        said = _stopped(server, log)
    finally:
        _end(server)
    assert [line for line in said.splitlines() if line.startswith("{")] == [], said


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _honcho(*args: str, env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line of `honcho ARGS` on the repository's Procfile, and its environment
    (this environment's `alumnet` first on the PATH)."""
    here = str(Path(sys.executable).parent)
    honcho = shutil.which("honcho", path=here)
    assert honcho is not None, "honcho is one of alumnet's dependencies"
    path = os.pathsep.join([here, os.environ.get("PATH", "")])
    return [honcho, "-f", str(ROOT / "Procfile"), "-d", str(ROOT), *args], {
        **(env or os.environ),
        "PATH": path,
    }


def test_honcho_accepts_the_procfile() -> None:
    command, env = _honcho("check")
    checked = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "web, worker, scheduler" in checked.stderr


@real_processes
def test_honcho_starts_the_three_processes_and_stops_them(api: Api, tmp_path: Path) -> None:
    """`honcho start` runs web, worker and scheduler against the test's PostgreSQL and
    Redis; on SIGTERM each stops with status 0."""
    from rq import Worker
    from rq.cron import CronScheduler

    port = _free_port()
    empty = tmp_path / "empty.env"
    empty.touch()
    command, env = _honcho("start", "-e", str(empty), "-p", str(port), env=env_for(api.settings))
    output = tmp_path / "honcho.log"
    redis = Redis.from_url(api.settings.redis_url or "")
    prefix = api.settings.queue_prefix
    with output.open("wb") as out:
        honcho = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def web() -> bool:
            return _answers(f"http://127.0.0.1:{port}/healthz")

        def worker() -> bool:
            return any(
                q.startswith(prefix) for w in Worker.all(connection=redis) for q in w.queue_names()
            )

        def scheduler() -> bool:
            return any(
                j.name.startswith(prefix) for s in CronScheduler.all(redis) for j in s.get_jobs()
            )

        for ready, what in ((web, "web"), (worker, "worker"), (scheduler, "scheduler")):
            _until(ready, what, 60)
        honcho.send_signal(signal.SIGTERM)
        honcho.wait(timeout=30)
    finally:
        if honcho.poll() is None:
            honcho.kill()
            honcho.wait()
        redis.close()
    said = output.read_text(errors="replace")
    for name in ("web", "worker", "scheduler"):
        assert f"{name}.1 stopped (rc=0)" in said, said
    assert "SIGKILL" not in said and "Traceback" not in said, said
