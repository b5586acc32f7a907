"""Two runs of one file at once, and runs that stop part way: every import ends COMPLETED
with true counts or FAILED with a plain reason, each person is written once, and a run
whose worker dies goes on from the rows it recorded (issue 33).

The races with real `alumnet worker` processes need PostgreSQL and Redis; the same logic
runs in-process on either backend."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, func, select, update
from strawberry.relay import from_base64

from alumnet import processes
from alumnet.domain.data import imports
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.db import sync_url
from alumnet.persistence.models import Enrollment, Import, ImportRow, Job, StoredFile, User
from alumnet.persistence.uow import Origin
from tests import commands
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, Api, app_api, env_for
from tests.data.conftest import Programme, status, upload
from tests.engagement.conftest import call, codes, ok

RUN = """mutation($n: ID!, $f: Boolean! = false, $d: Boolean! = false) {
  importRun(input: {importId: $n, force: $f, dryRun: $d}) {
    import { id status } alreadyRunning { id status } userErrors { code message } } }"""
ROLLBACK = """mutation($n: ID!) { importRollback(input: {importId: $n}) {
  import { id status } alreadyRunning { id } userErrors { code message } } }"""
UPLOADED = """mutation($i: ImportUploadInput!) { importUpload(input: $i) {
  import { id } alreadyRunning { id } userErrors { code message } } }"""

real_workers = pytest.mark.skipif(
    not (TEST_DATABASE_URL and TEST_REDIS_URL),
    reason="two `alumnet worker` processes at once need PostgreSQL and Redis",
)
on_postgresql = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="a race forced with PostgreSQL's locks"
)


def people_file(count: int, prefix: str = "twin") -> bytes:
    rows = "".join(f"{prefix}{i}@example.org,Person {i},2015\n" for i in range(count))
    return f"email,name,graduation year\n{rows}".encode()


def pk(global_id: str) -> int:
    return int(from_base64(global_id)[1])


async def people(api: Api, prefix: str) -> tuple[int, int]:
    """How many users have an address starting with ``prefix``, and how many addresses."""
    async with api.app.state.runtime.database.connect() as conn:
        found = await conn.execute(
            select(func.count(), func.count(func.distinct(User.email_lower))).where(
                User.email_lower.like(f"{prefix}%")
            )
        )
        total, distinct = found.one()
    return int(total), int(distinct)


async def record_of(api: Api, import_id: int) -> Any:
    async with api.app.state.runtime.database.connect() as conn:
        found = await conn.execute(select(Import.__table__).where(Import.id == import_id))
        return found.one()


async def recorded_rows(api: Api, import_id: int) -> tuple[int, int]:
    """An import's recorded rows, and its distinct row numbers."""
    async with api.app.state.runtime.database.connect() as conn:
        found = await conn.execute(
            select(func.count(), func.count(func.distinct(ImportRow.row_number))).where(
                ImportRow.import_id == import_id
            )
        )
        total, distinct = found.one()
    return int(total), int(distinct)


async def previewed(p: Programme, content: bytes, **given: Any) -> str:
    made = await upload(p, "admin", content, **given)
    assert made["data"]["importUpload"]["userErrors"] == [], made
    imported = str(made["data"]["importUpload"]["import"]["id"])
    assert (await status(p, imported))["status"] == "PREVIEWED"
    return imported


async def test_twin_runs_both_complete_and_each_person_is_written_once(
    programme: Programme,
) -> None:
    """The issue's race, as the in-process queue (or one worker) runs it: the same 200-row
    file uploaded twice, both run at once (the second forced)."""
    p = programme
    first = await previewed(p, people_file(200))
    second = await previewed(p, people_file(200))
    await ok(p, "admin", RUN, {"n": first}, "importRun")
    await ok(p, "admin", RUN, {"n": second, "f": True}, "importRun")
    one, two = await status(p, first), await status(p, second)
    assert (one["status"], two["status"]) == ("COMPLETED", "COMPLETED")
    assert one["created"] + two["created"] == 200
    assert one["unchanged"] + two["unchanged"] == 200
    assert one["updated"] == two["updated"] == one["rejected"] == two["rejected"] == 0
    assert await people(p.api, "twin") == (200, 200)
    for imported in (first, second):
        await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
        assert (await status(p, imported))["status"] == "ROLLED_BACK"
    assert await people(p.api, "twin") == (0, 0)


async def test_people_created_meanwhile_count_as_unchanged_or_updated(
    programme: Programme,
) -> None:
    """A batch that read its people before another run created them: its inserts are
    ignored and those rows compared as the update path compares them."""
    p = programme
    rt = p.api.app.state.runtime
    async with rt.transaction(origin=Origin(via="cli")) as uow:
        record = await imports.create(
            uow, Viewer(via="cli"), kind="alumni", filename="late.csv",
            read=_reader(b"email,name\nx@example.org,X\n"), mapping=None,
            all_or_nothing=False, dry_run=False, limit=10**6,
        )  # fmt: skip
    width = 3
    batch = [
        imports.candidate(2, ["same@example.org", "Same Person", "2015"], {0: "email", 1: "name",
                          2: "graduation_year"}, width),
        imports.candidate(3, ["renamed@example.org", "Late Name", "2015"], {0: "email", 1: "name",
                          2: "graduation_year"}, width),
        imports.candidate(4, ["fresh@example.org", "Fresh Person", "2015"], {0: "email",
                          1: "name", 2: "graduation_year"}, width),
    ]  # fmt: skip
    state = imports._State()
    async with rt.transaction() as uow:  # read before the other run commits
        plan = await imports._plan_people(uow, record.id, "alumni", batch, state)
    assert [r["action"] for r in plan.rows] == ["create", "create", "create"]
    other = "email,name,graduation year\nsame@example.org,Same Person,2015\n" \
            "renamed@example.org,Early Name,2015\n"  # fmt: skip
    done = await status(p, (await upload(p, "admin", other.encode(), dryRun=False))["data"][
        "importUpload"]["import"]["id"])  # fmt: skip
    assert (done["status"], done["created"]) == ("COMPLETED", 2)
    async with rt.transaction() as uow:
        await imports._apply_people(uow, record.id, "alumni", plan, None)
    actions = {r["row_number"]: r["action"] for r in plan.rows}
    assert actions == {2: "unchanged", 3: "update", 4: "create"}
    renamed = next(r for r in plan.rows if r["row_number"] == 3)
    assert (renamed["before"], renamed["after"]) == ({"name": "Early Name"}, {"name": "Late Name"})
    assert all(r["target_id"] for r in plan.rows)
    for prefix in ("same@", "renamed@", "fresh@"):
        assert await people(p.api, prefix) == (1, 1)
    assert "Late Name" in await _names(p.api)


def _reader(content: bytes) -> Any:
    chunks = [content]

    async def read(size: int) -> bytes:
        return chunks.pop() if chunks else b""

    return read


async def _names(api: Api) -> set[str]:
    async with api.app.state.runtime.database.connect() as conn:
        return {str(n) for n in (await conn.execute(select(User.name))).scalars()}


async def _cli_import(api: Api, content: bytes, **options: Any) -> int:
    """An import recorded as `alumnet import` records it (no job): the test runs it."""
    rt = api.app.state.runtime
    async with rt.transaction(origin=Origin(via="cli")) as uow:
        record = await imports.create(
            uow, Viewer(via="cli"), kind="alumni", filename="people.csv", read=_reader(content),
            mapping=None, dry_run=False, limit=10**8, **{"all_or_nothing": False, **options},
        )  # fmt: skip
    return int(record.id)


class Killed(BaseException):
    """What a worker killed mid-import leaves: nothing runs after it (not even `except
    Exception`)."""


@contextmanager
def stopping_at(
    monkeypatch: pytest.MonkeyPatch, batch: int, error: BaseException
) -> Iterator[None]:
    """Imports run here stop with ``error`` at their ``batch``-th batch (of 100 rows)."""
    real, calls = imports._batch, {"n": 0}

    async def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == batch:
            raise error
        return await real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(imports, "_batch", failing)
        yield


@pytest.mark.parametrize("all_or_nothing", [False, True], ids=["batches", "all-or-nothing"])
async def test_a_run_that_dies_goes_on_from_its_rows_when_taken_up(
    programme: Programme, monkeypatch: pytest.MonkeyPatch, all_or_nothing: bool
) -> None:
    """In-process, as a killed worker leaves it: RUNNING, the rows of its committed batches
    recorded. The next start hands it to a new job, which goes on from them (all or
    nothing: starts again, as nothing was committed)."""
    p = programme
    monkeypatch.setattr(imports, "BATCH", 100)
    imported = await _cli_import(p.api, people_file(450, "dies"), all_or_nothing=all_or_nothing)
    rt = p.api.app.state.runtime
    with stopping_at(monkeypatch, 3, Killed()), pytest.raises(Killed):
        await imports.execute(rt, imported)
    left = await record_of(p.api, imported)
    assert left.status == "running"
    committed = 0 if all_or_nothing else 200
    assert await people(p.api, "dies") == (committed, committed)
    assert await recorded_rows(p.api, imported) == (committed, committed)
    if not all_or_nothing:
        assert (left.processed, left.created) == (200, 200)
    assert await imports.resume_stopped(rt) == 1
    assert await imports.resume_stopped(rt) == 0  # handed over once
    await p.api.run_jobs()
    done = await record_of(p.api, imported)
    assert (done.status, done.processed, done.created, done.error) == ("completed", 450, 450, None)
    assert await people(p.api, "dies") == (450, 450)
    assert await recorded_rows(p.api, imported) == (450, 450)
    assert done.runner is None


async def test_a_run_that_fails_keeps_its_rows_to_go_on_or_roll_back(
    programme: Programme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error: FAILED with a plain reason and the counts of what was
    committed; `importRun` goes on from there, `importRollback` undoes it."""
    p = programme
    monkeypatch.setattr(imports, "BATCH", 100)
    rt = p.api.app.state.runtime
    outcomes = {}
    for then in ("run", "undo"):
        imported = _gid(await _cli_import(p.api, people_file(250, then)))
        failing = stopping_at(monkeypatch, 2, RuntimeError("a secret detail"))
        with failing, pytest.raises(RuntimeError):
            await imports.execute(rt, pk(imported))
        failed = await status(p, imported)
        assert (failed["status"], failed["total"], failed["created"]) == ("FAILED", 100, 100)
        assert "RuntimeError" in failed["error"] and "100 rows" in failed["error"]
        assert "secret" not in failed["error"] and "Traceback" not in failed["error"]
        assert len(failed["rows"]) == 100 and await people(p.api, then) == (100, 100)
        preview = await call(p, "admin", RUN, {"n": imported, "d": True}, "importRun")
        assert codes(preview) == ["INVALID"]  # it would lose the record of what was written
        if then == "run":
            await ok(p, "admin", RUN, {"n": imported}, "importRun")
        else:
            spreadsheet = (await record_of(p.api, pk(imported))).file_id
            assert spreadsheet is not None
            await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
        outcomes[then] = await status(p, imported)
    went_on, undone = outcomes["run"], outcomes["undo"]
    assert (went_on["status"], went_on["total"], went_on["created"]) == ("COMPLETED", 250, 250)
    assert await people(p.api, "run") == (250, 250)
    assert undone["status"] == "ROLLED_BACK"
    assert await people(p.api, "undo") == (0, 0)
    async with rt.database.connect() as conn:  # never to run again: its spreadsheet goes
        kept = await conn.execute(select(StoredFile.id).where(StoredFile.id == spreadsheet))
        assert kept.first() is None


def _gid(import_id: int) -> str:
    from strawberry.relay import to_base64

    return to_base64("Import", import_id)


async def test_a_run_or_rollback_silent_on_another_machine_is_taken_up_after_a_while(
    programme: Programme,
) -> None:
    """Where the process cannot be asked (another machine), the heartbeat decides:
    IMPORT_STALE without a batch. A rollback is taken up the same way."""
    p = programme
    rt = p.api.app.state.runtime
    imported = await previewed(p, people_file(30, "far"))
    await ok(p, "admin", RUN, {"n": imported}, "importRun")
    assert (await status(p, imported))["status"] == "COMPLETED"
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Import).where(Import.id == pk(imported)).values(
                status="rolling_back", runner="elsewhere.example.org:4242:99",
                heartbeat_at=now - imports.IMPORT_STALE + timedelta(seconds=30),
            )
        )  # fmt: skip
    assert await imports.resume_stopped(rt) == 0  # still within its time
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Import).where(Import.id == pk(imported))
            .values(heartbeat_at=now - imports.IMPORT_STALE - timedelta(seconds=1))
        )  # fmt: skip
    assert await imports.resume_stopped(rt) == 1
    assert (await status(p, imported))["status"] == "ROLLED_BACK"
    assert await people(p.api, "far") == (0, 0)


@pytest.fixture
async def held(api: Api) -> AsyncIterator[Api]:
    """An API whose jobs wait in line: on Redis until `api.run_jobs()`; in-process, an app
    whose queue has stopped (its jobs stay rows, queued by the next start)."""
    if api.settings.redis_url:
        yield api
        return
    async for made in app_api(api):
        await made.app.state.dispatcher.queue.close()
        yield made


async def release(api: Api) -> None:
    if not api.settings.redis_url:
        await api.app.state.dispatcher.requeue_stale()
    await api.run_jobs()


async def test_runs_and_rollbacks_of_one_file_at_once_get_a_clear_answer(
    programme: Programme, held: Api
) -> None:
    """The same file uploaded twice, run twice, run while its twin runs, rolled back while
    its twin runs: each a clear answer, and each person once."""
    p = programme
    content = people_file(20, "bad")
    earlier = await previewed(p, content)
    await ok(p, "admin", RUN, {"n": earlier}, "importRun")
    assert (await status(p, earlier))["status"] == "COMPLETED"
    twin, other = await previewed(p, content), await previewed(p, content)

    h = Programme(api=held, tokens=p.tokens, ids=p.ids)
    await ok(h, "admin", RUN, {"n": twin}, "importRun")  # its job waits
    again = await call(h, "admin", RUN, {"n": twin}, "importRun")
    assert codes(again) == ["ALREADY_RUNNING"] and again["alreadyRunning"]["id"] == twin
    assert twin in again["userErrors"][0]["message"]
    while_twin = await call(h, "admin", RUN, {"n": other}, "importRun")
    assert codes(while_twin) == ["ALREADY_RUNNING"]
    assert while_twin["alreadyRunning"] == {"id": twin, "status": "PREVIEWED"}
    undo = await call(h, "admin", ROLLBACK, {"n": earlier}, "importRollback")
    assert codes(undo) == ["ALREADY_RUNNING"] and undo["alreadyRunning"]["id"] == twin
    uploaded = await upload(h, "admin", content, dryRun=False)
    refused = uploaded["data"]["importUpload"]
    assert [e["code"] for e in refused["userErrors"]] == ["ALREADY_RUNNING"]
    assert refused["import"] is None
    preview = await call(h, "admin", RUN, {"n": other, "d": True}, "importRun")
    assert preview["userErrors"] == []  # a preview writes nothing: nobody's concern
    forced = await call(h, "admin", RUN, {"n": other, "f": True}, "importRun")
    assert codes(forced) == ["ALREADY_RUNNING"] and forced["alreadyRunning"]["id"] == other

    await release(p.api)
    assert (await status(p, twin))["status"] == "COMPLETED"
    assert (await status(p, other))["status"] == "PREVIEWED"
    await ok(p, "admin", RUN, {"n": other, "f": True}, "importRun")
    finished = [await status(p, i) for i in (earlier, twin, other)]
    assert [f["created"] for f in finished] == [20, 0, 0]
    assert [f["unchanged"] for f in finished] == [0, 20, 20]
    assert await people(p.api, "bad") == (20, 20)
    await ok(p, "admin", ROLLBACK, {"n": earlier}, "importRollback")
    assert (await status(p, earlier))["status"] == "ROLLED_BACK"
    refused_twice = await call(p, "admin", ROLLBACK, {"n": earlier}, "importRollback")
    assert codes(refused_twice) == ["NOT_ROLLBACKABLE"]


@on_postgresql
async def test_enrolments_and_assignments_made_meanwhile_count_as_unchanged(
    programme: Programme,
) -> None:
    """Two runs of one enrolment file, then of one mentor-assignment file, held at their
    first write until both have read (PostgreSQL's table lock), then let go together."""
    p = programme
    async for inprocess in app_api(p.api, redis_url=None):
        h = Programme(api=inprocess, tokens=p.tokens, ids=p.ids)
        for kind, table, content in [
            ("ENROLLMENTS", "enrollments",
             "email,mission\ns2@example.org,B1-B\ns3@example.org,B1-A\ns3@example.org,B1-B\n"),
            ("MENTOR_ASSIGNMENTS", "mentor_assignments",
             "email,mission,mentor\ns2@example.org,B1-B,m1@example.org\n"
             "s3@example.org,B1-A,m1@example.org\ns3@example.org,B1-B,m2@example.org\n"),
        ]:  # fmt: skip
            twins = [await previewed(h, content.encode(), kind=kind) for _ in range(2)]
            with _locked(p.api, f"LOCK TABLE {table} IN SHARE MODE") as lock:
                await ok(h, "admin", RUN, {"n": twins[0]}, "importRun")
                await ok(h, "admin", RUN, {"n": twins[1], "f": True}, "importRun")
                await _until(lambda: _waiting(lock, table) >= 2, "both runs at their first write")
            done = [await status(h, t) for t in twins]
            assert [d["status"] for d in done] == ["COMPLETED", "COMPLETED"]
            assert done[0]["created"] + done[1]["created"] == 3
            assert done[0]["unchanged"] + done[1]["unchanged"] == 3
        async with inprocess.app.state.runtime.database.connect() as conn:
            enrolled = await conn.execute(
                select(Enrollment.mission_id, Enrollment.student_id, func.count())
                .group_by(Enrollment.mission_id, Enrollment.student_id)
                .having(func.count() > 1)
            )  # fmt: skip
            assert enrolled.all() == []


@contextmanager
def _locked(api: Api, statement: str) -> Iterator[Connection]:
    """A transaction of the test's own holding a lock until the block ends."""
    engine = create_engine(sync_url(api.settings.database_url))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
            try:
                yield conn
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def _waiting(conn: Connection, table: str | None = None) -> int:
    """This database's other sessions waiting for a lock (on ``table``: one it holds)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database()"
        " AND a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()"
    )
    if table is not None:
        query += (
            " AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted"
            f" AND l.relation = '{table}'::regclass)"
        )
    conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")  # read afresh in a transaction
    return int(conn.exec_driver_sql(query).scalar_one())


async def _until(condition: Any, what: str, seconds: float = 120) -> None:
    """Wait for ``condition()`` (polled; the event loop runs in-process jobs meanwhile)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _worker(api: Api, log: Path) -> Any:
    """`alumnet worker --burst`, forked (tests/commands.py): it works until its queues are
    empty."""
    return commands.fork(["worker", "--burst"], env_for(api.settings), log)


_ended = commands.ended


@real_workers
async def test_two_workers_run_one_file_at_once(programme: Programme, tmp_path: Path) -> None:
    """The issue: a new 200-row alumni file uploaded twice, both previews succeed, both
    run at once by two `alumnet worker` processes (held at their first write until both
    are there): both COMPLETED, 200 created between them, each person once, and each
    rolls back."""
    p = programme
    first = await previewed(p, people_file(200))
    second = await previewed(p, people_file(200))
    await ok(p, "admin", RUN, {"n": first}, "importRun")
    refused = await call(p, "admin", RUN, {"n": second}, "importRun")
    assert codes(refused) == ["ALREADY_RUNNING"] and refused["alreadyRunning"]["id"] == first
    await ok(p, "admin", RUN, {"n": second, "f": True}, "importRun")
    with _locked(p.api, "LOCK TABLE users IN SHARE MODE") as lock:
        workers = [_worker(p.api, tmp_path / f"worker{i}.log") for i in (1, 2)]
        await _until(lambda: _waiting(lock, "users") >= 2, "both workers at their first write")
        running = [await record_of(p.api, pk(i)) for i in (first, second)]
        assert [r.status for r in running] == ["running", "running"]
        assert running[0].runner != running[1].runner
    for i, worker in enumerate(workers, 1):
        _ended(worker, tmp_path / f"worker{i}.log")
    one, two = await status(p, first), await status(p, second)
    assert (one["status"], two["status"]) == ("COMPLETED", "COMPLETED")
    assert one["created"] + two["created"] == 200
    assert one["unchanged"] + two["unchanged"] == 200
    assert await people(p.api, "twin") == (200, 200)
    for imported in (first, second):
        await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
        assert (await status(p, imported))["status"] == "ROLLED_BACK"
    assert await people(p.api, "twin") == (0, 0)


@real_workers
async def test_a_worker_killed_mid_import_leaves_it_to_the_next_one(
    programme: Programme, tmp_path: Path
) -> None:
    """A 10,000-row import whose worker (and the work horse running it) is killed with
    SIGKILL after 5,000 rows: the next worker to start goes on from the recorded rows to
    COMPLETED, nobody doubled or lost."""
    p = programme
    await p.api.create_user("p5500@example.org", ["ALUMNUS"], name="Old Name")
    content = "email,name\n" + "".join(f"p{i}@example.org,Person {i}\n" for i in range(10_000))
    made = await upload(p, "admin", content.encode(), dryRun=False)
    imported = pk(made["data"]["importUpload"]["import"]["id"])
    first_job = (await record_of(p.api, imported)).job_id
    # The sixth batch waits for this row: the worker is killed while it waits.
    with _locked(p.api, "SELECT id FROM users WHERE email_lower = 'p5500@example.org' FOR UPDATE") \
            as lock:  # fmt: skip
        worker = _worker(p.api, tmp_path / "killed.log")

        async def at_sixth_batch() -> bool:
            return (await record_of(p.api, imported)).processed == 5000 and _waiting(lock) > 0

        deadline = time.monotonic() + 120
        while not await at_sixth_batch():
            assert time.monotonic() < deadline, (tmp_path / "killed.log").read_text()
            await asyncio.sleep(0.05)
        runner = (await record_of(p.api, imported)).runner
        horse = int(runner.rsplit(":", 2)[1])
        assert horse != worker.pid  # RQ's work horse runs it
        os.kill(horse, signal.SIGKILL)
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
    left = await record_of(p.api, imported)
    assert (left.status, left.processed, left.created) == ("running", 5000, 5000)
    _ended(_worker(p.api, tmp_path / "next.log"), tmp_path / "next.log")
    done = await record_of(p.api, imported)
    assert (done.status, done.processed, done.created, done.updated) == (
        "completed", 10_000, 9999, 1,
    )  # fmt: skip
    assert await people(p.api, "p") == (10_000, 10_000)
    assert await recorded_rows(p.api, imported) == (10_000, 10_000)
    async with p.api.app.state.runtime.database.connect() as conn:
        given_up = (await conn.execute(select(Job.status).where(Job.id == first_job))).scalar()
    assert given_up == "failed"


async def _aged(api: Api, import_id: int, by: timedelta) -> None:
    """An import's last sign of life, ``by`` ago (its job has waited that long)."""
    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Import).where(Import.id == import_id)
            .values(heartbeat_at=datetime.now(UTC) - by)
        )  # fmt: skip


async def test_a_rollback_waiting_in_line_is_at_work_however_long_it_waits(
    programme: Programme, held: Api
) -> None:
    """A rollback whose job waits in a busy queue past IMPORT_STALE is still at work: its
    twin is not run meanwhile (it would write the people the rollback then takes away)."""
    p = programme
    content = people_file(20, "rbq")
    earlier = await previewed(p, content)
    await ok(p, "admin", RUN, {"n": earlier}, "importRun")
    twin = await previewed(p, content)
    h = Programme(api=held, tokens=p.tokens, ids=p.ids)
    await ok(h, "admin", ROLLBACK, {"n": earlier}, "importRollback")  # its job waits
    await _aged(p.api, pk(earlier), imports.IMPORT_STALE + timedelta(minutes=1))
    late = await call(h, "admin", RUN, {"n": twin}, "importRun")
    assert codes(late) == ["ALREADY_RUNNING"] and late["alreadyRunning"]["id"] == earlier
    assert await imports.resume_stopped(held.app.state.runtime) == 0  # waiting, not stopped
    await release(p.api)
    assert (await status(p, earlier))["status"] == "ROLLED_BACK"
    assert await people(p.api, "rbq") == (0, 0)
    await ok(p, "admin", RUN, {"n": twin}, "importRun")
    assert (await status(p, twin))["status"] == "COMPLETED"
    assert await people(p.api, "rbq") == (20, 20)


async def test_the_sweep_leaves_a_handed_over_job_that_waits_in_line(
    programme: Programme, held: Api
) -> None:
    """A run handed to a new job, that job waiting in a busy queue: later sweeps leave it
    (it is not given up and replaced again and again); it runs when its turn comes."""
    p = programme
    imported = await _cli_import(p.api, people_file(30, "swp"))
    rt = p.api.app.state.runtime
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Import).where(Import.id == imported).values(
                status="running", runner=None, rows_of_run=True,
                heartbeat_at=datetime.now(UTC) - imports.IMPORT_STALE - timedelta(minutes=1),
            )
        )  # fmt: skip
    swept = held.app.state.runtime
    assert await imports.resume_stopped(swept) == 1
    handed = (await record_of(p.api, imported)).job_id
    await _aged(p.api, imported, imports.IMPORT_STALE + timedelta(minutes=1))
    assert await imports.resume_stopped(swept) == 0
    assert (await record_of(p.api, imported)).job_id == handed
    # A worker has just taken the job up and not yet claimed the import: not stopped either.
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Job).where(Job.id == handed)
            .values(status="running", started_at=datetime.now(UTC))
        )  # fmt: skip
    assert await imports.resume_stopped(swept) == 0
    async with rt.transaction() as uow:
        await uow.session.execute(update(Job).where(Job.id == handed).values(status="pending"))
    assert (await record_of(p.api, imported)).job_id == handed
    await release(p.api)
    done = await record_of(p.api, imported)
    assert (done.status, done.job_id, done.created) == ("completed", handed, 30)
    async with rt.database.connect() as conn:
        job = (await conn.execute(select(Job.status).where(Job.id == handed))).scalar()
    assert job == "succeeded"


async def test_a_run_that_fails_before_any_row_did_not_stop_part_way(
    programme: Programme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing written: FAILED saying so, a preview allowed, nothing to roll back."""
    p = programme
    made = await upload(p, "admin", b"nothing,here\n1,2\n", dryRun=False)
    unmapped = made["data"]["importUpload"]["import"]["id"]
    rt = p.api.app.state.runtime
    broken = _gid(await _cli_import(p.api, people_file(5, "early")))
    with stopping_at(monkeypatch, 1, RuntimeError("a secret detail")), pytest.raises(RuntimeError):
        await imports.execute(rt, pk(broken))
    failed = await status(p, broken)
    assert failed["status"] == "FAILED" and failed["total"] == 0
    assert "before any row was written" in failed["error"] and "secret" not in failed["error"]
    assert (await status(p, unmapped))["status"] == "FAILED"
    for imported in (unmapped, broken):
        undo = await call(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
        assert codes(undo) == ["NOT_ROLLBACKABLE"]
        preview = await call(p, "admin", RUN, {"n": imported, "d": True}, "importRun")
        assert preview["userErrors"] == []
    assert (await status(p, broken))["status"] == "PREVIEWED"


async def test_a_student_number_taken_meanwhile_refuses_the_row_and_makes_no_user(
    programme: Programme,
) -> None:
    """A batch read a new person's student number as free; another import gave it away
    before the batch wrote: the row is refused (TAKEN), the user not made."""
    p = programme
    rt = p.api.app.state.runtime
    async with rt.transaction(origin=Origin(via="cli")) as uow:
        record = await imports.create(
            uow, Viewer(via="cli"), kind="students", filename="late.csv",
            read=_reader(b"email,name\nx@example.org,X\n"), mapping=None,
            all_or_nothing=False, dry_run=False, limit=10**6,
        )  # fmt: skip
    mapping = {0: "email", 1: "name", 2: "student_number"}
    batch = [
        imports.candidate(2, ["later@example.org", "Later", "SN-777"], mapping, 3),
        imports.candidate(3, ["other@example.org", "Other", "SN-778"], mapping, 3),
    ]
    state = imports._State()
    async with rt.transaction() as uow:
        plan = await imports._plan_people(uow, record.id, "students", batch, state)
    first = b"email,name,student number\nfirst@example.org,First,SN-777\n"
    made = await upload(p, "admin", first, dryRun=False, kind="STUDENTS")
    assert (await status(p, made["data"]["importUpload"]["import"]["id"]))["created"] == 1
    async with rt.transaction() as uow:
        await imports._apply_people(uow, record.id, "students", plan, None)
    rows = {r["row_number"]: r for r in plan.rows}
    assert rows[2]["action"] == "reject" and rows[2]["target_id"] is None
    assert [x["code"] for x in rows[2]["problems"]] == ["TAKEN"]
    assert rows[3]["action"] == "create" and rows[3]["target_id"] is not None
    async with rt.database.connect() as conn:
        found = (await conn.execute(
            select(User.email_lower).where(User.email_lower.in_(
                ["later@example.org", "other@example.org", "first@example.org"]))
        )).scalars().all()  # fmt: skip
    assert sorted(found) == ["first@example.org", "other@example.org"]


@on_postgresql
async def test_membership_files_naming_people_in_other_orders_do_not_deadlock(
    programme: Programme,
) -> None:
    """Two enrolment files naming the same students in opposite orders, run at once (held
    at their first write until both are there): both complete, each enrolment once."""
    p = programme
    students = [f"order{i}@example.org" for i in range(60)]
    for s in students:
        await p.api.create_user(s, ["STUDENT"], name=s)
    forward = "email,mission\n" + "".join(f"{s},B1-A\n" for s in students)
    backward = "email,mission\n" + "".join(f"{s},B1-A\n" for s in reversed(students))
    async for inprocess in app_api(p.api, redis_url=None):
        h = Programme(api=inprocess, tokens=p.tokens, ids=p.ids)
        runs = [await previewed(h, f.encode(), kind="ENROLLMENTS") for f in (forward, backward)]
        with _locked(p.api, "LOCK TABLE enrollments IN SHARE MODE") as lock:
            await ok(h, "admin", RUN, {"n": runs[0]}, "importRun")
            await ok(h, "admin", RUN, {"n": runs[1]}, "importRun")
            await _until(lambda: _waiting(lock, "enrollments") >= 2, "both at their first write")
        done = [await status(h, r) for r in runs]
        assert [d["status"] for d in done] == ["COMPLETED", "COMPLETED"], done
        assert done[0]["created"] + done[1]["created"] == 60
        assert done[0]["unchanged"] + done[1]["unchanged"] == 60


async def test_a_job_given_up_stays_failed_when_its_late_handler_ends(api: Api) -> None:
    """The sweep gave a slow worker's job up (its import handed to a new job); the late
    handler's end does not mark it succeeded."""
    from alumnet.domain.ops import jobs as job_rules

    rt = api.app.state.runtime
    async with rt.transaction() as uow:  # a row only: no queue runs it
        job = Job(name="test.slow", args={}, max_attempts=1)
        uow.session.add(job)
        await uow.session.flush()

    async def slow(runtime: Any, running: Job) -> dict[str, Any]:
        async with runtime.transaction() as uow:
            await job_rules.give_up(uow.session, running.id, "Import 1: handed to a new job.")
        return {"skipped": "superseded"}

    assert await job_rules.execute(rt, job.id, {"test.slow": slow}) == "succeeded"
    async with rt.database.connect() as conn:
        row = (await conn.execute(select(Job.status, Job.last_error).where(Job.id == job.id))).one()
    assert tuple(row) == ("failed", "Import 1: handed to a new job.")


def test_the_machine_of_a_runner_tells_hosts_with_one_name_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two hosts of one name whose pid namespaces have one inode differ by their boot."""
    import builtins

    real = builtins.open
    seen = []
    for boot in ("boot-a", "boot-b"):

        def fake(path: Any, *args: Any, boot: str = boot, **kwargs: Any) -> Any:
            if path == "/proc/sys/kernel/random/boot_id":
                import io

                return io.StringIO(boot + "\n")
            return real(path, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake)
        seen.append(processes._machine())
    monkeypatch.setattr(builtins, "open", real)
    assert seen[0] != seen[1]
    assert len(imports._this_process()) <= 128 and ":" not in processes.MACHINE
