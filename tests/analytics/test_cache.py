"""Heavy aggregates cached, and never served after a committed change to what they read:
through mutations, Core bulk statements, raw connections, COPY and jobs; not after a
rollback or a change elsewhere; shared through Redis between processes; off with the
setting at 0; computed as if uncached while Redis is unreachable."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from datetime import UTC, date, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects import postgresql

from alumnet.config import ConfigurationError, load_settings
from alumnet.domain.analytics.cache import MAX_VALUE_BYTES, UndeclaredDependency, cached
from alumnet.domain.analytics.common import DateRange
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.aggregates import RedisAggregateStore
from alumnet.persistence.db import copy_rows, write_patiently
from alumnet.persistence.models import Base, Company, Skill
from alumnet.persistence.written import _telling, _written_by_compiled, written_by
from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)
from tests.conftest import Api, app_api
from tests.test_cli import alumnet

SUBMIT = """mutation($i: AttendanceSubmitInput!) { attendanceSubmit(input: $i) {
  attendance { id } userErrors { field code message } } }"""
RULES = """mutation($i: EngagementRulesUpdateInput!) { engagementRulesUpdate(input: $i) {
  recalculation { id } userErrors { field code message } } }"""
BATCH = """mutation($i: BatchCreateInput!) {
  batchCreate(input: $i) { batch { id } userErrors { field code message } } }"""


class Figure:
    """A figure read from the database (the rows of a table, or of a query), counting
    how often it was computed."""

    def __init__(self, rt: Runtime, table: str, where: str = "") -> None:
        self.rt = rt
        self.table = table
        self.where = where
        self.computed = 0

    async def rows(self) -> int:
        query = select(func.count()).select_from(Base.metadata.tables[self.table])
        if self.where:
            query = query.where(text(self.where))
        async with self.rt.database.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def __call__(self) -> dict[str, Any]:
        self.computed += 1
        return {"rows": await self.rows()}

    async def read(self, rt: Runtime | None = None, key: tuple[Any, ...] = (1,)) -> Any:
        return await cached(rt or self.rt, "test.figure", key, [self.table], self)


def runtime(api: Api) -> Runtime:
    return api.app.state.runtime  # type: ignore[no-any-return]


async def add_skill(rt: Runtime, name: str) -> None:
    async with rt.transaction() as uow:
        uow.session.add(Skill(name=name, name_key=name.lower()))


async def ok(api: Api, token: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await api.gql(query, variables, token=token)
    assert "errors" not in body, body
    assert body["data"][key]["userErrors"] == [], body
    return body["data"][key]


async def batch_create(api: Api, token: str, code: str) -> Any:
    batch = {
        "name": f"Batch {code}",
        "code": code,
        "startsOn": "2026-01-01",
        "endsOn": "2026-12-31",
    }
    return await ok(api, token, BATCH, {"i": batch}, "batchCreate")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_value_is_computed_once_then_served_as_json(api: Api) -> None:
    rt = runtime(api)
    made = 0

    async def compute() -> Any:
        nonlocal made
        made += 1
        return {"day": date(2026, 3, 2), "pair": (1, 2), "rate": 0.5}

    first = await cached(rt, "test.json", ("x",), ["skills"], compute)
    again = await cached(rt, "test.json", ("x",), ["skills"], compute)
    assert made == 1
    # Decoded JSON both times, so a caller never depends on whether it was a hit.
    assert first == again == {"day": "2026-03-02", "pair": [1, 2], "rate": 0.5}
    await cached(rt, "test.json", ("y",), ["skills"], compute)
    await cached(rt, "test.other", ("x",), ["skills"], compute)
    assert made == 3


async def test_attendance_recorded_through_the_api_is_counted_at_once(
    programme: Programme,  # noqa: F811
) -> None:
    p = programme
    figure = Figure(runtime(p.api), "attendance_days")
    assert await figure.read() == {"rows": 0}
    assert await figure.read() == {"rows": 0}
    assert figure.computed == 1
    await ok(p.api, p.tokens["s1"], SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    # The mutation's response came after its change was announced: the next read sees it.
    assert await figure.read() == {"rows": 1}
    assert await figure.read() == {"rows": 1}
    assert figure.computed == 2
    # Submitting again changes nothing (ON CONFLICT DO NOTHING writes no row, but the
    # statement ran: the figure is computed again, never served stale).
    await ok(p.api, p.tokens["s1"], SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert await figure.read() == {"rows": 1}


async def test_a_rolled_back_transaction_moves_nothing(api: Api) -> None:
    rt = runtime(api)
    figure = Figure(rt, "skills")
    assert await figure.read() == {"rows": 0}
    with pytest.raises(RuntimeError):
        async with rt.transaction() as uow:
            uow.session.add(Skill(name="Python", name_key="python"))
            await uow.session.flush()
            raise RuntimeError("changed my mind")
    assert await figure.read() == {"rows": 0}
    assert figure.computed == 1
    await add_skill(rt, "Python")
    assert await figure.read() == {"rows": 1}
    assert figure.computed == 2


async def test_a_change_to_another_table_keeps_the_value(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    figure = Figure(runtime(api), "attendance_days")
    await figure.read()
    await batch_create(api, admin, "B1")  # batches and the audit log, nothing else
    await add_skill(runtime(api), "SQL")
    await figure.read()
    assert figure.computed == 1


async def test_core_statements_raw_connections_and_copy_move_generations(api: Api) -> None:
    rt = runtime(api)
    figure = Figure(rt, "skills")
    await figure.read()
    # A Core bulk INSERT through the unit of work's session.
    async with rt.transaction() as uow:
        await uow.session.execute(
            insert(Skill), [{"name": f"S{i}", "name_key": f"s{i}"} for i in range(3)]
        )
    assert await figure.read() == {"rows": 3}
    # A raw connection of the database, committed by hand (as jobs record their outcome).
    await write_patiently(rt.database, update(Skill).where(Skill.name == "S0").values(name="Z"))
    assert await figure.read() == {"rows": 3}
    assert figure.computed == 3
    # PostgreSQL's COPY goes around the engine's events (an executemany elsewhere).
    async with rt.transaction() as uow:
        await copy_rows(uow.session, Skill.__table__, [{"name": "C", "name_key": "c"}])
    assert await figure.read() == {"rows": 4}
    # A connection in autocommit mode (as a request's reads use): counted once it ran.
    async with rt.database.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("DELETE FROM skills WHERE name_key = 'c'"))
    assert await figure.read() == {"rows": 3}
    assert figure.computed == 5


async def test_a_delete_counts_for_the_rows_it_cascades_to(api: Api) -> None:
    # Deleting a mission deletes its enrolments and their attendance (ON DELETE CASCADE).
    assert {"missions", "enrollments", "attendance_days"} <= written_by(
        "DELETE FROM missions WHERE missions.id = ?"
    )
    assert written_by("SELECT id FROM missions WHERE id = ? FOR UPDATE") == frozenset()
    assert written_by(
        "INSERT INTO skills (name) VALUES (?) ON CONFLICT (name_key) DO UPDATE SET name = ?"
    ) == {"skills"}
    assert written_by(
        "WITH cur AS (SELECT id FROM events FOR UPDATE), moved AS (UPDATE events SET waiting"
        " = 1 FROM cur RETURNING events.id) INSERT INTO event_registrations (event_id)"
        " SELECT id FROM moved"
    ) == {"events", "event_registrations"}
    assert written_by('\n  update "users" set name = ?') == {"users"}
    # Comments before the first word do not hide a write.
    assert written_by("/* maintenance */ UPDATE users SET name = ?") == {"users"}
    assert written_by("-- why\n/* who */\n delete from skills") >= {"skills"}
    # Statement objects are read for their targets, a data-modifying CTE's included.
    moved = update(Skill).values(name="Z").returning(Skill.id).cte("moved")
    compiled = select(moved.c.id).compile(dialect=postgresql.dialect())
    assert _written_by_compiled(compiled) == {"skills"}
    assert _written_by_compiled(select(Skill.id).compile()) == frozenset()


async def test_a_text_write_behind_a_comment_moves_the_generation(api: Api) -> None:
    rt = runtime(api)
    await add_skill(rt, "Go")
    figure = Figure(rt, "skills", "name = 'Rust'")
    assert await figure.read() == {"rows": 0}
    async with rt.transaction() as uow:
        await uow.session.execute(text("/* rename */ UPDATE skills SET name = 'Rust'"))
    assert await figure.read() == {"rows": 1}


async def test_a_jobs_write_moves_the_generation(programme: Programme) -> None:  # noqa: F811
    p = programme
    await ok(p.api, p.tokens["s1"], SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    figure = Figure(runtime(p.api), "point_entries", "reason = 'recalculation'")
    assert await figure.read() == {"rows": 0}
    # The rules change writes the rules, the audit log and the job, not the ledger: the
    # recalculation job does, in the in-process queue or in `alumnet worker` (Redis).
    changed = await ok(
        p.api, p.tokens["manager"], RULES,
        {"i": {"missionId": p.ids["ma"], "attendancePoints": 3}}, "engagementRulesUpdate",
    )  # fmt: skip
    assert changed["recalculation"] is not None
    await p.api.run_jobs()
    assert await figure.rows() == 1
    assert await figure.read() == {"rows": 1}
    assert figure.computed == 2


async def test_processes_sharing_redis_see_each_others_changes(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("needs Redis (ALUMNET_TEST_REDIS_URL)")
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    figure = Figure(runtime(api), "batches")
    async for other in app_api(api):
        assert await figure.read() == {"rows": 0}
        # The other process finds what this one kept…
        assert await figure.read(runtime(other)) == {"rows": 0}
        assert figure.computed == 1
        # …and its change reaches this one.
        await batch_create(other, admin, "B1")
        assert await figure.read() == {"rows": 1}
        assert figure.computed == 2


async def test_the_setting_at_zero_turns_the_cache_off(api: Api) -> None:
    assert load_settings({}).analytics_cache_seconds == 300
    assert load_settings({"ALUMNET_ANALYTICS_CACHE_SECONDS": "0"}).analytics_cache_seconds == 0
    assert load_settings({"ALUMNET_ANALYTICS_CACHE_SECONDS": "30"}).analytics_cache_seconds == 30
    with pytest.raises(ConfigurationError):
        load_settings({"ALUMNET_ANALYTICS_CACHE_SECONDS": "soon"})
    async for off in app_api(api, analytics_cache_seconds=0.0):
        rt = runtime(off)
        assert rt.aggregates is None and rt.database.on_written is None
        figure = Figure(rt, "skills")
        await figure.read()
        await figure.read()
        assert figure.computed == 2


async def test_redis_unreachable_means_computing_as_without_a_cache(api: Api) -> None:
    rt = runtime(api)
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisAggregateStore(down, api.settings.queue_prefix, api.settings.secret_key)
    cut_off = dataclasses.replace(rt, aggregates=store)
    figure = Figure(cut_off, "skills")
    assert await figure.read() == {"rows": 0}
    await store.bump(frozenset({"skills"}))  # owed, never raised
    assert await figure.read() == {"rows": 0}
    assert figure.computed == 2
    await down.aclose()
    metrics = await api.metrics()
    assert 'alumnet_analytics_cache_lookups_total{name="test.figure",outcome="unavailable"}' in (
        metrics
    )


async def test_a_bump_owed_while_redis_was_away_is_made_once_it_is_back(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("needs Redis (ALUMNET_TEST_REDIS_URL)")
    figure = Figure(runtime(api), "skills")
    assert await figure.read() == {"rows": 0}  # kept in Redis
    async for other in app_api(api):
        # Another process, whose Redis is unreachable, commits a change: its bump is owed.
        away = RedisAggregateStore(
            Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"),
            api.settings.queue_prefix,
            api.settings.secret_key,
            pause_seconds=0.0,  # tries Redis every time (by default, 2 s after a failure)
        )
        other_rt = dataclasses.replace(runtime(other), aggregates=away)
        other_rt.database.on_written = away.bump
        await add_skill(other_rt, "Go")
        # It does not serve what it owes from the cache meanwhile.
        theirs = Figure(other_rt, "skills")
        assert await theirs.read() == {"rows": 1}
        assert await theirs.read() == {"rows": 1}
        assert theirs.computed == 2
        # Redis is back: its next lookup pays the debt first, for every process.
        reachable = Redis.from_url(api.settings.redis_url)
        away.redis = reachable
        assert await theirs.read() == {"rows": 1}
        assert await figure.read() == {"rows": 1}
        await reachable.aclose()


async def test_what_redis_holds_names_nobody_and_shows_no_figure(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("needs Redis (ALUMNET_TEST_REDIS_URL)")
    rt = runtime(api)

    async def names() -> Any:
        return {"mentees": [{"name": "Ada Lovelace", "email": "ada@example.org", "rate": 61.5}]}

    viewer = Viewer(user_id=7, email="grace@example.org", roles=frozenset({Role.MENTOR}))
    shown = await cached(rt, "test.mentees", (viewer, "Hopper"), ["enrollments"], names)
    assert shown == await names()
    client = Redis.from_url(api.settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(f"{api.settings.queue_prefix}:aggregate:*")]
        assert keys
        for key in keys:
            assert await client.ttl(key) > 0  # nothing is kept for ever
            stored = (await client.get(key)) or b""
            for secret in (b"Lovelace", b"example.org", b"Hopper", b"grace", b"61.5"):
                assert secret not in key and secret not in stored.split(b"\n", 1)[-1]
    finally:
        await client.aclose()


async def test_a_value_computed_before_a_concurrent_commit_is_not_kept_under_it(
    api: Api,
) -> None:
    rt = runtime(api)
    figure = Figure(rt, "skills")

    async def racing() -> Any:
        value = await figure()
        if figure.computed == 1:
            # Another request commits a new skill after this figure's data was read.
            await add_skill(rt, "Go")
        return value

    assert await cached(rt, "test.figure", (1,), ["skills"], racing) == {"rows": 0}
    assert await cached(rt, "test.figure", (1,), ["skills"], racing) == {"rows": 1}
    assert await cached(rt, "test.figure", (1,), ["skills"], racing) == {"rows": 1}
    assert figure.computed == 2


class Watched:
    """A store that says when a lookup has been answered."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.looked = asyncio.Event()

    async def lookup(self, key: bytes, tables: Any) -> Any:
        found = await self.store.lookup(key, tables)
        self.looked.set()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_the_same_value_asked_at_once_is_computed_once(api: Api) -> None:
    watched = Watched(runtime(api).aggregates)
    rt = dataclasses.replace(runtime(api), aggregates=watched)
    started = asyncio.Event()
    release = asyncio.Event()
    made = 0

    async def slow() -> Any:
        nonlocal made
        made += 1
        started.set()
        await release.wait()
        return {"made": made}

    first = asyncio.create_task(cached(rt, "test.slow", (1,), ["skills"], slow))
    await started.wait()
    watched.looked.clear()
    second = asyncio.create_task(cached(rt, "test.slow", (1,), ["skills"], slow))
    await watched.looked.wait()  # the second missed too, and waits for the first
    release.set()
    assert await first == await second == {"made": 1}
    assert made == 1


async def test_keys_are_typed_and_stable(api: Api) -> None:
    rt = runtime(api)
    figure = Figure(rt, "skills")
    period = DateRange(date(2026, 1, 1), date(2026, 1, 31))
    await figure.read(key=(period, frozenset({"a", "b", "c"}), Role.MENTOR, None))
    await figure.read(key=(period, frozenset({"c", "b", "a"}), Role.MENTOR, None))
    assert figure.computed == 1
    for other in [(period, frozenset({"a"}), Role.MENTOR, None), (1,), ("1",), (True,)]:
        await figure.read(key=other)
    assert figure.computed == 5
    with pytest.raises(TypeError, match="no stable form"):
        await figure.read(key=(object(),))
    with pytest.raises(ValueError, match="unknown tables: attendance"):
        await cached(rt, "test.typo", (), ["attendance"], figure)
    assert datetime.now(UTC)  # keys may hold datetimes too
    await figure.read(key=(datetime(2026, 1, 1, tzinfo=UTC),))


async def test_a_value_too_large_is_computed_every_time(api: Api) -> None:
    rt = runtime(api)
    made = 0

    async def large() -> Any:
        nonlocal made
        made += 1
        return "x" * (MAX_VALUE_BYTES + 1)

    await cached(rt, "test.large", (), ["skills"], large)
    await cached(rt, "test.large", (), ["skills"], large)
    assert made == 2


async def test_a_table_read_but_not_declared_is_an_error_in_tests(api: Api) -> None:
    rt = runtime(api)
    figure = Figure(rt, "skills")
    with pytest.raises(UndeclaredDependency, match="read skills, not in its depends_on"):
        await cached(rt, "test.undeclared", (), ["companies"], figure)

    # A value made of another cached value depends on what that one depends on (a hit
    # reads nothing, but a change there would make both out of date).
    async def outer() -> Any:
        return {"inner": await figure.read()}

    await figure.read()
    with pytest.raises(UndeclaredDependency, match="read skills"):
        await cached(rt, "test.outer", (), ["companies"], outer)
    assert await cached(rt, "test.outer", (), ["companies", "skills"], outer)


async def test_every_table_of_a_from_list_counts_as_read(api: Api) -> None:
    rt = runtime(api)

    async def both() -> Any:
        query = select(func.count()).where(Skill.__table__.c.id == Company.__table__.c.id)
        async with rt.database.connect() as conn:
            return (await conn.execute(query)).scalar_one()

    # `FROM skills, companies`: the second table is read too.
    with pytest.raises(UndeclaredDependency, match="read companies, not in its depends_on"):
        await cached(rt, "test.from_list", (), ["skills"], both)
    assert await cached(rt, "test.from_list", (), ["skills", "companies"], both) == 0


async def test_a_commit_cancelled_while_announcing_still_succeeds(api: Api) -> None:
    """A request's deadline or a worker's shutdown that cancels a task while its commit is
    being announced: the commit (done in the database) returns as a success, the tables stay
    owed or are moved on, and the cancellation comes at the task's next await."""
    rt = runtime(api)
    figure = Figure(rt, "skills")
    assert await figure.read() == {"rows": 0}
    store = rt.aggregates
    assert store is not None
    announcing = asyncio.Event()
    release = asyncio.Event()

    async def slowly(tables: frozenset[str]) -> None:
        announcing.set()
        await release.wait()
        await store.bump(tables)

    returned: list[bool] = []

    async def write() -> None:
        async with rt.database.engine.connect() as conn:
            await conn.execute(insert(Skill).values(name="Go", name_key="go"))
            await conn.commit()
            returned.append(not conn.invalidated)
            await asyncio.sleep(0)  # where the cancellation is delivered

    rt.database.on_written = slowly
    try:
        writing = asyncio.create_task(write())
        await announcing.wait()
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
        assert returned == [True]  # commit() returned, its connection intact
        release.set()
        await asyncio.gather(*_telling)  # the announcement went on meanwhile
        assert await figure.read() == {"rows": 1}
    finally:
        rt.database.on_written = store.bump


class Flaky(Redis):
    """A Redis whose next ``failures`` script calls fail as if it were unreachable."""

    failures = 0

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("unreachable")
        return await super().evalsha(*args, **kwargs)  # type: ignore[misc]


def away_store(api: Api, redis: Redis, **options: Any) -> RedisAggregateStore:
    return RedisAggregateStore(redis, api.settings.queue_prefix, api.settings.secret_key, **options)


async def test_a_processs_debt_is_paid_before_its_runtime_closes(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("needs Redis (ALUMNET_TEST_REDIS_URL)")
    figure = Figure(runtime(api), "skills")
    assert await figure.read() == {"rows": 0}  # kept in Redis
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    async for other in app_api(api):
        # Another process (a job's work-horse) commits while Redis is out of its reach.
        store = runtime(other).aggregates
        assert isinstance(store, RedisAggregateStore)
        reachable, store.redis = store.redis, down
        store.retry_seconds = 600.0  # its background task would pay only much later
        await add_skill(runtime(other), "Go")
        assert store._owed == {"skills"}
        store.redis = reachable
        # …and ends (close_runtime) before anything else of it reaches Redis.
    assert await figure.read() == {"rows": 1}
    await down.aclose()


async def test_a_debt_is_paid_in_the_background_once_redis_is_back(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("needs Redis (ALUMNET_TEST_REDIS_URL)")
    figure = Figure(runtime(api), "skills")
    assert await figure.read() == {"rows": 0}
    flaky = Flaky.from_url(api.settings.redis_url)
    flaky.failures = 2
    store = away_store(api, flaky, retry_seconds=0.01)
    await store.bump(frozenset({"skills"}))
    assert store._owed == {"skills"}  # the first try failed: owed
    # Another process: nothing changed here but the generation, so the figure is computed
    # again only once the debt is paid, without any lookup or commit of the one owing.
    assert store._retrying is not None
    await asyncio.wait_for(store._retrying, 10)
    assert store._owed == set()
    await figure.read()
    assert figure.computed == 2
    await store.close()
    await flaky.aclose()


async def test_a_workers_commit_waits_until_its_bump_is_made(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("needs Redis (ALUMNET_TEST_REDIS_URL)")
    flaky = Flaky.from_url(api.settings.redis_url)
    flaky.failures = 2
    patient = away_store(api, flaky, patient=True)
    await patient.bump(frozenset({"skills"}))
    assert patient._owed == set() and flaky.failures == 0
    flaky.failures = 1
    impatient = away_store(api, flaky, retry_seconds=600.0)
    await impatient.bump(frozenset({"skills"}))
    assert impatient._owed == {"skills"}
    await impatient.close()  # pays it
    assert impatient._owed == set()
    await flaky.aclose()


async def test_an_operator_can_clear_the_cache(api: Api) -> None:
    figure = Figure(runtime(api), "skills")
    await figure.read()
    cleared = await asyncio.to_thread(alumnet, api.settings, "cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    if not api.settings.redis_url:
        assert "restart it" in cleared.stdout
        return
    assert "forgotten" in cleared.stdout
    await figure.read()
    assert figure.computed == 2
    # `alumnet migrate` forgets them too (what a migration changes is seen by no engine).
    migrated = await asyncio.to_thread(alumnet, api.settings, "migrate", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    await figure.read()
    assert figure.computed == 3


async def test_tracking_writes_costs_no_statement(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    batch = {"name": "Batch", "startsOn": "2026-01-01", "endsOn": "2026-12-31"}
    tracked, _ = await api.sql_count(BATCH, {"i": {**batch, "code": "B1"}}, token=admin)
    async for off in app_api(api, analytics_cache_seconds=0.0):
        untracked, _ = await off.sql_count(BATCH, {"i": {**batch, "code": "B2"}}, token=admin)
    assert tracked == untracked
